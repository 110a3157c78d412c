"""Fixture chain: settings (in tmp_path) -> index (small corpus, a real PDF among it) -> searcher."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

from kb import embed
from kb.embed import token_counter
from kb.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
FOUNDING = CORPUS / "luton-lscp-yearly-report-2023-24-partners-snapshot.txt"
BRADFORD = CORPUS / "bradford__childrens_services_inspection_-_21_may_2026.pdf"
INFO_SHARING = CORPUS / "Info_sharing_advice_content_May_2024.pdf"


class FakeEmbedder:
    """Deterministic bag-of-words hashing: same words, near vectors; no model, no torch."""

    name = "fake-hash"
    dimension = 64
    loads = 0

    def __init__(self) -> None:
        type(self).loads += 1
        self.encoded = 0

    def encode(self, texts, batch_size: int = 32) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dimension
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out


@pytest.fixture(autouse=True)
def fake_model(monkeypatch):
    """The fake is a model kb can be told to use (KB_MODEL=fake-hash), as the real one is."""
    monkeypatch.setitem(embed.MODELS, FakeEmbedder.name, FakeEmbedder)
    FakeEmbedder.loads = 0
    for variable in ("KB_CORPUS_DIR", "KB_INDEX_DIR", "KB_CHROMA_URL", "KB_MODEL"):
        monkeypatch.delenv(variable, raising=False)
    return FakeEmbedder


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server: the one .ci/run started (KB_TEST_CHROMA_URL), else one of our own."""
    if url := os.environ.get("KB_TEST_CHROMA_URL"):
        yield url.rstrip("/")
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path_factory.mktemp("chroma") / "chroma.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("chroma")),
            "run",
            "--path",
            str(tmp_path_factory.mktemp("chroma-data")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"chroma run did not start: see {log.name}")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(params=["embedded", "chroma-server"])
def backend(request, monkeypatch):
    """Run a test twice: on the embedded store, and on a real `chroma run` server (a database of its own)."""
    if request.param == "chroma-server":
        server = request.getfixturevalue("chroma_server")
        monkeypatch.setenv("KB_CHROMA_URL", f"{server}/kb-test-{uuid.uuid4().hex[:12]}")
    return request.param


@pytest.fixture
def count_tokens():
    return token_counter()


NOTES = "# Practice notes\n\n## Escalation\n\nUse the escalation policy when agencies disagree.\n"


def small_corpus(root: Path) -> Path:
    """The founding report, one real PDF and a short Markdown note, in root/corpus."""
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(FOUNDING, corpus)
    shutil.copy(BRADFORD, corpus)
    (corpus / "notes.md").write_text(NOTES, encoding="utf-8")
    return corpus


def small_index(root: Path) -> Settings:
    """small_corpus indexed with the fake model, for a module's tests to share (one index costs 0.6 s)."""
    from kb.reindex import reindex

    settings = Settings(
        corpus_dir=small_corpus(root), index_dir=root / "index", model=FakeEmbedder.name
    )
    summary = reindex(settings, FakeEmbedder, token_counter())
    assert not summary.failed, summary.failed
    return settings


def small_app(settings: Settings):
    """The web app over an index, searched with the fake model."""
    from kb.search import Searcher
    from kb.store import Store
    from web import create_app

    return create_app(
        settings, Searcher(Store(settings.index_dir), FakeEmbedder(), settings.max_query_chars)
    )


def wait_for(check, what: str, timeout: float = 180):
    """Poll check() until it returns something true; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    return small_corpus(tmp_path)


@pytest.fixture
def settings(tmp_path, corpus_dir, monkeypatch) -> Settings:
    monkeypatch.setenv("KB_CORPUS_DIR", str(corpus_dir))
    monkeypatch.setenv("KB_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("KB_MODEL", FakeEmbedder.name)
    return Settings.from_env()


@pytest.fixture
def index(settings, count_tokens):
    from kb.reindex import reindex

    summary = reindex(settings, FakeEmbedder, count_tokens)
    assert not summary.failed, summary.failed
    return settings


@pytest.fixture
def searcher(index):
    from kb.search import Searcher
    from kb.store import Store

    return Searcher(
        Store(index.index_dir, index.chroma_url, exact_up_to=index.exact_search_up_to),
        FakeEmbedder(),
    )
