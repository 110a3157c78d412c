"""The server's move onto a new index generation, driven by hand (tests/test_live.py runs the real thing)."""

import time

import pytest

from conftest import FakeEmbedder
from kb.reindex import reindex
from kb.search import Searcher
from kb.store import Store, current_generation
from web import create_app
from web.follow import IndexFollower

# Each test runs on the embedded store and again on a real `chroma run` server.
pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def app(index):
    return create_app(index, Searcher(Store(index.index_dir, index.chroma_url), FakeEmbedder()))


def follower(app, settings, opened: list):
    def open_generation(generation):
        opened.append(generation)
        return Searcher(Store(settings.index_dir, settings.chroma_url, generation), FakeEmbedder())

    return IndexFollower(app, lambda: current_generation(settings.index_dir, settings.chroma_url), open_generation)


def test_after_a_reindex_the_app_answers_from_the_new_generation(app, index, corpus_dir, count_tokens):
    opened = []
    follow = follower(app, index, opened)
    assert follow.check() is False and opened == []  # nothing new yet
    (corpus_dir / "notes.md").write_text("# Notes\n\nFamily hubs run a weekly drop-in.\n", encoding="utf-8")
    reindex(index, FakeEmbedder, count_tokens)
    new = current_generation(index.index_dir, index.chroma_url)
    assert follow.check() is True and opened == [new]
    assert app.extensions["kb"].store.generation == new
    answer = app.test_client().get("/api/search?q=family+hubs+drop-in&k=3").json
    assert "weekly drop-in" in answer["results"][0]["text"]
    assert app.test_client().get("/healthz").json["generation"] == new


def test_a_generation_that_will_not_open_leaves_the_old_one_serving(app, index, corpus_dir, count_tokens, caplog):
    serving = app.extensions["kb"].store.generation
    (corpus_dir / "notes.md").unlink()
    reindex(index, FakeEmbedder, count_tokens)
    attempts = []

    def broken(generation):
        attempts.append(generation)
        raise OSError("disk gone")

    follow = IndexFollower(app, lambda: current_generation(index.index_dir, index.chroma_url), broken)
    assert follow.check() is False and follow.check() is False
    assert len(attempts) == 1  # not retried every second
    assert app.extensions["kb"].store.generation == serving
    assert app.test_client().get("/api/search?q=escalation").status_code == 200
    assert "cannot open index generation" in caplog.text and "disk gone" in caplog.text


def test_the_follower_thread_moves_by_itself(app, index, corpus_dir, count_tokens):
    follow = IndexFollower(
        app, lambda: current_generation(index.index_dir, index.chroma_url),
        lambda generation: Searcher(Store(index.index_dir, index.chroma_url, generation), FakeEmbedder()), interval=0.05,
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

