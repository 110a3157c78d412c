"""Agency-aware ranking: a query that names a kind of agency, or an organisation, favours its
passages.

Which indexed organisations are hospitals, police or councils is read from the index itself (their
names, document titles, section headings and passages), never from a list of organisations.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb import datafile
from kb.keyword import KeywordIndex, Scope, query_terms
from kb.vocabulary import phrase_pattern, written_as_is

KINDS = Path(__file__).parent / "data" / "agency_kinds.tsv"

# An organisation is of a kind when at least this share of its passages (the agency name and
# document title count as part of each) carries one of the kind's markers.
MIN_SHARE = 0.25
# An organisation a query names ("Bristol", "Liverpool care leavers") weighs this much against a
# kind of agency it names ("the hospital", 1 at most): a practitioner who names a place wants that
# place's reports, among hundreds of others on the same subject.
NAMED = 3.0
# A word of an organisation's name names it when this share of the passages using it are its own.
MIN_OWNERSHIP = 0.8
# A word of a document's title may name the organisations whose parts it holds ("Luton Safeguarding
# Children Partnership Yearly Report": the hospital's, the police's, the council's), when at most
# this many documents' titles hold it: a place's reports over a few years, not a kind of report.
MAX_TITLES = 10
# Words that say what an organisation is, not which: its own passages use them most ("Department for
# Education" writes "education"), but a query using them asks about the thing. The kinds' cues and
# markers are such words too.
GENERIC_NAME_WORDS = frozenset(
    """department ministry office government commission institute foundation trust partnership board
    agency service services authority council borough county local community health care social
    children families education safeguarding""".split()
)
# Words that say what a document is, not whose.
GENERIC_TITLE_WORDS = frozenset(
    """inspection inspections report reports yearly annual review reviews guidance statutory
    regulations snapshot summary update""".split()
)


@dataclass(frozen=True)
class Kind:
    name: str
    cues: tuple[str, ...]
    markers: tuple[str, ...]


def load_kinds(path: Path = KINDS) -> list[Kind]:
    kinds = []
    for number, fields in datafile.rows(path):
        if len(fields) != 3:
            raise ValueError(f"{path}:{number}: expected KIND<TAB>CUE|CUE<TAB>MARKER|MARKER")
        kinds.append(Kind(fields[0], datafile.options(fields[1]), datafile.options(fields[2])))
    return kinds


@lru_cache(maxsize=1)
def default_kinds() -> tuple[Kind, ...]:
    return tuple(load_kinds())


def _cue_pattern(cue: str):
    return phrase_pattern(
        cue, written_as_is(cue)
    )  # "ED" and "LA" as written; "hospital" in any case


class AgencyPrior:
    """How strongly a query points at each indexed agency, from 0 (not at all) to 1."""

    def __init__(
        self,
        kinds_of: dict[str, dict[str, float]],
        names: dict[str, tuple[str, ...]],
        kinds: tuple[Kind, ...],
    ) -> None:
        self.kinds_of = kinds_of  # kind -> {agency: share of its passages marked as that kind}
        self.names = names  # distinctive word of an organisation's name -> agency
        self.kinds = kinds
        self._cues = [
            (kind.name, [_cue_pattern(cue) for cue in kind.cues]) for kind in kinds
        ]  # compiled once

    @classmethod
    def from_index(
        cls,
        keyword: KeywordIndex,
        kinds: tuple[Kind, ...] | None = None,
        titles: Sequence[tuple[str, Sequence[str]]] = (),
        scope: Scope | None = None,
        standard: Collection[str] = (),
    ) -> AgencyPrior:
        """titles: each document's title and the agencies of its passages; standard: the ids of
        the passages that are standard text (kb/standard.py). With a scope, read from its passages
        alone (kb/keyword.py, Scope), given its documents' titles."""
        kinds = default_kinds() if kinds is None else kinds
        sizes = keyword.agency_counts(scope=scope)
        kinds_of: dict[str, dict[str, float]] = {}
        for kind in kinds:
            counts = keyword.agency_counts(kind.markers, scope)
            shares = {
                agency: counts.get(agency, 0) / size
                for agency, size in sizes.items()
                if agency and size
            }
            strongest = max(shares.values(), default=0.0)
            kinds_of[kind.name] = {
                agency: share / strongest for agency, share in shares.items() if share >= MIN_SHARE
            }
        names: dict[str, tuple[str, ...]] = {}
        generic = GENERIC_NAME_WORDS | {
            word
            for kind in kinds
            for phrase in (*kind.cues, *kind.markers)
            for word in query_terms(phrase)
        }
        # A word of organisations' names ("bristol"), or two together where one alone is shared
        # ("north yorkshire"), names the organisations whose names hold it when their passages
        # are most of those that use it: "Bristol City Council" and "Bristol local authority"
        # (two editions of the inspections) are named together.
        holders: dict[str, set[str]] = {}
        for agency in sizes:
            words = [w for w in query_terms(agency) if len(w) >= 4 and w not in generic]
            terms = query_terms(agency)
            pairs = [f"{a} {b}" for a, b in zip(terms, terms[1:]) if a in words or b in words]
            for term in (*words, *pairs):
                holders.setdefault(term, set()).add(agency)
        # A place a title names ("Luton Safeguarding Children Partnership…"): a word its passages
        # write as a name, in few titles.
        titled: dict[str, list[Sequence[str]]] = {}
        for title, agencies in titles:
            for word in query_terms(title):
                if len(word) >= 4 and word.isalpha() and word not in generic | GENERIC_TITLE_WORDS:
                    titled.setdefault(word, []).append(agencies)
        for word, documents in titled.items():
            if len(documents) <= MAX_TITLES and keyword.writes_capitalised(word, scope):
                holders.setdefault(word, set()).update(
                    agency for agencies in documents for agency in agencies if agency
                )
        for term in sorted(holders, key=lambda term: " " in term):
            if " " in term and all(part in names for part in term.split() if part in holders):
                continue  # each word names them already
            if _owns(keyword.agency_counts([term], scope), holders[term]) or (
                # Standard text says nothing of whose a word is: Ofsted's back page, in every one of
                # 461 reports, gives its address, "Store Street, Manchester".
                standard and _owns(keyword.agency_counts([term], scope, standard), holders[term])
            ):
                names[term] = tuple(sorted(holders[term]))
        return cls(kinds_of, names, kinds)

    def named_kinds(self, query: str) -> list[str]:
        return [
            name
            for name, patterns in self._cues
            if any(pattern.search(query) for pattern in patterns)
        ]

    def weights(self, query: str, expanded: Sequence[str] = ()) -> dict[str, float]:
        """{agency: weight} for the agencies a query points at; empty when it names none. A phrase
        the glossary adds names organisations as the query's own words do ("Herts" is
        Hertfordshire)."""
        weights: dict[str, float] = {}
        for kind in self.named_kinds(query):
            for agency, strength in self.kinds_of.get(kind, {}).items():
                weights[agency] = max(weights.get(agency, 0.0), strength)
        for text in (query, *expanded):
            terms = query_terms(text)
            for term in (*terms, *(f"{a} {b}" for a, b in zip(terms, terms[1:]))):
                for agency in self.names.get(term, ()):
                    weights[agency] = NAMED
        return weights


def _owns(counts: dict[str, int], agencies: Collection[str]) -> bool:
    """Whether the agencies' passages are at least MIN_OWNERSHIP of those counted."""
    owned = sum(counts.get(agency, 0) for agency in agencies)
    return bool(owned) and owned >= MIN_OWNERSHIP * sum(counts.values())
