"""Query in, ranked and cited passages out."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from kb.chunk import CHUNKER_VERSION, Chunk
from kb.embed import Embedder
from kb.errors import EmptyQuery, QueryTooLong, UnknownAgency
from kb.store import Manifest, Store
from kb.vocabulary import Glossary, default_glossary


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

    @classmethod
    def from_chunk(cls, chunk: Chunk, score: float) -> Hit:
        return cls(chunk.id, chunk.text, chunk.agency, chunk.document, chunk.title, chunk.section, chunk.page, round(score, 4))

    def as_dict(self) -> dict:
        return asdict(self)


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
        raise EmptyQuery("the query is empty: type a few words, for example 'domestic abuse clinic'")
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


class Searcher:
    """Built once per process: the store and model stay loaded between queries."""

    def __init__(
        self, store: Store, embedder: Embedder, max_query_chars: int = 1000, glossary: Glossary | None = None
    ) -> None:
        store.check(Manifest(embedder.name, embedder.dimension, CHUNKER_VERSION))
        self.store = store
        self.embedder = embedder
        self.max_query_chars = max_query_chars
        self.glossary = glossary or default_glossary()
        self._agencies = store.agencies()
        embedder.encode(["warm up"])  # the first call into the model is slow; pay it before a user waits

    @property
    def agencies(self) -> list[str]:
        return list(self._agencies)

    def search(self, query: str, k: int = 10, agency: str | None = None) -> Results:
        started = time.perf_counter()
        query = clean_query(query, self.max_query_chars)
        k = max(1, min(int(k), 100))
        where = None
        if agency:
            names = resolve_agency(agency, self._agencies)
            where = {"agency": names[0]} if len(names) == 1 else {"agency": {"$in": names}}
        expanded = self.glossary.expand(query)
        hits: list[Hit] = []
        if self.store.count():
            # The model reads the practitioner's words and what they stand for ("DA" -> "domestic abuse").
            vector = self.embedder.encode([" ".join([query, *expanded])])[0]
            hits = [Hit.from_chunk(chunk, score) for chunk, score in self.store.query(vector, k, where)]
        took_ms = round((time.perf_counter() - started) * 1000, 1)
        return Results(query, hits, expanded, took_ms)
