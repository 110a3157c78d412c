"""The store against a real `chroma run` server, where a test needs nothing of the embedded store.

(The search, reindex and follower tests run on both; see the backend fixture in conftest.py.)
"""

import json
import shutil
import uuid

import chromadb
import numpy as np
import pytest
from conftest import FakeEmbedder

from kb.embed import token_counter
from kb.reindex import reindex
from kb.store import Published, chroma
from kb.store import current as current_generation


@pytest.fixture
def server_index(chroma_server, monkeypatch, request):
    """The small index, written to a database of its own on the test server."""
    monkeypatch.setenv("KB_CHROMA_URL", f"{chroma_server}/kb-test-{uuid.uuid4().hex[:12]}")
    return request.getfixturevalue("index")


def test_looking_at_a_servers_pointer_every_second_reuses_one_client(server_index, monkeypatch):
    assert server_index.chroma_url.startswith("http")
    made = []
    real = chromadb.HttpClient
    monkeypatch.setattr(
        chromadb, "HttpClient", lambda *args, **kwargs: made.append(1) or real(*args, **kwargs)
    )
    generations = {
        current_generation(server_index.index_dir, server_index.chroma_url) for _ in range(5)
    }
    assert len(generations) == 1 and None not in generations
    assert len(made) <= 1  # one client for all five looks (none if the reindex already made it)


def _read(settings):
    """Every passage and vector of the served generation, and the passages nearest one vector."""
    store = Published.open(settings.index_dir, settings.chroma_url)
    try:
        chunks = {chunk.id: chunk for chunk in store.chunks()}
        vectors = {chunk_id: store.vector(chunk_id) for chunk_id in chunks}
        probe = next(iter(vectors.values()))
        return chunks, vectors, store.nearest(probe, 5), store.home
    finally:
        store.close()


def _same(first, second) -> None:
    assert first[0] == second[0]
    assert first[0].keys() == second[1].keys()
    assert all(np.array_equal(first[1][key], second[1][key]) for key in first[1])
    assert first[2] == second[2]


@pytest.mark.usefixtures("backend")
def test_a_generation_is_read_from_its_store_once_and_from_what_it_kept_after(index, monkeypatch):
    first = _read(index)
    home = first[3]
    assert (home / "passages.json").is_file() and (home / "vectors.npz").is_file()

    def unread(*args, **kwargs):
        raise AssertionError("the store's rows were read again")

    monkeypatch.setattr(chroma, "rows", unread)
    _same(first, _read(index))


def test_what_a_generation_kept_is_read_from_its_store_again_if_damaged_or_anothers(
    tmp_path, index
):
    first = _read(index)
    home = first[3]
    # Damaged: cut short, or not an array.
    rows = (home / "passages.json").read_bytes()
    (home / "passages.json").write_bytes(rows[: len(rows) // 2])
    vectors = (home / "vectors.npz").read_bytes()
    for damaged in (b"not an array", vectors[: len(vectors) // 2]):
        (home / "vectors.npz").write_bytes(damaged)
        _same(first, _read(index))
    assert json.loads((home / "passages.json").read_bytes()) == json.loads(rows)  # kept again
    # Another generation's: the next reindex's generation given this one's files.
    (index.corpus_dir / "added.md").write_text("# Added\n\nA note on private fostering.\n")
    reindex(index, FakeEmbedder, token_counter())
    for name in ("passages.json", "vectors.npz"):
        shutil.copy(home / name, tmp_path / name)
    after = _read(index)
    assert after[3] != home
    for name in ("passages.json", "vectors.npz"):
        shutil.copy(tmp_path / name, after[3] / name)
        again = _read(index)
        _same(after, again)
        assert any(chunk.document == "added.md" for chunk in again[0].values())


def test_a_generation_whose_folder_keeps_nothing_is_read_from_its_store(index):
    first = _read(index)
    home = first[3]
    for name in ("passages.json", "vectors.npz"):
        (home / name).unlink()
        (home / name).mkdir()  # neither readable nor replaceable as a file, even by root
    _same(first, _read(index))
    assert sorted(path.name for path in home.iterdir() if path.name.startswith(".")) == []


def test_every_row_is_read_once_whatever_the_page(index):
    store = Published.open(index.index_dir, index.chroma_url)
    try:
        paged = {
            page: [
                chunk_id
                for got in chroma.rows(store.collection, [], page=page)
                for chunk_id in got["ids"]
            ]
            for page in (7, store.count(), chroma.READ_PAGE)
        }
    finally:
        store.close()
    assert len(paged[chroma.READ_PAGE]) == store.count() > 7
    assert all(sorted(ids) == sorted(paged[chroma.READ_PAGE]) for ids in paged.values())
    assert len(set(paged[7])) == len(paged[7])
