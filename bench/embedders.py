"""torch against ONNX Runtime for the shipped model, measured in the same run, with ratios
onnx/torch.

Prints each runtime's cold load (a fresh process: imports, model, first encode), one-query encode
p50/p95 (the golden queries, cycled, the two runtimes taking turns so that both see the same load
on a shared machine), passages per second over the index's chunks, the largest cosine difference
between their vectors, and whether they rank alike: dense top 10 of every golden query (numpy,
each runtime's own passage vectors), and the full `kb search` ranking, which searches a copy of
the index so that the index itself is only read. Needs an index: `kb reindex` first.

    .venv/bin/python bench/embedders.py [--index index] [--queries 200] [--rounds 1] [--export]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kb.embed import RUNTIMES, load_embedder
from kb.evaluate import GOLDEN, load_queries
from kb.settings import Settings
from kb.store import Published

COLD = """
import time
started = time.perf_counter()
from kb.embed import load_embedder
from kb.settings import Settings
embedder = load_embedder(runtime={runtime!r}, cache=Settings.from_env().model_cache)
loaded = time.perf_counter()
embedder.encode(["warm up the domestic abuse clinic"])
print(loaded - started, time.perf_counter() - started)
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def cold_load(runtime: str, cache: str | None = None) -> tuple[float, float]:
    """(seconds to a loaded model, seconds to its first vector) in a fresh process."""
    env = None
    if cache is not None:
        import os

        env = {**os.environ, "KB_MODEL_CACHE": cache}
    out = subprocess.run(
        [sys.executable, "-c", COLD.format(runtime=runtime)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    loaded, first = out.stdout.split()[-2:]
    return float(loaded), float(first)


def top10(queries: np.ndarray, passages: np.ndarray) -> list[list[int]]:
    scores = queries @ passages.T
    return [list(np.argsort(-row, kind="stable")[:10]) for row in scores]


def searcher_rankings(
    index_dir: Path, embedders: dict, queries: list[str]
) -> dict[str, list[list[str]]] | str:
    """Top-10 ids of the full ranking per runtime, searching a copy of the index (the real one is
    only read)."""
    try:
        from kb.search import open_searcher
    except (
        Exception
    ) as error:  # search.py may be mid-edit elsewhere; say so rather than fail the bench
        return f"not compared ({type(error).__name__}: {error})"
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "index"
        shutil.copytree(
            index_dir, copy, ignore=shutil.ignore_patterns("reindex.lock", "packs.sqlite")
        )
        rankings = {}
        for runtime, embedder in embedders.items():
            try:
                searcher = open_searcher(Settings.from_env(index_dir=copy, chroma_url=""), embedder)
                rankings[runtime] = [
                    [hit.id for hit in searcher.search(q, k=10).hits] for q in queries
                ]
            except Exception as error:
                return f"not compared ({type(error).__name__}: {error})"
        return rankings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=None)
    parser.add_argument("--queries", type=int, default=200, help="one-query encodes per runtime")
    parser.add_argument(
        "--rounds", type=int, default=1, help="passes over the passages per runtime"
    )
    parser.add_argument(
        "--export", action="store_true", help="also time ONNX's first use (export) in a fresh cache"
    )
    args = parser.parse_args()
    settings = Settings.from_env(index_dir=args.index)
    runtimes = list(RUNTIMES)  # torch first: the ratios are onnx/torch

    store = Published.open(settings.index_dir, settings.chroma_url)
    passages = [chunk.embedding_text() for chunk in store.chunks()]
    golden = [query["query"] for query in load_queries(GOLDEN)]
    queries = [golden[i % len(golden)] for i in range(args.queries)]

    load = {runtime: cold_load(runtime) for runtime in runtimes}
    export = None
    if args.export:
        with tempfile.TemporaryDirectory() as cache:
            export = cold_load("onnx", cache)

    embedders = {
        runtime: load_embedder(settings.model, runtime, settings.model_cache)
        for runtime in runtimes
    }
    for embedder in embedders.values():
        embedder.encode(golden[:4])

    latency: dict[str, list[float]] = {runtime: [] for runtime in runtimes}
    for query in queries:
        for runtime, embedder in embedders.items():
            started = time.perf_counter()
            embedder.encode([query])
            latency[runtime].append((time.perf_counter() - started) * 1000)

    rate: dict[str, list[float]] = {runtime: [] for runtime in runtimes}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for runtime, embedder in embedders.items():
            started = time.perf_counter()
            vectors[runtime] = embedder.encode(passages, batch_size=settings.batch_size)
            rate[runtime].append(len(passages) / (time.perf_counter() - started))
    query_vectors = {runtime: embedder.encode(golden) for runtime, embedder in embedders.items()}

    torch_, onnx_ = runtimes
    both = (
        np.vstack([vectors[torch_], query_vectors[torch_]]),
        np.vstack([vectors[onnx_], query_vectors[onnx_]]),
    )
    cosine_gap = float(np.max(np.abs(1.0 - np.sum(both[0] * both[1], axis=1))))
    element_gap = float(np.max(np.abs(both[0] - both[1])))
    dense = {runtime: top10(query_vectors[runtime], vectors[runtime]) for runtime in runtimes}
    dense_same = sum(a == b for a, b in zip(dense[torch_], dense[onnx_]))
    full = searcher_rankings(store.index_dir, embedders, golden)

    print(
        f"{len(passages)} passages, {len(queries)} one-query encodes per runtime "
        f"({len(golden)} golden queries cycled), "
        f"batch size {settings.batch_size}"
    )
    print(f"{'':26}{torch_:>12}{onnx_:>12}{'onnx/torch':>12}")

    def row(label: str, a: float, b: float, unit: str = "") -> None:
        print(f"{label:26}{a:>10.3g}{unit:2}{b:>10.3g}{unit:2}{b / a:>12.2f}")

    row("load, cold process (s)", load[torch_][0], load[onnx_][0])
    row("first vector, cold (s)", load[torch_][1], load[onnx_][1])
    row("query p50 (ms)", statistics.median(latency[torch_]), statistics.median(latency[onnx_]))
    row("query p95 (ms)", percentile(latency[torch_], 0.95), percentile(latency[onnx_], 0.95))
    row("passages/s", statistics.median(rate[torch_]), statistics.median(rate[onnx_]))
    if export:
        print(f"onnx first use, exporting to a fresh cache: {export[1]:.1f} s to the first vector")
    print(
        f"max |1 - cos(torch, onnx)| {cosine_gap:.2e}   max |element difference| {element_gap:.2e}"
        f"   over {len(both[0])} vectors"
    )
    print(f"dense top 10 identical: {dense_same} of {len(golden)} golden queries")
    if isinstance(full, str):
        print(f"full ranking: {full}")
    else:
        same = sum(a == b for a, b in zip(full[torch_], full[onnx_]))
        print(f"full ranking (kb search) top 10 identical: {same} of {len(golden)} golden queries")


if __name__ == "__main__":
    main()
