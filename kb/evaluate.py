"""Golden queries in, retrieval figures out: hit@1, hit@5, MRR@10 and page accuracy."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from kb.search import Hit, Searcher

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden_queries.jsonl"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def is_hit(query: dict, hit: Hit) -> bool:
    """The passage holds a gold phrase, in the named document (agency is the query's context only)."""
    if query.get("doc") and hit.document != query["doc"]:
        return False
    return any(_norm(gold) in _norm(hit.text) for gold in query["gold"])


def rank_of(query: dict, hits: list[Hit]) -> int | None:
    return next((rank for rank, hit in enumerate(hits, start=1) if is_hit(query, hit)), None)


@dataclass
class Report:
    total: int = 0
    hit1: int = 0
    hit5: int = 0
    reciprocal: float = 0.0
    pages_right: int = 0
    pages_asked: int = 0
    misses: list[dict] = field(default_factory=list)

    def figures(self) -> dict:
        n = self.total or 1
        return {
            "queries": self.total,
            "hit@1": round(self.hit1 / n, 3),
            "hit@5": round(self.hit5 / n, 3),
            "mrr@10": round(self.reciprocal / n, 3),
            "page_accuracy": round(self.pages_right / self.pages_asked, 3) if self.pages_asked else None,
        }


def load_queries(path: Path) -> list[dict]:
    queries = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    for query in queries:
        if not query.get("query") or not query.get("gold"):
            raise ValueError(f"{path}: each line needs 'query' and 'gold' ({query.get('id', '?')})")
    return queries


def evaluate(searcher: Searcher, queries: list[dict], k: int = 10) -> Report:
    report = Report()
    for query in queries:
        hits = searcher.search(query["query"], k=k).hits
        rank = rank_of(query, hits)
        report.total += 1
        if rank is None or rank > 10:
            report.misses.append({"id": query.get("id"), "query": query["query"], "first": hits[0] if hits else None})
            continue
        report.hit1 += rank == 1
        report.hit5 += rank <= 5
        report.reciprocal += 1 / rank
        if query.get("page"):
            report.pages_asked += 1
            report.pages_right += hits[rank - 1].page == query["page"]
    return report
