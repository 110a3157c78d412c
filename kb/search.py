"""Query in, ranked and cited passages out."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kb.chunk import CHUNKER_VERSION, Chunk
from kb.embed import Embedder
from kb.errors import EmptyQuery, QueryTooLong, UnknownAgency
from kb.store import Manifest, Store


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

    def __init__(self, store: Store, embedder: Embedder, max_query_chars: int = 1000) -> None:
        store.check(Manifest(embedder.name, embedder.dimension, CHUNKER_VERSION))
        self.store = store
        self.embedder = embedder
        self.max_query_chars = max_query_chars
        self._agencies = store.agencies()

    @property
    def agencies(self) -> list[str]:
        return list(self._agencies)

    def search(self, query: str, k: int = 10, agency: str | None = None) -> list[Hit]:
        query = clean_query(query, self.max_query_chars)
        k = max(1, min(int(k), 100))
        where = None
        if agency:
            names = resolve_agency(agency, self._agencies)
            where = {"agency": names[0]} if len(names) == 1 else {"agency": {"$in": names}}
        if self.store.count() == 0:
            return []
        vector = self.embedder.encode([query])[0]
        return [Hit.from_chunk(chunk, score) for chunk, score in self.store.query(vector, k, where)]
