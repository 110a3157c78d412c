"""How far fusing the two searches could go on golden queries, whatever weights were chosen.

    .venv/bin/python bench/retrieval_ceiling.py [--queries kb/data/golden_queries.jsonl]

From the real searches over the index (`kb reindex` first), beside each side alone and the full
ranking:
1. the best fusion weight chosen for each query separately (0, 0.05, ... 1), as if an oracle knew
   it: an upper bound for any single weight, and for any rule that picks a weight from the query;
2. how often the full ranking has the right passage among its first 10, 20, 50 and 100: what a
   reranker reading those candidates could reach at most.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from kb.evaluate import GOLDEN, load_queries, rank_of
from kb.search import RETRIEVALS, Retrieval, open_searcher
from kb.settings import Settings

WEIGHTS = [step / 20 for step in range(21)]
DEPTH = 100  # the most Searcher.search returns


def figures(ranks: list[int | None]) -> tuple[float, float, float]:
    """hit@1, hit@5 and MRR@10 of the first right passage's ranks (None: not found)."""
    n = len(ranks) or 1
    found = [rank for rank in ranks if rank is not None]
    return (
        sum(rank == 1 for rank in found) / n,
        sum(rank <= 5 for rank in found) / n,
        sum(1 / rank for rank in found if rank <= 10) / n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, default=GOLDEN)
    parser.add_argument("--index", default=None)
    args = parser.parse_args()
    queries = load_queries(args.queries)
    searcher = open_searcher(replace(Settings.from_env(index_dir=args.index), answer_cache=0))

    def ranks(retrieval: Retrieval, k: int = 10) -> list[int | None]:
        ranking = searcher.using(retrieval)
        return [rank_of(query, ranking.search(query["query"], k=k).hits) for query in queries]

    dense, bm25 = ranks(RETRIEVALS["dense"]), ranks(RETRIEVALS["bm25"])
    by_weight = [ranks(Retrieval(dense_weight=weight)) for weight in WEIGHTS]
    oracle = [min(filter(None, column), default=None) for column in zip(*by_weight)]
    used = ranks(Retrieval())
    deep = ranks(Retrieval(), k=DEPTH)

    print(f"{len(queries)} queries from {args.queries}, {searcher.store.count()} passages")
    print("| ranking | hit@1 | hit@5 | MRR@10 |")
    print("|---|---|---|---|")
    rows = [
        ("dense alone", dense),
        ("BM25 alone", bm25),
        ("full ranking (what `kb search` does)", used),
        ("full ranking, the best fusion weight for each query", oracle),
    ]
    for name, column in rows:
        print("| {} | {:.2f} | {:.2f} | {:.2f} |".format(name, *figures(column)))
    best = max(WEIGHTS, key=lambda weight: figures(by_weight[WEIGHTS.index(weight)])[2])
    print(
        (
            "\nOne weight for every query, best MRR@10 at dense weight {:.2f}: "
            "hit@5 {:.2f}, MRR@10 {:.2f}"
        ).format(best, *figures(by_weight[WEIGHTS.index(best)])[1:])
    )
    print(
        "Right passage among the full ranking's first "
        + ", ".join(
            f"{depth}: {sum(r is not None and r <= depth for r in deep) / len(deep):.2f}"
            for depth in (10, 20, 50, DEPTH)
        )
    )


if __name__ == "__main__":
    main()
