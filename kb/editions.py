"""Editions: the same report in another year (an authority's inspections, KCSIE 2024 and 2025).

Two documents are editions of one when they stand in the same collection and their file names
differ only in dates ("devon__childrens_services_inspection_-_13_may_2025.pdf" and
"..._-_07_july_2017.pdf"; "KCSIE_2024.pdf" and "KCSIE_2025.pdf"). The newer is preferred when two
passages are otherwise as good; a query that asks for the latest ("latest", "most recent",
"current") leaves older editions well behind; one that names a year favours what is dated then.
An older edition is labelled with the newer one's date wherever it is cited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kb.dates import MONTHS
from kb.passage import IndexedDocument

# What an older edition's passage keeps of its score: a little less, so the newer wins a tie;
# much less when the query asks for the latest.
OLDER = 0.97
OLDER_WHEN_LATEST = 0.5
YEAR_BONUS = 0.1  # what a passage of a document dated in a year the query names gains

_DATE_WORDS = re.compile(
    rf"\b(?:\d{{1,4}}(?:st|nd|rd|th)?|{'|'.join(sorted(MONTHS, key=len, reverse=True))})\b", re.I
)
# Asking for the latest, or for a rating, which is the current one unless a year is named.
_LATEST = re.compile(
    r"\b(?:latest|most recent|newest|current|last|this year'?s?|rating|rated|judgements?|grade)\b",
    re.I,
)
_YEAR = re.compile(r"\b(19[89]\d|20[0-4]\d)\b")


def key(document: str) -> str:
    """What editions of one document share: its folder and file name, dates and numbers aside."""
    stem = re.sub(r"\.[a-z0-9]+$", "", document.lower())
    words = _DATE_WORDS.sub(" ", re.sub(r"[_\-–.,()]+", " ", stem)).split()
    return " ".join(words)


def groups(catalogue: Iterable[IndexedDocument]) -> dict[str, str]:
    """{document: its editions' key} for every document with a dated edition besides itself."""
    keyed: dict[str, list[IndexedDocument]] = {}
    for entry in catalogue:
        if entry.date and key(entry.document):
            keyed.setdefault(key(entry.document), []).append(entry)
    return {
        entry.document: name
        for name, entries in keyed.items()
        if len(entries) > 1
        for entry in entries
    }


def newer(catalogue: Iterable[IndexedDocument]) -> dict[str, str]:
    """{document: the date of the newest edition of it} for every document a newer one replaces."""
    groups: dict[str, list[IndexedDocument]] = {}
    for entry in catalogue:
        if entry.date and key(entry.document):
            groups.setdefault(key(entry.document), []).append(entry)
    found: dict[str, str] = {}
    for entries in groups.values():
        newest = max(entry.date for entry in entries)
        for entry in entries:
            if entry.date[:4] < newest[:4] or (entry.date < newest and len(entry.date) > 4):
                found[entry.document] = newest
    return found


def asks_for_the_latest(query: str) -> bool:
    """The query asks for the latest edition, or for a rating (the current one), and names no
    year."""
    return bool(_LATEST.search(query)) and not years_named(query)


def years_named(query: str) -> set[int]:
    return {int(year) for year in _YEAR.findall(query)}
