"""Golden queries in, retrieval figures out: hit@1, hit@5, MRR@10 and page accuracy."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import UnknownAgency, UsageError
from kb.passage import Hit
from kb.search import Searcher

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden_queries.jsonl"  # the project's golden set, which `kb eval` reads by default
THRESHOLDS_FILE = DATA / "thresholds.toml"  # the figures kb eval must reach on it
# thresholds.toml key -> the figure it bounds from below
THRESHOLDS = {
    "min_hit_at_1": "hit@1",
    "min_hit_at_5": "hit@5",
    "min_mrr_at_10": "mrr@10",
    "min_page_accuracy": "page_accuracy",
}


def _norm(text: str) -> str:
    """Words only: a gold phrase copied from a PDF matches the same words in a passage whatever
    stands between them (a line break, a table's cell, a bullet, a colon, a curly quote)."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def is_hit(
    query: dict, hit: Hit, pages: bool = True, agencies: Collection[str] | None = None
) -> bool:
    """The passage holds a gold phrase, from the named agency and document, at the named page.

    agencies: the indexed agencies the query's agency stands for (the searcher resolves "ELFT" to
    "East London NHS Foundation Trust"); without them, the agency must hold the name given."""
    if query.get("agency"):
        if agencies is not None and hit.agency not in agencies:
            return False
        if agencies is None and _norm(query["agency"]) not in _norm(hit.agency):
            return False
    if query.get("doc") and hit.document != query["doc"]:
        return False
    if pages and query.get("page") and not _cites(hit, int(query["page"])):
        return False
    text = f" {_norm(hit.text)} "
    return any(f" {_norm(gold)} " in text for gold in query["gold"])


def _cites(hit: Hit, page: int) -> bool:
    """A passage a page break cuts is cited at both pages, and is right at either."""
    return hit.page <= page <= max(hit.page, hit.page_end)


def rank_of(
    query: dict, hits: list[Hit], pages: bool = True, agencies: Collection[str] | None = None
) -> int | None:
    found = (rank for rank, hit in enumerate(hits, start=1) if is_hit(query, hit, pages, agencies))
    return next(found, None)


def named_agencies(searcher: Searcher, query: dict) -> set[str] | None:
    """The indexed agencies a query's "agency" stands for, as `--agency` reads it; None for no
    agency named."""
    if not query.get("agency"):
        return None
    try:
        return set(searcher.resolve_agency(query["agency"]))
    except UnknownAgency:
        return set()


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
            "page_accuracy": round(self.pages_right / self.pages_asked, 3)
            if self.pages_asked
            else None,
        }


def load_queries(path: Path) -> list[dict]:
    """The golden queries of a JSON-lines file; a line that is not one is named with its number and
    why."""
    queries = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            query = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(f"{path}:{number}: not JSON ({error.msg})") from None
        if (
            not isinstance(query, dict)
            or not isinstance(query.get("query"), str)
            or not query["query"].strip()
        ):
            raise UsageError(f"{path}:{number}: each line is an object with a 'query'")
        gold = query.get("gold")
        if (
            not isinstance(gold, list)
            or not gold
            or not all(isinstance(phrase, str) and phrase.strip() for phrase in gold)
        ):
            raise UsageError(
                f"{path}:{number}: 'gold' is a list of the phrases the right passage holds"
            )
        page = query.get("page")
        if page is not None and not (
            isinstance(page, int) and not isinstance(page, bool) and page >= 1
        ):
            raise UsageError(f"{path}:{number}: 'page' is a page number from 1, not {page!r}")
        queries.append(query)
    if not queries:
        raise UsageError(f"{path} holds no queries")
    return queries


def evaluate(searcher: Searcher, queries: list[dict], k: int = 10) -> Report:
    """Rank of the first right passage for each query, among its first k (never fewer than the 10
    MRR@10 reads). A page, where given, must be one the passage is cited at."""
    report = Report()
    for query in queries:
        # A query may say which collection it is asked in ("luton"); else the searcher's default.
        within = [query["collection"]] if query.get("collection") is not None else None
        hits = searcher.search(query["query"], k=max(k, 10), collections=within).hits
        agencies = named_agencies(searcher, query)
        rank = rank_of(query, hits, agencies=agencies)
        report.total += 1
        if query.get("page"):
            # Page accuracy: of the right passages found, how many are cited at the right page.
            anywhere = rank_of(query, hits, pages=False, agencies=agencies)
            if anywhere is not None:
                report.pages_asked += 1
                report.pages_right += _cites(hits[anywhere - 1], int(query["page"]))
        if rank is None or rank > 5:
            report.misses.append(
                {
                    "id": query.get("id"),
                    "query": query["query"],
                    "rank": rank,
                    "first": hits[0] if hits else None,
                }
            )
        if rank is not None and rank <= 10:
            report.hit1 += rank == 1
            report.hit5 += rank <= 5
            report.reciprocal += 1 / rank
    return report


def load_thresholds(path: Path = THRESHOLDS_FILE) -> dict[str, float]:
    """The figures `kb eval` must reach on the golden set (kb/data/thresholds.toml); none if
    absent."""
    if not path.is_file():
        return {}
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(table) - set(THRESHOLDS)
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(THRESHOLDS)}")
    return {key: float(value) for key, value in table.items()}


def below(figures: dict, thresholds: dict[str, float]) -> list[str]:
    """'hit@5 0.91 < 0.95' for each figure under its threshold."""
    return [
        f"{THRESHOLDS[key]} {figures[THRESHOLDS[key]]} < {minimum}"
        for key, minimum in thresholds.items()
        if figures.get(THRESHOLDS[key]) is not None and figures[THRESHOLDS[key]] < minimum
    ]
