"""Query words marked in a passage, with everything the passage holds escaped.

A word is marked when the keyword search would match it: the same tokenizer reads both (SQLite's
Porter stemmer over unicode61), so "assessments" marks "assessment", and "part" does not mark
"participation".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from markupsafe import Markup, escape

from kb.keyword import (
    STOPWORDS,
    Tokenizer,
)  # the words the keyword search leaves out are not marked either

WORD = re.compile(
    r"[^\W_]+"
)  # a word as unicode61 reads one: letters and digits, "_" between words


class Stems:
    """Each word's stem as the keyword index has it, remembered (a search's passages repeat their
    words)."""

    def __init__(self, remembered: int = 100_000) -> None:
        self._tokenizer = Tokenizer()
        self._lock = threading.Lock()
        self._known: dict[str, str] = {}
        self._remembered = remembered

    def of(self, words: Iterable[str]) -> dict[str, str]:
        words = set(words)
        missing = [word for word in words if word not in self._known]
        if missing:
            with self._lock:
                if len(self._known) + len(missing) > self._remembered:
                    self._known.clear()
            tokens = self._tokenizer.tokens(missing)
            self._known.update(
                {word: found[-1] if found else "" for word, found in zip(missing, tokens)}
            )
        return {word: self._known.get(word, "") for word in words}


STEMS = Stems()


def query_pattern(phrases: Iterable[str]) -> frozenset[str] | None:
    """The stems of the words of the query and of what it was expanded to; None if nothing to
    mark."""
    words = [
        word
        for phrase in phrases
        for word in WORD.findall(phrase)
        if len(word) > 1 and word.casefold() not in STOPWORDS
    ]
    stems = frozenset(stem for stem in STEMS.of(words).values() if stem)
    return stems or None


def highlight(text: str, stems: frozenset[str] | None) -> Markup:
    """The text escaped, with each word whose stem is the query's wrapped in <mark>.

    The text is split on the words first and each piece escaped, so a mark can never fall inside
    an entity such as &amp; and no tag in the text survives.
    """
    if not stems:
        return escape(text)
    found = list(WORD.finditer(text))
    stem_of = STEMS.of(match.group() for match in found)
    pieces, last = [], 0
    for match in found:
        if stem_of[match.group()] in stems:
            pieces.append(escape(text[last : match.start()]))
            pieces.append(Markup("<mark>%s</mark>") % match.group())
            last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)
