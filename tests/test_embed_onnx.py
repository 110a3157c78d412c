"""The ONNX Runtime path gives the torch path's vectors: same tokenizer, truncation, pooling,
norm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb import embed
from kb.embed import RUNTIMES, load_embedder, mean_pool
from kb.errors import KbError
from kb.settings import Settings

TEXTS = [
    "what does the hospital do for DA out of hours?",
    "",  # [CLS] [SEP] alone
    "   ",
    "MARAC",
    (
        "Bedfordshire Hospitals. Domestic Abuse Clinic.\n"
        " An appointment is made with the individual's consent."
    ),
    "Café, naïve, 中文, 🙂 and a tab\tin it",
    "neglect " * 600,  # far past 256 word pieces: both must cut it at the same place
    " ".join(f"word{i}" for i in range(400)),
]


def test_unknown_runtime_is_refused_with_the_choices():
    with pytest.raises(KbError, match="unknown embedder 'tensorflow'; choose from: torch, onnx"):
        load_embedder(runtime="tensorflow")


def test_the_setting_is_read_and_defaults_to_onnx():
    assert Settings.from_env({}).embedder == "onnx"
    assert Settings.from_env({"KB_EMBEDDER": "torch"}).embedder == "torch"
    assert set(RUNTIMES) == {"torch", "onnx"}


def test_a_model_other_than_the_shipped_one_ignores_the_runtime(fake_model):
    assert isinstance(load_embedder(fake_model.name, "onnx"), fake_model)


def test_mean_pool_keeps_only_the_masked_tokens_and_normalises():
    hidden = np.array([[[3.0, 0.0], [0.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    pooled = mean_pool(hidden, mask)
    assert np.allclose(pooled, [[0.6, 0.8]]) and pooled.dtype == np.float32


def test_a_shipped_onnx_graph_is_used_as_it_is(tmp_path, monkeypatch):
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"graph")
    monkeypatch.setattr(embed, "export_onnx", lambda *args: pytest.fail("nothing to export"))
    assert embed.onnx_model(tmp_path, tmp_path / "cache") == tmp_path / "onnx" / "model.onnx"
    assert not (tmp_path / "cache").exists()


def _weights(folder: Path, data: bytes) -> Path:
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(data)
    (folder / "config.json").write_text('{"hidden_size": 384}')
    return folder


def test_the_same_weights_in_another_place_share_one_export(tmp_path, monkeypatch):
    """One graph per model, not one per virtualenv: the cache is keyed by the weights, not their
    path."""
    exports = []
    monkeypatch.setattr(
        embed,
        "export_onnx",
        lambda folder, target: (exports.append(folder), target.write_bytes(b"graph")),
    )
    data = bytes(range(256)) * 20_000  # 5 MB: its middle is read by neither sample
    first = embed.onnx_model(_weights(tmp_path / "venv-a", data), tmp_path / "cache")
    assert embed.onnx_model(_weights(tmp_path / "venv-b", data), tmp_path / "cache") == first
    assert len(exports) == 1

    changed = bytearray(data)
    changed[-10] ^= 1  # the last tensors differ: another model
    other = embed.onnx_model(_weights(tmp_path / "fine-tuned", bytes(changed)), tmp_path / "cache")
    assert other != first and len(exports) == 2


def test_a_new_export_clears_the_graphs_earlier_ones_left(tmp_path, monkeypatch):
    monkeypatch.setattr(embed, "export_onnx", lambda folder, target: target.write_bytes(b"graph"))
    cache = tmp_path / "cache" / "onnx"
    cache.mkdir(parents=True)
    (cache / f"{embed.MODEL_NAME}-0123456789abcdef.onnx").write_bytes(b"an older export")
    (cache / "another-model-0123456789abcdef.onnx").write_bytes(b"not ours")
    current = embed.onnx_model(_weights(tmp_path / "model", b"weights"), tmp_path / "cache")
    assert sorted(path.name for path in cache.iterdir()) == sorted(
        [current.name, "another-model-0123456789abcdef.onnx"]
    )


def test_a_cache_that_cannot_be_written_says_what_to_do(tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    with pytest.raises(
        KbError, match="cannot write the ONNX model to .*KB_MODEL_CACHE.*KB_EMBEDDER=torch"
    ):
        embed.onnx_model(cache=blocker)


def test_the_model_cache_follows_the_setting_and_xdg():
    assert Settings.from_env({"KB_MODEL_CACHE": "/srv/kb-cache"}).model_cache == Path(
        "/srv/kb-cache"
    )
    assert Settings.from_env({}).model_cache.name == "kb"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """A cache of this module's own, so the export from the installed weights is tested too."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def onnx_cache(model_cache):
    return model_cache / "onnx"


@pytest.fixture(scope="module")
def runtimes(model_cache):
    return {name: load_embedder(runtime=name, cache=model_cache) for name in RUNTIMES}


@pytest.mark.slow
def test_onnx_vectors_equal_torch_vectors(runtimes):
    torch_vectors = runtimes["torch"].encode(TEXTS)
    onnx_vectors = runtimes["onnx"].encode(TEXTS)
    assert onnx_vectors.shape == torch_vectors.shape == (len(TEXTS), 384)
    assert onnx_vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    assert np.max(np.abs(1.0 - np.sum(torch_vectors * onnx_vectors, axis=1))) < 1e-5
    assert np.max(np.abs(torch_vectors - onnx_vectors)) < 1e-4


@pytest.mark.slow
def test_onnx_truncates_where_torch_does(runtimes):
    long, longer = "neglect " * 600, "neglect " * 900
    vectors = runtimes["onnx"].encode([long, longer])
    assert np.allclose(vectors[0], vectors[1], atol=1e-6)  # both cut at 256 word pieces


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_a_batch_gives_each_text_its_own_vector(runtimes, batch_size):
    onnx = runtimes["onnx"]
    batch = onnx.encode(TEXTS, batch_size=batch_size)
    single = np.vstack([onnx.encode([text]) for text in TEXTS])
    assert np.allclose(
        batch, single, atol=1e-6
    )  # padding to the longest in the batch changes nothing


@pytest.mark.slow
def test_the_export_is_cached_and_shares_the_model_name(runtimes, onnx_cache):
    cached = list(onnx_cache.glob("*.onnx"))
    assert len(cached) == 1 and not list(onnx_cache.glob("*.part"))
    before = cached[0].stat().st_mtime_ns
    again = load_embedder(runtime="onnx", cache=onnx_cache.parent)
    assert cached[0].stat().st_mtime_ns == before  # loaded, not exported again
    assert again.name == runtimes["torch"].name and again.dimension == runtimes["torch"].dimension
