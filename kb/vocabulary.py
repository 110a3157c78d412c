"""Safeguarding vocabulary: acronyms and synonyms from a data file, used to widen a query both
ways."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb import datafile

GLOSSARY = Path(__file__).parent / "data" / "glossary.tsv"


@dataclass(frozen=True)
class Entry:
    term: str
    expansions: tuple[str, ...]


@lru_cache(maxsize=4096)
def phrase_pattern(phrase: str, case_sensitive: bool) -> re.Pattern:
    flags = 0 if case_sensitive else re.IGNORECASE
    # "HVs", "CIN's"; "parents" for "parent" (a word already ending in s takes no more).
    plural = r"(?:s|'s|’s)?" if case_sensitive else ("" if phrase.endswith("s") else r"(?:s|es)?")
    return re.compile(rf"(?<![\w&-]){re.escape(phrase)}{plural}(?![\w&-])", flags)


OPENING = 3  # letters of a phrase looked up before its pattern is run
_WORD_START = re.compile(r"(?<![\w&-])")


def _opening(phrase: str) -> str:
    return phrase[:OPENING].lower()


def _openings(text: str) -> set[str]:
    """The first one, two and three letters at every place a phrase_pattern match can begin."""
    starts = [match.start() for match in _WORD_START.finditer(text)]
    return {text[at : at + size].lower() for at in starts for size in range(1, OPENING + 1)}


def written_as_is(phrase: str) -> bool:
    """An acronym or a name of one word ("DA", "Prevent") matches only as written; other phrases in
    any case."""
    return not any(c.isspace() for c in phrase) and phrase != phrase.lower()


class Glossary:
    """'DA' finds 'domestic abuse', and 'domestic abuse' finds 'DA'."""

    def __init__(
        self,
        entries: list[Entry],
        holds: Callable[[str], bool] | None = None,
        acronym_in_any_case: Callable[[str], bool] | None = None,
    ) -> None:
        self.entries = list(entries)
        self._holds = holds
        self._any_case = acronym_in_any_case
        # An acronym is matched as written ("Prevent" is not "prevent"); a plain word in any case.
        self._forward = [
            (_opening(e.term), phrase_pattern(e.term, written_as_is(e.term)), e)
            for e in self.entries
        ]
        self._reverse = [
            (_opening(expansion), phrase_pattern(expansion, written_as_is(expansion)), e)
            for e in self.entries
            for expansion in e.expansions
        ]
        # Each list's places by opening, so a query looks at the entries its words could begin.
        self._forward_at = _places(self._forward)
        self._reverse_at = _places(self._reverse)

    def _candidates(self, rows: list, at: dict[str, list[int]], openings: set[str]) -> list:
        """The rows whose opening is among the query's, in their order."""
        places = sorted({place for opening in openings for place in at.get(opening, ())})
        return [rows[place] for place in places]

    @classmethod
    def load(cls, path: Path = GLOSSARY) -> Glossary:
        entries: list[Entry] = []
        lines: dict[str, int] = {}
        for number, (term, *expansions) in datafile.rows(path):
            if not expansions or not term:
                raise ValueError(f"{path}:{number}: expected TERM<TAB>EXPANSION|EXPANSION")
            if term in lines:
                raise ValueError(
                    f"{path}:{number}: {term!r} is already defined on line {lines[term]}"
                )
            lines[term] = number
            entries.append(Entry(term, datafile.options("\t".join(expansions))))
        return cls(entries)

    def with_learned(self, learned: Iterable[Entry]) -> Glossary:
        """This glossary plus acronyms an index's documents define; the data file wins a clash."""
        known = {entry.term for entry in self.entries}
        return Glossary(
            self.entries + [entry for entry in learned if entry.term not in known],
            self._holds,
            self._any_case,
        )

    def held_in(
        self, holds: Callable[[str], bool], acronym_in_any_case: Callable[[str], bool] | None = None
    ) -> Glossary:
        """This glossary adding to a query only what holds(phrase) says an index holds: a phrase no
        passage uses finds nothing, would pull the query's vector away from the reports' own words,
        and would be listed as searched for ("kids" for "children"). With acronym_in_any_case, an
        acronym typed in another case ("mash", "CiN") is read as the acronym where that says the
        index's passages write its word as the acronym (they write "MASH", not "mash")."""
        return Glossary(self.entries, holds, acronym_in_any_case)

    def _names(self, pattern: re.Pattern, entry: Entry, query: str, words: str) -> bool:
        """Whether the query names the entry's term: as written, or an acronym in another case that
        the index's passages write as the acronym, standing alone in words (the query less its
        glossary phrases: the "ed" of "home ed" is not ED)."""
        if pattern.search(query):
            return True
        return bool(
            self._any_case
            and written_as_is(entry.term)
            and phrase_pattern(entry.term, False).search(words)
            and self._any_case(entry.term)
        )

    def expand(self, query: str) -> list[str]:
        """Phrases to search for as well, in the order found; nothing the query already says."""
        added: list[str] = []
        seen = query.casefold()
        holds = self._holds or (lambda phrase: True)

        def add(phrase: str) -> None:
            nonlocal seen
            if not phrase_pattern(phrase, False).search(seen) and holds(phrase):
                added.append(phrase)
                seen += f" | {phrase.casefold()}"

        # A phrase can only match where a word of the query begins with its first letters; looking
        # those up first leaves a few of the thousand patterns to run (0.5 ms a query before).
        openings = _openings(query)
        forward = self._candidates(self._forward, self._forward_at, openings)
        words = query
        if self._any_case:
            for _, pattern, entry in forward:
                if " " in entry.term:
                    words = pattern.sub(" ", words)
        for _, pattern, entry in forward:
            if entry.expansions and self._names(pattern, entry, query, words):
                # The first of its expansions the index holds ("DVA": "domestic abuse", if no
                # passage writes "domestic violence and abuse").
                add(
                    next(
                        (phrase for phrase in entry.expansions if holds(phrase)),
                        entry.expansions[0],
                    )
                )
        for _, pattern, entry in self._candidates(self._reverse, self._reverse_at, openings):
            if pattern.search(query):
                add(entry.term)
                if entry.term == entry.term.lower() and entry.expansions:
                    add(
                        entry.expansions[0]
                    )  # a word for the same thing ("timeline" for "chronology")
        return added


def _places(rows: list[tuple[str, re.Pattern, Entry]]) -> dict[str, list[int]]:
    at: dict[str, list[int]] = {}
    for place, (opening, _, _) in enumerate(rows):
        at.setdefault(opening, []).append(place)
    return at


# A short form in brackets: "(MARAC)", "(CP-IS)", "(EHCPs)".
_SHORT_IN_BRACKETS = re.compile(r"\(\s*([A-Z][A-Za-z0-9&/-]{1,11}?)(s?)\s*\)")
_LONG_WORDS_BEFORE = re.compile(r"([\w'’&,/-]+[ \t]+){1,12}$")


def _is_short_form(text: str) -> bool:
    capitals = sum(c.isupper() for c in text)
    return (
        capitals >= 2
        and capitals * 2 >= len(text.replace("-", "").replace("&", ""))
        and not text.isdigit()
    )


# Words a long form may hold that its short form skips: "education, employment and training" (EET).
_SKIPPED = frozenset("a an and for in of on or the to with &".split())
_PUNCTUATION = " ,;:-'‘’\"“”"


def _by_initials(short: str, candidate: str) -> str | None:
    """The fewest last words of the candidate whose initials, minor words aside, spell the short
    form."""
    letters = [ch.lower() for ch in short if ch.isalnum()]
    words = candidate.split()
    for start in range(len(words) - 1, -1, -1):
        kept = [word.strip(_PUNCTUATION).lower() for word in words[start:]]
        initials = [word[:1] for word in kept if word and word not in _SKIPPED]
        if initials == letters and kept[0] not in _SKIPPED:
            return " ".join(words[start:]).strip(_PUNCTUATION)
        if len(initials) > len(letters):
            return None
    return None


def best_long_form(short: str, candidate: str) -> str | None:
    """The long form that a short form abbreviates, from the words before it, or None.

    First the words whose initials spell it; else Schwartz and Hearst, "A simple algorithm for
    identifying abbreviation definitions in biomedical text" (PSB 2003): match the short form's
    letters right to left in the candidate; its first letter must begin a word. (Their match is
    the shortest, which loses "education" from "education, employment and training (EET)".)
    """
    if by_initials := _by_initials(short, candidate):
        return by_initials
    s, c = len(short) - 1, len(candidate) - 1
    while s >= 0:
        letter = short[s].lower()
        if not letter.isalnum():
            s -= 1
            continue
        while c >= 0 and (
            candidate[c].lower() != letter or (s == 0 and c > 0 and candidate[c - 1].isalnum())
        ):
            c -= 1
        if c < 0:
            return None
        c -= 1
        s -= 1
    start = max(candidate.rfind(" ", 0, c + 1), candidate.rfind("\t", 0, c + 1)) + 1
    long = candidate[start:].strip(_PUNCTUATION)
    words = long.split()
    letters = sum(ch.isalnum() for ch in short)
    if (
        len(words) < 2
        or len(words) > min(letters + 5, letters * 2)
        or short.casefold() in long.casefold()
    ):
        return None
    return long


def definitions_in(text: str) -> Iterable[tuple[str, str]]:
    """(short form, long form) for each "Long Form Words (LFW)" the text contains."""
    for match in _SHORT_IN_BRACKETS.finditer(text):
        short = match.group(1)
        if not _is_short_form(short):
            continue
        before = text[: match.start()].rsplit("\n", 1)[-1]
        before = re.split(r"[.;:!?()]\s", before)[-1]
        words = _LONG_WORDS_BEFORE.search(before + " ")
        if not words:
            continue
        long = best_long_form(short, words.group(0).strip())
        if long:
            yield short, " ".join(long.split())


def learned_from(found: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, int]]:
    """(term, long form, documents defining it) from each (document, term, long form) a passage
    defines: each long form spelt as most passages spell it."""
    seen: dict[tuple[str, str], set[str]] = {}
    spelling: dict[tuple[str, str], Counter] = {}
    for document, short, long in found:
        key = (short, long.casefold())
        seen.setdefault(key, set()).add(document)
        spelling.setdefault(key, Counter())[long] += 1
    return [
        (short, spelling[(short, folded)].most_common(1)[0][0], len(documents))
        for (short, folded), documents in sorted(seen.items())
    ]


@lru_cache(maxsize=1)
def default_glossary() -> Glossary:
    return Glossary.load()


NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
UNITS = "year|years|month|months|week|weeks|day|days|hour|hours|times"  # ages, spans, counts
_NUMBER = re.compile(rf"\b(\d{{1,2}}|{'|'.join(NUMBER_WORDS)})(?:[\s-]+)({UNITS})\b", re.IGNORECASE)


def number_forms(query: str) -> list[str]:
    """A number and the word after it written the other way: "2 year olds" -> "two year", and
    "two-year-olds" -> "2 year", so digits and words meet."""
    forms = []
    for number, word in _NUMBER.findall(query):
        if number.isdigit():
            if int(number) < len(NUMBER_WORDS):
                forms.append(f"{NUMBER_WORDS[int(number)]} {word.lower()}")
        else:
            forms.append(f"{NUMBER_WORDS.index(number.lower())} {word.lower()}")
    return list(dict.fromkeys(forms))
