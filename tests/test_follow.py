"""The server's move onto a new index generation, driven by hand (tests/test_live.py runs the real
thing)."""

import sqlite3
import time

import pytest
from conftest import FakeEmbedder, open_fake_searcher

from kb.reindex import reindex
from kb.search import Searcher, open_searcher
from kb.store import current as current_generation
from kb.store import forget_older
from web import create_app
from web.follow import GRACE, RETRY_AFTER, IndexFollower

# Each test runs on the embedded store and again on a real `chroma run` server.
pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def app(index):
    return create_app(index, open_fake_searcher(index))


def follower(app, settings, opened: list):
    def open_generation(generation):
        opened.append(generation)
        return open_searcher(settings, FakeEmbedder(), generation)

    return IndexFollower(
        app, lambda: current_generation(settings.index_dir, settings.chroma_url), open_generation
    )


def test_after_a_reindex_the_app_answers_from_the_new_generation(
    app, index, corpus_dir, count_tokens
):
    opened = []
    follow = follower(app, index, opened)
    assert follow.check() is False and opened == []  # nothing new yet
    (corpus_dir / "notes.md").write_text(
        "# Notes\n\nFamily hubs run a weekly drop-in.\n", encoding="utf-8"
    )
    reindex(index, FakeEmbedder, count_tokens)
    new = current_generation(index.index_dir, index.chroma_url)
    assert follow.check() is True and opened == [new]
    assert app.extensions["kb"].store.generation == new
    answer = app.test_client().get("/api/search?q=family+hubs+drop-in&k=3").json
    assert "weekly drop-in" in answer["results"][0]["text"]
    assert app.test_client().get("/healthz").json["generation"] == new


def test_a_generation_that_will_not_open_leaves_the_old_one_serving(
    app, index, corpus_dir, count_tokens, caplog
):
    serving = app.extensions["kb"].store.generation
    (corpus_dir / "notes.md").unlink()
    reindex(index, FakeEmbedder, count_tokens)
    attempts = []

    def broken(generation):
        attempts.append(generation)
        raise OSError("disk gone")

    follow = IndexFollower(
        app, lambda: current_generation(index.index_dir, index.chroma_url), broken
    )
    assert follow.check() is False and follow.check() is False
    assert len(attempts) == 1  # not retried every second
    assert app.extensions["kb"].store.generation == serving
    assert app.test_client().get("/api/search?q=escalation").status_code == 200
    assert "cannot open index generation" in caplog.text and "disk gone" in caplog.text


def test_the_follower_thread_moves_by_itself(app, index, corpus_dir, count_tokens):
    follow = IndexFollower(
        app,
        lambda: current_generation(index.index_dir, index.chroma_url),
        lambda generation: open_searcher(index, FakeEmbedder(), generation),
        interval=0.05,
    ).start()
    try:
        (corpus_dir / "notes.md").unlink()
        reindex(index, FakeEmbedder, count_tokens)
        new = current_generation(index.index_dir, index.chroma_url)
        deadline = time.monotonic() + 10
        while app.extensions["kb"].store.generation != new and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.extensions["kb"].store.generation == new
    finally:
        follow.stop()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_generation_that_would_not_open_is_tried_again_later(
    app, index, corpus_dir, count_tokens
):
    (corpus_dir / "notes.md").unlink()
    reindex(index, FakeEmbedder, count_tokens)
    wanted = current_generation(index.index_dir, index.chroma_url)
    attempts, clock = [], Clock()

    def flaky(generation):  # the first attempt fails (a disk briefly gone), the next opens
        attempts.append(generation)
        if len(attempts) == 1:
            raise OSError("disk gone")
        return open_searcher(index, FakeEmbedder(), generation)

    follow = IndexFollower(
        app, lambda: current_generation(index.index_dir, index.chroma_url), flaky, clock=clock
    )
    assert follow.check() is False
    clock.now += RETRY_AFTER - 1
    assert follow.check() is False and len(attempts) == 1
    clock.now += 1
    assert follow.check() is True and app.extensions["kb"].store.generation == wanted


def test_a_replaced_searcher_is_closed_after_a_grace_and_old_folders_are_forgotten(
    app, index, corpus_dir, count_tokens
):
    closed, switched, clock = [], [], Clock()

    class Closing(Searcher):
        def close(self):
            closed.append(self.store.generation)
            super().close()

    old = app.extensions["kb"]
    old.__class__ = Closing
    follow = IndexFollower(
        app,
        lambda: current_generation(index.index_dir, index.chroma_url),
        lambda generation: open_searcher(index, FakeEmbedder(), generation),
        after_switch=switched.append,
        clock=clock,
    )
    (corpus_dir / "notes.md").unlink()
    reindex(index, FakeEmbedder, count_tokens)
    assert follow.check() is True and switched == [
        current_generation(index.index_dir, index.chroma_url)
    ]
    clock.now += GRACE - 1
    follow.check()
    assert closed == []  # a request that started on it may still be reading it
    clock.now += 1
    follow.check()
    assert closed == [old.store.generation]
    with pytest.raises((RuntimeError, sqlite3.ProgrammingError)):
        old.search("escalation")  # its keyword index and worker threads are gone


def test_forget_older_deletes_only_folders_older_than_the_two_kept(tmp_path):
    folder = tmp_path / "generations"
    names = [
        "20260101T000000-1-aaaaaa",
        "20260102T000000-1-bbbbbb",
        "20260103T000000-1-cccccc",
        "20260104T000000-1-dddddd",
    ]  # the last: a reindex still writing, newer than the one served
    for name in names:
        (folder / name).mkdir(parents=True)
    (tmp_path / "PREVIOUS").write_text(names[1] + "\n")
    forget_older(tmp_path, "", names[2])
    assert sorted(path.name for path in folder.iterdir()) == names[1:]


def test_the_follower_thread_outlives_a_failure(app, index, corpus_dir, count_tokens, caplog):
    def failing(generation):
        raise RuntimeError("cleaning up failed")

    follow = IndexFollower(
        app,
        lambda: current_generation(index.index_dir, index.chroma_url),
        lambda generation: open_searcher(index, FakeEmbedder(), generation),
        interval=0.05,
        after_switch=failing,
    ).start()
    try:
        (corpus_dir / "notes.md").unlink()
        reindex(index, FakeEmbedder, count_tokens)
        deadline = time.monotonic() + 10
        while "the index follower failed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "the index follower failed" in caplog.text and follow._thread.is_alive()
    finally:
        follow.stop()


def test_healthz_asks_the_store_so_a_generation_gone_from_under_the_server_is_reported(
    app, index, corpus_dir, count_tokens
):
    serving = app.extensions["kb"].store.generation
    for text in (
        "Family hubs run a drop-in.",
        "Family hubs run two drop-ins.",
    ):  # two reindexes: it is pruned
        (corpus_dir / "notes.md").write_text(f"# Notes\n\n{text}\n", encoding="utf-8")
        reindex(index, FakeEmbedder, count_tokens)
    health = app.test_client().get("/healthz")
    if (
        index.chroma_url
    ):  # its collection is deleted on the server: searches would fail, and health says so
        assert health.status_code == 503 and health.json["status"] == "unavailable"
    else:  # on this machine its files stay readable while open, and it answers as before
        assert health.status_code == 200 and health.json["generation"] == serving
