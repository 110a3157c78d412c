"""How often the quoted answer (kb/answer.py) holds a gold phrase, over the golden and blind sets.

    .venv/bin/python bench/answer_sentence.py [--index index/]

For each query: the first passage, whether it holds one of the query's gold phrases, and whether
the sentence (or two) quoted from it does. A gold phrase is matched as kb eval matches it (case,
spacing and punctuation aside). Prints, per set: queries, first passage holding a gold phrase,
quotation holding one, and the quotation's share where the passage holds one; then the time the
quotation adds to a search (p50, p95).
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

from kb.evaluate import GOLDEN, load_queries
from kb.search import open_searcher
from kb.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SETS = {"golden": GOLDEN, "blind": ROOT / "tests" / "blind_queries.jsonl"}


def normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def holds(text: str, gold: list[str]) -> bool:
    said = normal(text)
    return any(normal(phrase) in said for phrase in gold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings.from_env(answer_cache=0, index_dir=args.index)
    searcher = open_searcher(settings)
    spent: list[float] = []
    for name, path in SETS.items():
        queries = load_queries(path)
        first = quoted = none = 0
        for query in queries:
            results = searcher.search(query["query"], k=10)
            started = time.perf_counter()
            answer = searcher.answer(results)
            spent.append((time.perf_counter() - started) * 1000)
            if not results.hits:
                continue
            in_first = holds(results.hits[0].text, query["gold"])
            first += in_first
            if answer is None:
                none += 1
            elif in_first and holds(answer.text, query["gold"]):
                quoted += 1
        print(
            f"{name}: {len(queries)} queries; first passage holds a gold phrase for {first}; "
            f"the quotation holds it for {quoted} of those ({quoted / max(first, 1):.2f}); "
            f"no quotation for {none}"
        )
    spent.sort()
    print(
        f"quotation time: p50 {statistics.median(spent):.1f} ms, "
        f"p95 {spent[round(0.95 * (len(spent) - 1))]:.1f} ms"
    )
    searcher.close()


if __name__ == "__main__":
    main()
