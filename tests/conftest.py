"""Fixture chain, as flaskr's conftest: settings (in tmp_path) -> index -> searcher -> app ->
client.

The small corpus (the founding report, a real PDF and a Markdown note) is indexed once a session
with the fake model. A module that only reads shares a copy of it (`shared_index`, `searcher`,
`app`); a test that changes an index gets a copy of its own (`index`), or on a Chroma server an
index built for it.
"""

from __future__ import annotations

import dataclasses
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
    process, url = start_chroma(tmp_path_factory.mktemp("chroma-data"), port, log)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def start_chroma(data: Path, port: int, log=subprocess.DEVNULL):
    """`chroma run` over a folder on 127.0.0.1:port, once it answers: (process, url)."""
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("chroma")),
            "run",
            "--path",
            str(data),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).close()
            return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"chroma run did not start on port {port}")
            time.sleep(0.2)


@pytest.fixture(params=["embedded", "chroma-server"])
def backend(request, monkeypatch):
    """Run a test twice: on the embedded store, and on a real `chroma run` server (a database of its
    own)."""
    if request.param == "chroma-server":
        monkeypatch.setenv(
            "KB_CHROMA_URL", server_database(request.getfixturevalue("chroma_server"))
        )
    return request.param


def server_database(server: str) -> str:
    """A database of its own on the Chroma server, for one test or module."""
    return f"{server}/kb-test-{uuid.uuid4().hex[:12]}"


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


def build_small_index(root: Path, chroma_url: str = "") -> Settings:
    """small_corpus indexed with the fake model (about 0.6 s)."""
    from kb.reindex import reindex

    settings = Settings(
        corpus_dir=small_corpus(root),
        index_dir=root / "index",
        model=FakeEmbedder.name,
        chroma_url=chroma_url,
    )
    summary = reindex(settings, FakeEmbedder, token_counter())
    assert not summary.failed, summary.failed
    return settings


def index_texts(root: Path, texts: dict[str, str]) -> Settings:
    """A corpus under root of the files given (path within the corpus: text), indexed with the fake
    model; every file indexed."""
    from kb.reindex import reindex

    corpus = root / "corpus"
    for name, text in texts.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text, encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", model=FakeEmbedder.name)
    summary = reindex(settings, FakeEmbedder, token_counter())
    assert not summary.failed, summary.failed
    return settings


def copy_index(template: Settings, root: Path) -> Settings:
    """A copy of an embedded index and its corpus under root: as good as indexing again, in a few
    ms."""
    shutil.copytree(template.corpus_dir, root / "corpus")
    shutil.copytree(template.index_dir, root / "index")
    return dataclasses.replace(template, corpus_dir=root / "corpus", index_dir=root / "index")


def open_fake_searcher(settings: Settings):
    """The searcher the settings describe, with the fake model."""
    from kb.search import open_searcher

    return open_searcher(settings, FakeEmbedder())


def make_chunk(
    chunk_id: str,
    text: str,
    document: str = "doc.md",
    title: str = "",
    agency: str = "",
    section: str = "",
    page: int = 1,
    page_end: int = 0,
    position: int = 0,
    sha256: str = "",
):
    """A chunk written out field by field, for tests that need one made up."""
    from kb.passage import Chunk, Citation

    citation = Citation(document, title, agency, section, page, page_end, sha256)
    return Chunk(chunk_id, text, citation, position)


def stored_chunks(settings: Settings) -> list:
    """Every passage the served generation holds, read from the store itself."""
    from kb.store import Published

    store = Published.open(settings.index_dir, settings.chroma_url)
    try:
        return list(store.chunks())
    finally:
        store.close()


def small_app(settings: Settings):
    """The web app over an index, searched with the fake model."""
    from web import create_app

    return create_app(settings, open_fake_searcher(settings))


def wait_for(check, what: str, timeout: float = 180):
    """Poll check() until it returns something true; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="session")
def real_index(tmp_path_factory):
    """The bundled corpus indexed once a session by `kb reindex` with the real model: (index
    folder, the environment it was run in, what the reindex printed). Copy it to change it."""
    index = tmp_path_factory.mktemp("real") / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("kb")),
            "reindex",
            "--corpus",
            str(CORPUS),
            "--index",
            str(index),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    return index, env, result.stdout


@pytest.fixture(scope="session")
def template_index(tmp_path_factory) -> Settings:
    """The small corpus, indexed once a session; tests use copies of it, never it."""
    return build_small_index(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="module")
def shared_index(template_index, tmp_path_factory) -> Settings:
    """A copy of the small index that a module's tests only read (packs aside)."""
    return copy_index(template_index, tmp_path_factory.mktemp("shared"))


@pytest.fixture(scope="module")
def searcher(shared_index):
    """A searcher over the module's shared index, with the fake model."""
    opened = open_fake_searcher(shared_index)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def app(shared_index):
    """The web app over the module's shared index."""
    built = small_app(shared_index)
    yield built
    built.extensions["kb"].close()


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    return small_corpus(tmp_path)


@pytest.fixture
def settings(tmp_path, corpus_dir, monkeypatch) -> Settings:
    """Settings for a test that writes: its own corpus and index folders, and the fake model."""
    monkeypatch.setenv("KB_CORPUS_DIR", str(corpus_dir))
    monkeypatch.setenv("KB_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("KB_MODEL", FakeEmbedder.name)
    return Settings.from_env()


@pytest.fixture(scope="session")
def server_template_index(tmp_path_factory, chroma_server) -> Settings:
    """The small corpus indexed once a session on the Chroma server."""
    return build_small_index(
        tmp_path_factory.mktemp("server-template"), server_database(chroma_server)
    )


@pytest.fixture
def index(request, settings, template_index, count_tokens) -> Settings:
    """An index of the test's own, to change: a copy of the session's template, on this machine or
    on the Chroma server (KB_CHROMA_URL, from `backend`); for another corpus, one built for it."""
    from kb.reindex import reindex

    if _files(settings.corpus_dir) != _files(template_index.corpus_dir):
        summary = reindex(settings, FakeEmbedder, count_tokens)
        assert not summary.failed, summary.failed
    elif settings.chroma_url:
        _copy_on_server(request.getfixturevalue("server_template_index"), settings)
    else:
        shutil.copytree(template_index.index_dir, settings.index_dir)
    return settings


def _copy_on_server(template: Settings, settings: Settings) -> None:
    """The template's generation copied into the test's own database, as a reindex writes one."""
    from kb.keyword import sync
    from kb.store import Published, Writer

    source = Published.open(template.index_dir, template.chroma_url)
    assert source.manifest is not None
    writer = Writer.begin(settings.index_dir, settings.chroma_url, source.manifest)
    writer.copy_rows(source)
    sync(writer, writer.home)[0].close()
    writer.publish(source.count())
    writer.close()


def _files(folder: Path) -> dict[str, bytes]:
    """Each file under a folder, by its path there, with its content: what an index is made from."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    }
