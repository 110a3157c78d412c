"""Reindex speed against the model's raw encode rate on the same passages, measured in one run.

    .venv/bin/python bench/reindex_speed.py [--corpus corpus]

Builds throw-away indexes in a temporary folder (the project's index/ is not touched):
1. the floor: the passages of the corpus, embedded in one call by an already loaded model;
2. `kb reindex` from scratch in a new process (imports, model load, parsing, embedding, writing);
3. the same with the model already loaded in this process (parsing, embedding, writing);
4. `kb reindex` with nothing changed, in a new process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kb.chunk import chunk_document
from kb.embed import load_embedder, token_counter
from kb.ingest import read_document
from kb.reindex import corpus_files, reindex
from kb.settings import Settings

KB = str(Path(sys.executable).with_name("kb"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=None)
    args = parser.parse_args()
    settings = Settings.from_env(corpus_dir=args.corpus)
    count = token_counter()
    files = corpus_files(settings.corpus_dir, settings.ignore).files
    chunks = [
        chunk
        for name, path in files.items()
        for chunk in chunk_document(read_document(path, name), count)
    ]
    texts = [chunk.embedding_text() for chunk in chunks]

    started = time.perf_counter()
    embedder = load_embedder(settings.model, settings.embedder, settings.model_cache)
    loaded = time.perf_counter() - started
    embedder.encode(texts[:32])  # the first call pays one-off costs
    started = time.perf_counter()
    embedder.encode(sorted(texts, key=count), batch_size=settings.batch_size)
    raw = len(texts) / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as scratch:
        index = Path(scratch) / "cli"
        command = [KB, "reindex", "--corpus", str(settings.corpus_dir), "--index", str(index)]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        noop = time.perf_counter() - started

        warm_settings = Settings.from_env(
            corpus_dir=settings.corpus_dir, index_dir=Path(scratch) / "warm"
        )
        started = time.perf_counter()
        summary = reindex(warm_settings, lambda: embedder, count)
        warm = time.perf_counter() - started
    assert summary.chunks_embedded == len(texts), (summary.chunks_embedded, len(texts))

    print(
        f"{len(files)} documents, {len(texts)} passages; model load in this process {loaded:.1f} s"
    )
    print("| what | passages/s | share of the floor |")
    print("|---|---|---|")
    print(f"| floor: encode only, model loaded | {raw:.1f} | 1.00 |")
    print(
        "| reindex, model already loaded (parse, embed, write, keyword index) | "
        f"{len(texts) / warm:.1f} | "
        f"{len(texts) / warm / raw:.2f} |"
    )
    print(
        f"| `kb reindex` from scratch, new process ({cold:.1f} s wall) | {len(texts) / cold:.1f} | "
        f"{len(texts) / cold / raw:.2f} |"
    )
    print(f"\n`kb reindex` with nothing changed: {noop:.2f} s wall")


if __name__ == "__main__":
    main()
