"""Fixture chain: settings (in tmp_path) -> index (small corpus, a real PDF among it) -> searcher."""

from __future__ import annotations

import hashlib
import re
import shutil
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


@pytest.fixture
def count_tokens():
    return token_counter()


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(FOUNDING, corpus)
    shutil.copy(BRADFORD, corpus)
    (corpus / "notes.md").write_text(
        "# Practice notes\n\n## Escalation\n\nUse the escalation policy when agencies disagree.\n",
        encoding="utf-8",
    )
    return corpus


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

    return Searcher(Store(index.index_dir), FakeEmbedder())
