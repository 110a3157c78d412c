"""Ways in besides one ranked list: themes, the best passages of each agency side by side, passages
like one."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb import datafile
from kb.errors import UnknownName
from kb.passage import Chunk, Filter, Hit
from kb.search import CANDIDATES, Searcher

THEMES = Path(__file__).parent / "data" / "themes.tsv"
PER_AGENCY = (
    3  # passages per agency in a comparison: enough to see what each does, few enough to read
)


class UnknownTheme(UnknownName):
    pass


class UnknownChunk(UnknownName):
    pass


@dataclass(frozen=True)
class Theme:
    name: str
    title: str
    query: str


def load_themes(path: Path = THEMES) -> list[Theme]:
    themes = []
    for number, fields in datafile.rows(path):
        if len(fields) != 3 or not all(fields):
            raise ValueError(f"{path}:{number}: expected NAME<TAB>TITLE<TAB>QUERY")
        themes.append(Theme(*fields))
    return themes


@lru_cache(maxsize=1)
def default_themes() -> tuple[Theme, ...]:
    return tuple(load_themes())


def find_theme(name: str, themes: tuple[Theme, ...] | None = None) -> Theme:
    """A theme by its name or title, case-insensitively; a refusal lists the themes."""
    themes = themes or default_themes()
    wanted = " ".join(name.split()).casefold()
    for theme in themes:
        if wanted in (theme.name.casefold(), theme.title.casefold()):
            return theme
    raise UnknownTheme(
        f"no theme is called {name!r}; the themes are: {', '.join(theme.name for theme in themes)}"
    )


@dataclass(frozen=True)
class Comparison:
    """For one query, each agency it reaches with that agency's best passages, in the order of their
    best passages' ranks; last, under the agency "", the best passages that name no agency, if any
    are reached."""

    query: str
    expanded: list[str]
    columns: list[tuple[str, list[Hit]]]

    @property
    def agencies(self) -> list[str]:
        return [agency for agency, _ in self.columns if agency]

    @property
    def hits(self) -> list[Hit]:
        return [hit for _, hits in self.columns for hit in hits]


def compare_agencies(searcher: Searcher, query: str, per_agency: int = PER_AGENCY) -> Comparison:
    """The best passages of each agency found among the query's top candidates, searched within that
    agency; then the best of the candidates that name no agency, which no search within an agency
    can find."""
    vector = searcher.query_vector(query)  # one reading by the model serves every agency's search
    wide = searcher.search(query, k=CANDIDATES, vector=vector)
    # An agency that is nowhere among the candidates has nothing to say on this; its best would be
    # noise.
    reached = list(dict.fromkeys(hit.agency for hit in wide.hits if hit.agency))
    columns = [
        (agency, searcher.search(query, k=per_agency, agency=agency, vector=vector).hits)
        for agency in reached
    ]
    columns.append(("", [hit for hit in wide.hits if not hit.agency][:per_agency]))
    return Comparison(
        wide.query, wide.expanded, [(agency, hits) for agency, hits in columns if hits]
    )


@dataclass(frozen=True)
class Neighbours:
    """Passages near one passage by their stored vectors: other agencies' first, then its own
    agency's."""

    passage: Chunk
    other_agencies: list[Hit]
    same_agency: list[Hit]


def more_like_this(searcher: Searcher, chunk_id: str, k: int = 8) -> Neighbours:
    chunk = searcher.passages([chunk_id]).get(chunk_id)
    vector = searcher.vector_of(chunk_id) if chunk else None
    if chunk is None or vector is None:
        raise UnknownChunk(
            f"no passage {chunk_id[:40]!r} is in the index; it may have changed in a reindex"
        )
    others = searcher.near(vector, k, Filter(not_agency=chunk.agency))
    own = searcher.near(vector, k // 2 + 1, Filter(agencies=(chunk.agency,)))
    return Neighbours(chunk, others, [hit for hit in own if hit.id != chunk_id][: k // 2])
