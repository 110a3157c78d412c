"""Safeguarding vocabulary: acronyms and synonyms from a data file, used to widen a query both ways."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

GLOSSARY = Path(__file__).parent / "data" / "glossary.tsv"


@dataclass(frozen=True)
class Entry:
    term: str
    expansions: tuple[str, ...]


def _pattern(phrase: str, case_sensitive: bool) -> re.Pattern:
    flags = 0 if case_sensitive else re.IGNORECASE
    plural = r"(?:s|'s|’s)?" if case_sensitive else ""  # "HVs", "CIN's"
    return re.compile(rf"(?<![\w&-]){re.escape(phrase)}{plural}(?![\w&-])", flags)


class Glossary:
    """'DA' finds 'domestic abuse', and 'domestic abuse' finds 'DA'."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        # An acronym is matched as written ("Prevent" is not "prevent"); a plain word in any case.
        self._forward = [(_pattern(e.term, e.term != e.term.lower()), e) for e in entries]
        self._reverse = [(_pattern(e.expansions[0], False), e) for e in entries if e.expansions]

    @classmethod
    def load(cls, path: Path = GLOSSARY) -> Glossary:
        entries = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            term, sep, expansions = line.partition("\t")
            if not sep:
                raise ValueError(f"{path}:{number}: expected TERM<TAB>EXPANSION|EXPANSION")
            options = tuple(option.strip() for option in expansions.split("|") if option.strip())
            entries.append(Entry(term.strip(), options))
        return cls(entries)

    def expand(self, query: str) -> list[str]:
        """Phrases to search for as well, in the order found; nothing the query already says."""
        added: list[str] = []
        seen = query.casefold()

        def add(phrase: str) -> None:
            nonlocal seen
            if not _pattern(phrase, False).search(seen):
                added.append(phrase)
                seen += f" | {phrase.casefold()}"

        for pattern, entry in self._forward:
            if entry.expansions and pattern.search(query):
                add(entry.expansions[0])
        for pattern, entry in self._reverse:
            if pattern.search(query):
                add(entry.term)
        return added


@lru_cache(maxsize=1)
def default_glossary() -> Glossary:
    return Glossary.load()
