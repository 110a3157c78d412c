"""What the keyword side, vocabulary, agency ranking and fusion add to a query, in process.

Runs the golden queries through the same Searcher twice per round, dense alone and the full
ranking, and prints p50/p95 of each and of the difference. Needs an index: `kb reindex` first.

    .venv/bin/python bench/keyword_overhead.py [--index index] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from kb.evaluate import GOLDEN, load_queries
from kb.search import RETRIEVALS, open_searcher
from kb.settings import Settings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # answer_cache=0: each query is ranked anew, not answered from memory.
    searcher = open_searcher(Settings.from_env(index_dir=args.index, answer_cache=0))
    queries = [query["query"] for query in load_queries(GOLDEN)]
    timings: dict[str, list[float]] = {"dense": [], "hybrid+vocabulary+agency": []}
    extra: list[float] = []
    for _ in range(args.rounds):
        for query in queries:
            spent = {}
            for name in timings:
                ranking = searcher.using(RETRIEVALS[name])
                started = time.perf_counter()
                ranking.search(query, k=10)
                spent[name] = (time.perf_counter() - started) * 1000
                timings[name].append(spent[name])
            extra.append(spent["hybrid+vocabulary+agency"] - spent["dense"])
    print(
        f"{len(queries)} golden queries x {args.rounds} rounds, {searcher.store.count()} passages"
    )
    for name, values in timings.items():
        print(
            f"{name:<26} p50 {statistics.median(values):6.1f} ms   "
            f"p95 {percentile(values, 0.95):6.1f} ms"
        )
    print(
        f"{'added by keyword+fusion':<26} p50 {statistics.median(extra):6.1f} ms   "
        f"p95 {percentile(extra, 0.95):6.1f} ms"
    )


if __name__ == "__main__":
    main()
