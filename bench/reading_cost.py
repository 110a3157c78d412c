"""What a scorer that reads query and passage together would cost a query on this machine.

    .venv/bin/python bench/reading_cost.py [--work /tmp/kb-library] [--rounds 3]

The library's blind queries miss where no ranking of the two sides kb has finds the passage (README,
"At library scale"); what would is a cross-encoder, which reads the query and each candidate
passage together. None ships on the package registries, so its cost is measured with kb's own
model, which has the same shape as the common small one (MiniLM, 6 layers, 384 wide): for each
library blind query, kb's first k passages are read as "query [SEP] passage" pairs, k at a time,
as a reranker would read them. The time is the model's alone, added to every search. Prints JSON:
for each k, milliseconds a query (p50, p95) and the CPU seconds a query takes.

Needs the library index a `bench/library.py` run left in --work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from library import ROOT

from kb.embed import load_embedder
from kb.evaluate import load_queries
from kb.search import open_searcher
from kb.settings import Settings

DEPTHS = (5, 10, 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/kb-library"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env(index_dir=args.work / "index", chroma_url="", answer_cache=0)
    searcher = open_searcher(settings)
    queries = [q["query"] for q in load_queries(ROOT / "tests" / "library_blind_queries.jsonl")]
    candidates = {
        query: [hit.text for hit in searcher.search(query, k=max(DEPTHS)).hits] for query in queries
    }
    searcher.close()
    model = load_embedder(settings.model, settings.embedder)
    model.encode(["warm the model up"])
    report = {}
    for depth in DEPTHS:
        wall, cpu = [], []
        for _ in range(args.rounds):
            for query in queries:
                pairs = [f"{query} [SEP] {text}" for text in candidates[query][:depth]]
                started, started_cpu = time.perf_counter(), time.process_time()
                model.encode(pairs)
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append(time.process_time() - started_cpu)
        wall.sort()
        report[f"top {depth}"] = {
            "p50 ms": round(statistics.median(wall), 1),
            "p95 ms": round(wall[int(0.95 * (len(wall) - 1))], 1),
            "CPU s a query": round(statistics.mean(cpu), 3),
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
