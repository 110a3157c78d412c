"""Rankings weighed on the library and not adopted, each against kb as it is, on the same index.

    .venv/bin/python bench/ranking_variants.py [--work /tmp/kb-library] [--variant NAME ...]

Run after a `bench/library.py` run, whose index and corpus it reads under --work. Each variant
changes one thing in a searcher opened on that index, and the library's two query sets and the
golden and blind sets over everything are scored as `bench/library.py` scores them:
- kb: as it is;
- no-expansions-for-the-model: the model reads the query alone, not what the glossary adds;
- forward-expansions-only: the model reads what a query's short forms stand for ("DA": domestic
  abuse), not the short forms of what it writes out ("children in care": CiC, looked after);
- place-left-out: where a query names an organisation, its name, years and words such as
  "inspection" or "latest" are left out of what both sides score, the organisation still weighed;
- feedback: the query's vector moved towards its first three results' (weight 0.3), searched again;
- rules-must-or-should: a document sets rules when 0.3 of its passages say "must" or "should";
- last-heading: every passage embedded with only its section's last heading (its vectors are kept
  in --work/last_heading.npy; about 15 minutes to make on this machine).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from library import ROOT, build_corpus, mapped

from kb import rules
from kb import search as ranking
from kb.agencies import NAMED
from kb.evaluate import GOLDEN, evaluate
from kb.keyword import query_terms
from kb.passage import Filter, embedding_text
from kb.search import Searcher, open_searcher
from kb.settings import Settings

SETS = {
    "library blind": ROOT / "tests" / "library_blind_queries.jsonl",
    "library development": ROOT / "tests" / "library_dev_queries.jsonl",
    "golden, everything": GOLDEN,
    "blind, everything": ROOT / "tests" / "blind_queries.jsonl",
}
EDITION_WORDS = {"inspection", "ofsted", "report", "ilacs", "latest", "most", "recent", "current"}


def no_expansions_for_the_model(searcher: Searcher, work: Path) -> None:
    searcher._encode = lambda query, expanded: searcher.embedder.encode([query])[0]  # type: ignore[method-assign]


def forward_expansions_only(searcher: Searcher, work: Path) -> None:
    forward = copy.copy(searcher.glossary)
    forward._reverse, forward._reverse_at = [], {}

    def encode(query: str, expanded: list[str]) -> np.ndarray:
        kept = [phrase for phrase in expanded if phrase in forward.expand(query)]
        return searcher.embedder.encode([" ".join([query, *kept])])[0]

    searcher._encode = encode  # type: ignore[method-assign]


def place_left_out(searcher: Searcher, work: Path) -> None:
    held = threading.local()

    def rest_of(query: str, passages: Filter) -> str | None:
        _, glossary, prior = searcher._words_of(passages)
        weights = prior.weights(query, glossary.expand(query))
        named = {agency for agency, weight in weights.items() if weight >= NAMED}
        if not named:
            return None
        naming = {term for term, agencies in prior.names.items() if named & set(agencies)}
        kept = [
            word
            for word in re.findall(r"[\w'’&-]+|[^\w\s]", query)
            if not (terms := query_terms(word)) or not all(term in naming for term in terms)
            if not re.fullmatch(r"(19|20)\d\d", word) and word.lower() not in EDITION_WORDS
        ]
        rest = " ".join(kept)
        return rest if query_terms(rest) else None

    search, encode, terms = searcher._search, searcher._encode, ranking.query_terms

    def searched(query, k, passages, vector=None):  # type: ignore[no-untyped-def]
        held.rest = rest_of(query, passages)
        try:
            return search(query, k, passages, vector)
        finally:
            held.rest = None

    searcher._search = searched  # type: ignore[method-assign]
    searcher._encode = lambda query, expanded: encode(  # type: ignore[method-assign]
        getattr(held, "rest", None) or query, expanded
    )
    ranking.query_terms = lambda query: terms(getattr(held, "rest", None) or query)


def feedback(searcher: Searcher, work: Path) -> None:
    search = searcher._search

    def searched(query, k, passages, vector=None):  # type: ignore[no-untyped-def]
        first = search(query, max(k, 3), passages, vector)
        start = searcher._encode(query, first.expanded) if vector is None else vector
        near = [v for hit in first.hits[:3] if (v := searcher.vector_of(hit.id)) is not None]
        if not near:
            return first
        moved = start / np.linalg.norm(start) + 0.3 * np.mean(
            [v / np.linalg.norm(v) for v in near], axis=0
        )
        return search(query, k, passages, (moved / np.linalg.norm(moved)).astype(start.dtype))

    searcher._search = searched  # type: ignore[method-assign]


def rules_must_or_should(searcher: Searcher, work: Path) -> None:
    rules.MARKERS, rules.RULE_SHARE = ("must", "should"), 0.3
    searcher.rules = rules.RulePrior.from_index(searcher.keyword)


def last_heading(searcher: Searcher, work: Path) -> None:
    scan = searcher.store._scan
    assert scan is not None, "the index must be searched in memory (KB_EXACT_SEARCH_UP_TO)"
    kept = work / "last_heading.npy"
    if not kept.exists():
        chunks = searcher.store.passages(scan.ids)
        texts = [
            embedding_text(chunk.agency, chunk.section.split(" › ")[-1], chunk.text)
            for chunk in (chunks[chunk_id] for chunk_id in scan.ids)
        ]
        order = sorted(range(len(texts)), key=lambda at: len(texts[at]))
        vectors = np.zeros((len(texts), scan.matrix.shape[1]), np.float32)
        for start in range(0, len(order), 256):
            part = order[start : start + 256]
            vectors[part] = searcher.embedder.encode([texts[at] for at in part])
        np.save(kept, vectors)
    vectors = np.load(kept)
    scan.matrix = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    scan.summary = None
    scan.summarise = lambda: None  # type: ignore[method-assign]


VARIANTS: dict[str, Callable[[Searcher, Path], None]] = {
    "kb": lambda searcher, work: None,
    "no-expansions-for-the-model": no_expansions_for_the_model,
    "forward-expansions-only": forward_expansions_only,
    "place-left-out": place_left_out,
    "feedback": feedback,
    "rules-must-or-should": rules_must_or_should,
    "last-heading": last_heading,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/kb-library"))
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    args = parser.parse_args()
    names = build_corpus(args.work / "corpus")
    settings = Settings.from_env(index_dir=args.work / "index", chroma_url="", answer_cache=0)
    print("| variant | " + " | ".join(SETS) + " |")
    print("|---" * (len(SETS) + 1) + "|")
    for name in args.variant or list(VARIANTS):
        query_terms_before, rules_before = ranking.query_terms, (rules.MARKERS, rules.RULE_SHARE)
        searcher = open_searcher(settings)  # each variant on a searcher of its own
        VARIANTS[name](searcher, args.work)
        cells = []
        for path in SETS.values():
            figures = evaluate(searcher, mapped(path, names, False)).figures()
            cells.append(
                f"{figures['hit@1']:.3f} / {figures['hit@5']:.3f} / {figures['mrr@10']:.3f}"
            )
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        searcher.close()
        ranking.query_terms, (rules.MARKERS, rules.RULE_SHARE) = query_terms_before, rules_before


if __name__ == "__main__":
    main()
