"""Query in, ranked and cited passages out."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace

import numpy as np

from kb.agencies import AgencyPrior
from kb.chunk import CHUNKER_VERSION, Chunk, pages
from kb.embed import Embedder
from kb.errors import EmptyQuery, QueryTooLong, UnknownAgency, UnknownDocument
from kb.keyword import KeywordIndex, Scores, query_terms
from kb.keyword import sync as sync_keyword
from kb.settings import Settings
from kb.store import Manifest, Store
from kb.vocabulary import Glossary, default_glossary

# Each side offers this many candidates to the fusion.
CANDIDATES = 50
# Convex fusion: the model's side weighs this much, the keyword side the rest (README, "How a query
# is ranked", has the measurements behind 0.6).
DENSE_WEIGHT = 0.6
# Reciprocal rank fusion, kept to compare with (`kb eval --retrieval rrf`): its authors' k.
RRF_K = 60
# What naming an agency ("the hospital") adds at full weight: a tenth of a perfect score under
# convex fusion, as much as a first place in one list under RRF.
AGENCY_BONUS = {"convex": 0.1, "rrf": 1.0 / (RRF_K + 1)}


@dataclass(frozen=True)
class Hit:
    """One cited passage in a result list. Later fields may be added; these are never renamed."""

    id: str
    text: str
    agency: str
    document: str
    title: str
    section: str
    page: int
    score: float
    page_end: int = 0  # the last page the passage runs onto; 0 when not known (then it is page)

    @classmethod
    def from_chunk(cls, chunk: Chunk, score: float) -> Hit:
        return cls(
            chunk.id,
            chunk.text,
            chunk.agency,
            chunk.document,
            chunk.title,
            chunk.section,
            chunk.page,
            round(score, 4),
            chunk.page_end,
        )

    @property
    def pages(self) -> str:
        """How a citation names its pages: "page 4", or "pages 4–5" for a passage a page break cuts."""
        return pages(self.page, self.page_end)

    def as_dict(self) -> dict:
        # Every field is a str, int or float: no deep copy (dataclasses.asdict) is needed.
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Results:
    """The answer to one query: what was searched for as well, and the passages found."""

    query: str
    hits: list[Hit]
    expanded: list[str] = field(default_factory=list)
    took_ms: float = 0.0

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "expanded": list(self.expanded),
            "results": [hit.as_dict() for hit in self.hits],
            "took_ms": self.took_ms,
        }


def clean_query(query: str | None, max_chars: int) -> str:
    """The query as searched, or a clear refusal."""
    query = " ".join((query or "").split())
    if not query:
        raise EmptyQuery(
            "the query is empty: type a few words, for example 'domestic abuse clinic'"
        )
    if len(query) > max_chars:
        raise QueryTooLong(f"the query is {len(query)} characters long; the limit is {max_chars}")
    return query


def resolve_agency(name: str, agencies: list[str]) -> list[str]:
    """Agencies matching a name given by a user: exact, else case-insensitive part of the name."""
    wanted = " ".join(name.split()).casefold()
    exact = [agency for agency in agencies if agency.casefold() == wanted]
    if exact:
        return exact
    partial = [agency for agency in agencies if wanted and wanted in agency.casefold()]
    if partial:
        return partial
    choices = "; ".join(agencies) or "none (the index is empty)"
    raise UnknownAgency(f"no agency matches {name!r}; the index holds: {choices}")


def resolve_document(name: str, documents: list[str]) -> str:
    """The document a user named: its file name exactly, or a file name case-insensitively."""
    wanted = name.strip()
    if wanted in documents:
        return wanted
    folded = [document for document in documents if document.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0]
    choices = "; ".join(documents) or "none (the index is empty)"
    raise UnknownDocument(f"no document is called {name!r}; the index holds: {choices}")


def convex_fusion(
    scored: Sequence[Sequence[tuple[str, float]]], weights: Sequence[float]
) -> dict[str, float]:
    """Bruch, Gai and Ingber (TOIS 2023): each list's scores divided by its best, summed by weight.

    A passage that a list does not hold scores there as that list's last one, the most it can
    have missed by. Unlike rank fusion, a passage that one side is sure of (BM25 far ahead on a
    rare word, the model far ahead on a paraphrase) keeps that lead when the other side lacks it.
    """
    shares = []
    for ranking in scored:
        best = max((score for _, score in ranking), default=0.0)
        shares.append(
            {item: max(score, 0.0) / best if best > 0 else 0.0 for item, score in ranking}
        )
    fused: dict[str, float] = {}
    for share in shares:
        for item in share:
            fused[item] = 0.0
    for share, weight in zip(shares, weights, strict=True):
        floor = min(share.values(), default=0.0)
        for item in fused:
            fused[item] += weight * share.get(item, floor)
    return fused


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """Cormack, Clarke and Buettcher (SIGIR 2009): each list gives 1 / (k + rank) to what it ranks."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


@dataclass(frozen=True)
class Retrieval:
    """Which parts of the ranking are used; all of them by default. `kb eval --compare` turns them off in turn."""

    dense: bool = True
    keyword: bool = True
    vocabulary: bool = True
    agency_aware: bool = True
    fusion: str = "convex"  # or "rrf"
    dense_weight: float = (
        DENSE_WEIGHT  # convex fusion only; bench/retrieval_ceiling.py tries each in turn
    )


RETRIEVALS = {
    "bm25": Retrieval(dense=False, vocabulary=False, agency_aware=False),
    "dense": Retrieval(keyword=False, vocabulary=False, agency_aware=False),
    "hybrid": Retrieval(vocabulary=False, agency_aware=False),
    "hybrid+vocabulary": Retrieval(agency_aware=False),
    "hybrid+vocabulary+agency": Retrieval(),
    "rrf": Retrieval(fusion="rrf"),
}


class Searcher:
    """Built once per process: the store, keyword index and model stay loaded between queries."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        max_query_chars: int = 1000,
        glossary: Glossary | None = None,
        keyword: KeywordIndex | None = None,
        retrieval: Retrieval = Retrieval(),
        answers_kept: int = 1024,
    ) -> None:
        store.check(Manifest(embedder.name, embedder.dimension, CHUNKER_VERSION))
        self.store = store
        self.embedder = embedder
        self.max_query_chars = max_query_chars
        self.retrieval = retrieval
        self.keyword = keyword if keyword is not None else sync_keyword(store, store.home)[0]
        # The data file's glossary, plus the acronyms these documents define, adding only what they hold.
        learned = (glossary or default_glossary()).with_learned(self.keyword.definitions())
        self.glossary = learned.held_in(self.keyword.holds)
        self.prior = AgencyPrior.from_index(self.keyword)
        # A searcher reads one published generation, which never changes: what start-up derives from
        # its passages' citations (one read of them) and the answers it gives stay true.
        self._catalogue = store.catalogue()
        self._agencies = sorted({agency for row in self._catalogue for agency in row["agencies"]})
        self._agency_of = {
            chunk_id: metadata.get("agency", "") for chunk_id, metadata in store.metadata()
        }
        self._answers = Answers(
            answers_kept
        )  # repeated queries answered from memory; 0 turns it off
        self._beside = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-keyword")
        # The first call into the model and the store is slow; pay it before a user waits.
        self._search("warm up the domestic abuse clinic", 1, None, None)

    def close(self) -> None:
        """Let go of the generation: the keyword index's connections, the worker threads, the Chroma client."""
        self._beside.shutdown(wait=False, cancel_futures=True)
        self.keyword.close()
        self.store.close()

    @property
    def agencies(self) -> list[str]:
        return list(self._agencies)

    @property
    def documents(self) -> list[dict]:
        """One row per indexed document: document, title, agency (most of it), agencies, pages, chunks."""
        return [dict(row) for row in self._catalogue]

    def search(
        self,
        query: str,
        k: int = 10,
        agency: str | None = None,
        document: str | None = None,
        vector: np.ndarray | None = None,
    ) -> Results:
        """The k best passages for a query, optionally from one agency or document; a repeated query is answered from memory.

        vector, from query_vector(query), spares the model reading the same query again when it is searched several ways.
        """
        started = time.perf_counter()
        query = clean_query(query, self.max_query_chars)
        k = max(1, min(int(k), 100))
        agencies = resolve_agency(agency, self._agencies) if agency else None
        if document:
            document = resolve_document(document, [row["document"] for row in self._catalogue])
        key = (query, k, tuple(agencies or ()), document, self.retrieval)
        results = self._answers.get(key)
        if results is None:
            results = self._search(query, k, agencies, document, vector)
            self._answers.put(key, results)
        return replace(
            results,
            hits=list(results.hits),
            expanded=list(results.expanded),
            took_ms=_ms_since(started),
        )

    def query_vector(self, query: str) -> np.ndarray:
        """The model's vector for a query, as search() makes it."""
        query = clean_query(query, self.max_query_chars)
        return self._encode(query, self.glossary.expand(query) if self.retrieval.vocabulary else [])

    def _encode(self, query: str, expanded: list[str]) -> np.ndarray:
        # The model reads the practitioner's words and what they stand for ("DA" -> "domestic abuse").
        return self.embedder.encode([" ".join([query, *expanded])])[0]

    def _search(
        self,
        query: str,
        k: int,
        agencies: list[str] | None,
        document: str | None,
        vector: np.ndarray | None = None,
    ) -> Results:
        started = time.perf_counter()
        use = self.retrieval
        expanded = self.glossary.expand(query) if use.vocabulary else []
        if not self._agency_of:
            return Results(query, [], expanded, _ms_since(started))

        depth = max(CANDIDATES, k)
        # BM25 runs in SQLite and numpy while the model works: both release the GIL, so on two cores
        # the keyword side costs little wall time.
        keyword = (
            self._beside.submit(
                self._keyword_side, query_terms(query), expanded, depth, agencies, document
            )
            if use.keyword
            else None
        )
        dense: list[tuple[str, float]] = []
        if use.dense:
            vector = self._encode(query, expanded) if vector is None else vector
            dense = self.store.nearest(vector, depth, _where(agencies, document))
        if keyword is None:
            fused = convex_fusion([dense], [1.0])
        else:
            scores, best_words = keyword.result()
            if not use.dense:
                fused = convex_fusion([best_words], [1.0])
            elif use.fusion == "rrf":
                fused = reciprocal_rank_fusion(
                    [[chunk_id for chunk_id, _ in ranking] for ranking in (dense, best_words)]
                )
            else:
                # Each side scores the other's candidates too, so no passage is fused on a guess.
                # (Filling a missing score with the list's last one instead: hit@5 0.84, MRR@10 0.69.)
                in_dense, in_words = (
                    {chunk_id for chunk_id, _ in dense},
                    {chunk_id for chunk_id, _ in best_words},
                )
                only_words = [chunk_id for chunk_id, _ in best_words if chunk_id not in in_dense]
                only_dense = [chunk_id for chunk_id, _ in dense if chunk_id not in in_words]
                fused = convex_fusion(
                    [
                        dense + list(zip(only_words, self.store.similarities(vector, only_words))),
                        best_words + list(zip(only_dense, scores.of(only_dense))),
                    ],
                    [use.dense_weight, 1.0 - use.dense_weight],
                )
        if use.agency_aware and not agencies:
            kinds = self.prior.weights(query)
            if kinds:
                for chunk_id, score in fused.items():
                    agency = self._agency_of.get(chunk_id, "")
                    fused[chunk_id] = score + AGENCY_BONUS[use.fusion] * kinds.get(agency, 0.0)
        best = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))[:k]
        chunks = self.store.get(best)
        hits = [
            Hit.from_chunk(chunks[chunk_id], fused[chunk_id])
            for chunk_id in best
            if chunk_id in chunks
        ]
        return Results(query, hits, expanded, _ms_since(started))

    def _keyword_side(
        self,
        terms: list[str],
        expanded: list[str],
        depth: int,
        agencies: list[str] | None,
        document: str | None,
    ) -> tuple[Scores, list[tuple[str, float]]]:
        """Every passage's BM25 score, and the best depth of them within the filters."""
        scores = self.keyword.score(terms, expanded)
        return scores, scores.best(depth, agencies, document)


def open_searcher(
    settings: Settings, embedder: Embedder | None = None, generation: str | None = None
) -> Searcher:
    """The searcher the settings describe: the served generation (or the one named), the model loaded
    unless one is given (a server moving to a new generation keeps its own)."""
    from kb.embed import load_embedder

    store = Store(
        settings.index_dir, settings.chroma_url, generation, settings.exact_search_up_to
    )  # fails fast, before the model loads
    embedder = embedder or load_embedder(settings.model, settings.embedder, settings.model_cache)
    return Searcher(store, embedder, settings.max_query_chars, answers_kept=settings.answer_cache)


class Answers:
    """A small least-recently-used memory of answers, shared by the server's threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[tuple, Results] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Results | None:
        with self._lock:
            results = self._kept.get(key)
            if results is not None:
                self._kept.move_to_end(key)
            return results

    def put(self, key: tuple, results: Results) -> None:
        with self._lock:
            self._kept[key] = results
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)


def _where(agencies: list[str] | None, document: str | None) -> dict | None:
    """The same filters as the keyword side, in Chroma's terms."""
    filters = []
    if agencies:
        filters.append(
            {"agency": agencies[0]} if len(agencies) == 1 else {"agency": {"$in": agencies}}
        )
    if document:
        filters.append({"document": document})
    return filters[0] if len(filters) == 1 else ({"$and": filters} if filters else None)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
