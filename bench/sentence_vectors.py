"""Sentence vectors beside passage vectors, weighed on the library before anyone adopts them.

    .venv/bin/python bench/sentence_vectors.py [--work /tmp/kb-library]

A passage of 160 word pieces can hold several practices; a query that describes one of them in a
practitioner's words may be nearer that sentence than the passage. So each passage of the served
library index is cut into sentences (one under 8 words joined to the next; a passage of one
sentence is its own), each embedded by kb's model with the passage's agency and section before it,
as passages are. A passage's similarity to a query then becomes one of:

- max_d: the larger of its own and its best sentence's less d;
- mix_a: (1 - a) x its own + a x its best sentence's.

That score stands for the model's on both sides of kb's fusion (its 50 candidates, and the
similarity of those only BM25 found); everything else in kb's ranking is unchanged. The variant
is chosen on the library's development set alone (best MRR@10, ties to the first listed).

Needs the library index a `bench/library.py` run left in --work. Sentence vectors are kept in
--work/sentences, by the text the model reads, so a second run embeds nothing again (the first
takes about 25 minutes here). Prints JSON: sentences, sentences/s, and hit@1 / hit@5 / MRR@10 per
set and variant.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import library  # bench/library.py: the corpus's layout, and the query files mapped onto it

VARIANTS = ("kb", "max_0", "max_0.03", "max_0.05", "max_0.1", "mix_0.3", "mix_0.5")
SHORT = 8  # words: a sentence shorter than this is joined to the next
BATCH = 4096
SETS = {
    "library dev": library.ROOT / "tests" / "library_dev_queries.jsonl",
    "library blind": library.ROOT / "tests" / "library_blind_queries.jsonl",
    "golden, everything": library.ROOT / "kb" / "data" / "golden_queries.jsonl",
    "blind, everything": library.ROOT / "tests" / "blind_queries.jsonl",
}
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"“‘'(\[]?[A-Z0-9])")


def sentences(text: str) -> list[str]:
    """A passage's sentences and lines, a short one joined to the next; [] for one sentence."""
    parts = [
        sentence.strip()
        for line in text.split("\n")
        for sentence in _SENTENCE_END.split(line)
        if sentence.strip()
    ]
    joined: list[str] = []
    for part in parts:
        if joined and len(joined[-1].split()) < SHORT:
            joined[-1] += " " + part
        else:
            joined.append(part)
    if len(joined) > 1 and len(joined[-1].split()) < SHORT:
        last = joined.pop()
        joined[-1] += " " + last
    return joined if len(joined) > 1 else []


def sentence_vectors(searcher, cache: Path) -> tuple[list[str], np.ndarray, float]:
    """(the passage id of each sentence, their vectors as unit rows, sentences embedded a
    second), the vectors read from the cache where it holds the text."""
    from kb.passage import embedding_text

    owners, texts = [], []
    for chunk in searcher.store.chunks():
        for sentence in sentences(chunk.text):
            owners.append(chunk.id)
            texts.append(embedding_text(chunk.agency, chunk.section, sentence))
    stored = cache / "sentences.npz"
    known: dict[str, np.ndarray] = library.kept_vectors(stored, "texts")
    todo = sorted({text for text in texts if text not in known})
    started = time.perf_counter()
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        known.update(zip(batch, searcher.embedder.encode(batch)))
        print(f"sentences: {start + len(batch)} of {len(todo)}", file=sys.stderr, flush=True)
    rate = len(todo) / (time.perf_counter() - started) if todo else float("nan")
    if todo:
        library.keep_vectors(stored, "texts", known)
    matrix = np.stack([known[text] for text in texts]).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return owners, matrix, rate


class Sentences:
    """The store's nearest and similarities, with each passage's similarity changed by its
    sentences' as the variant says."""

    def __init__(self, store, owners: list[str], matrix: np.ndarray) -> None:
        self.store, self.scan = store, store._scan
        self.owners = np.array([self.scan.row[chunk_id] for chunk_id in owners])
        self.matrix = matrix
        self.variant = "kb"

    def similarity(self, vector: np.ndarray) -> np.ndarray:
        vector = np.asarray(vector, dtype=np.float32) / np.linalg.norm(vector)
        own = self.scan.matrix @ vector
        if self.variant == "kb":
            return own
        kind, amount = self.variant.split("_")
        best = np.full(len(own), -np.inf, dtype=np.float32)
        np.maximum.at(best, self.owners, self.matrix @ vector)
        best = np.where(np.isfinite(best), best, own)  # a passage of one sentence: its own
        if kind == "max":
            return np.maximum(own, best - float(amount))
        return (1 - float(amount)) * own + float(amount) * best

    def nearest(self, vector, k, passages=None):
        score = self.similarity(vector)
        if passages:
            score = np.where(passages.mask(self.scan.columns), score, -np.inf)
        order = np.argsort(-score, kind="stable")[:k]
        return [(self.scan.ids[at], float(score[at])) for at in order if np.isfinite(score[at])]

    def similarities(self, vector, ids):
        score = self.similarity(vector)
        return [float(score[self.scan.row[i]]) if i in self.scan.row else 0.0 for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/kb-library"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kb.evaluate import evaluate
    from kb.search import open_searcher
    from kb.settings import Settings

    names = library.build_corpus(args.work / "corpus")
    searcher = open_searcher(
        Settings.from_env(index_dir=args.work / "index", chroma_url="", answer_cache=0)
    )
    owners, matrix, rate = sentence_vectors(searcher, args.work / "sentences")
    sides = Sentences(searcher.store, owners, matrix)
    searcher.store.nearest, searcher.store.similarities = sides.nearest, sides.similarities
    table: dict[str, dict[str, dict[str, float]]] = {}
    for variant in VARIANTS:
        sides.variant = variant
        for name, path in SETS.items():
            figures = evaluate(searcher, library.mapped(path, names, False)).figures()
            table.setdefault(name, {})[variant] = {
                key: round(figures[key], 3) for key in ("hit@1", "hit@5", "mrr@10")
            }
        print(f"{variant}: {json.dumps({n: table[n][variant] for n in table})}", file=sys.stderr)
    chosen = max(VARIANTS, key=lambda v: table["library dev"][v]["mrr@10"])
    print(
        json.dumps(
            {
                "sentences": len(owners),
                "passages": searcher.store.count(),
                "sentences_per_second": rate,
                "chosen": chosen,
                "at_chosen": {name: table[name][chosen] for name in table},
                "kb_alone": {name: table[name]["kb"] for name in table},
                "every_variant": table,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
