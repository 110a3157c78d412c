"""The store against a real `chroma run` server, where a test needs nothing of the embedded store.

(The search, reindex and follower tests run on both; see the backend fixture in conftest.py.)
"""

import uuid

import chromadb
import pytest

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
