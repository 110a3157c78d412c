"""Reindex while serving, and a reindex killed with SIGKILL: a real `kb serve`, real `kb reindex`
processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import INFO_SHARING, ROOT, wait_for

pytestmark = pytest.mark.slow

KB = str(Path(sys.executable).with_name("kb"))
QUERY = "escalation policy version"
OLD = "The escalation policy in force is version one."
NEW = "The escalation policy in force is version two."
APPENDIX = "An appendix to the escalation policy, version two, lists who to call."


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, {}


def kb(root: Path, *args: str, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [KB, *args, "--index", str(root / "index")]
    if args[0] in ("reindex", "serve"):
        command += ["--corpus", str(root / "corpus")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    if popen:
        return subprocess.Popen(command, env=env, cwd=ROOT, **popen)
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture
def served(tmp_path):
    """A small corpus indexed with the real model, and `kb serve` answering from it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "policy.md").write_text(f"# Policy\n\n## Escalation\n\n{OLD}\n", encoding="utf-8")
    built = kb(tmp_path, "reindex")
    assert built.returncode == 0, built.stderr
    out, err = (tmp_path / "serve.out").open("w"), (tmp_path / "serve.err").open("w")
    process = kb(tmp_path, "serve", "--port", "0", stdout=out, stderr=err)

    def printed_url():
        if process.poll() is not None:
            pytest.fail(f"kb serve exited: {(tmp_path / 'serve.err').read_text()}")
        found = re.search(r"http://127\.0\.0\.1:\d+/", (tmp_path / "serve.out").read_text())
        return found and found.group(0)

    url = wait_for(printed_url, "kb serve to print its URL")
    wait_for(lambda: get(url + "healthz")[0] == 200, "/healthz")
    try:
        yield tmp_path, url
    finally:
        process.terminate()
        process.wait(timeout=30)
        out.close()
        err.close()


class Hammer(threading.Thread):
    """Searches without pause, recording each answer, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{url}api/search?q={quote(QUERY)}&k=10"
        self.answers: list[tuple[int, list[str]]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            status, body = get(self.url)
            self.answers.append((status, [hit["text"] for hit in body.get("results", [])]))

    def stop(self) -> list[tuple[int, list[str]]]:
        self.stopping.set()
        self.join(timeout=60)
        return self.answers


def generation_of(texts: list[str]) -> str:
    joined = " ".join(texts)
    old, new = OLD in joined, NEW in joined or APPENDIX in joined
    assert not (old and new), f"one answer mixed the old index and the new: {texts}"
    return "old" if old else "new" if new else "neither"


def test_kb_serve_answers_throughout_a_reindex_and_moves_to_the_new_index(served):
    root, url = served
    hammer = Hammer(url)
    hammer.start()
    wait_for(lambda: len(hammer.answers) >= 5, "answers from the old index")
    (root / "corpus" / "policy.md").write_text(
        f"# Policy\n\n## Escalation\n\n{NEW}\n", encoding="utf-8"
    )
    (root / "corpus" / "appendix.md").write_text(f"# Appendix\n\n{APPENDIX}\n", encoding="utf-8")
    done = kb(root, "reindex")
    assert done.returncode == 0, done.stderr
    wait_for(
        lambda: generation_of(hammer.answers[-1][1]) == "new",
        "the server to move to the new index",
        30,
    )
    answers = hammer.stop()

    assert {status for status, _ in answers} == {200}, "a request failed during the reindex"
    seen = [generation_of(texts) for _, texts in answers]
    assert "old" in seen and "new" in seen and "neither" not in seen
    first_new = seen.index("new")
    assert set(seen[first_new:]) == {"new"}, (
        "an answer from the old index came after one from the new"
    )
    last = answers[-1][1]
    assert NEW in " ".join(last) and APPENDIX in " ".join(last)


def test_a_reindex_killed_at_any_moment_leaves_the_served_index_whole(served):
    root, url = served
    before = get(f"{url}api/search?q={quote(QUERY)}")[1]["results"]
    shutil.copy(INFO_SHARING, root / "corpus")  # enough to embed that the kills land mid-way
    (root / "corpus" / "policy.md").write_text(
        f"# Policy\n\n## Escalation\n\n{NEW}\n", encoding="utf-8"
    )
    generations = root / "index" / "generations"
    served_generation = (root / "index" / "CURRENT").read_text().strip()

    def new_generation_written():
        return any(path.name != served_generation for path in generations.iterdir())

    # Kill points: while starting up, and while the new generation is being written.
    for moment in ("starting", "writing"):
        process = kb(root, "reindex", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if moment == "starting":
            time.sleep(0.5)
        else:
            wait_for(new_generation_written, "the reindex to start writing", 120)
            time.sleep(0.5)
        assert process.poll() is None, f"the reindex finished before the kill while {moment}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

        assert (root / "index" / "CURRENT").read_text().strip() == served_generation
        status, body = get(f"{url}api/search?q={quote(QUERY)}")
        assert status == 200 and body["results"] == before
        shown = kb(root, "search", QUERY, "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["results"] == before

    finished = kb(
        root, "reindex"
    )  # the next reindex completes and clears the killed ones' leftovers
    assert finished.returncode == 0, finished.stderr
    assert "1 added, 1 updated" in finished.stdout
    current = (root / "index" / "CURRENT").read_text().strip()
    assert sorted(path.name for path in generations.iterdir()) == sorted(
        [served_generation, current]
    )
    wait_for(
        lambda: (
            NEW
            in " ".join(
                hit["text"] for hit in get(f"{url}api/search?q={quote(QUERY)}")[1]["results"]
            )
        ),
        "the server to move to the new index",
        30,
    )


def test_a_second_reindex_while_one_runs_names_the_holder(served):
    root, _ = served
    shutil.copy(INFO_SHARING, root / "corpus")
    first = kb(root, "reindex", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(
            lambda: "pid" in (root / "index" / "reindex.lock").read_text(),
            "the first reindex to take the lock",
        )
        second = kb(root, "reindex")
        assert second.returncode != 0
        assert f"pid {first.pid}" in second.stderr
    finally:
        first.wait(timeout=600)
    assert first.returncode == 0
