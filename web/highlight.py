"""Query words marked in a passage, with everything the passage holds escaped."""

from __future__ import annotations

import re
from collections.abc import Iterable

from markupsafe import Markup, escape

from kb.keyword import STOPWORDS  # the words the keyword search leaves out are not marked either
PREFIX_LENGTH = 4  # words this long also mark their longer forms ("hospital" marks "hospitals")


def query_pattern(phrases: Iterable[str]) -> re.Pattern | None:
    """One pattern for the words of the query and of what it was expanded to; None if nothing to mark."""
    words = {
        word.casefold()
        for phrase in phrases
        for word in re.findall(r"\w+", phrase)
        if len(word) > 1 and word.casefold() not in STOPWORDS
    }
    if not words:
        return None
    longest_first = sorted(words, key=lambda word: (-len(word), word))
    long = [re.escape(word) for word in longest_first if len(word) >= PREFIX_LENGTH]
    short = [re.escape(word) for word in longest_first if len(word) < PREFIX_LENGTH]
    parts = ([rf"(?:{'|'.join(long)})\w*"] if long else []) + ([rf"(?:{'|'.join(short)})\b"] if short else [])
    return re.compile(rf"\b(?:{'|'.join(parts)})", re.IGNORECASE)


def highlight(text: str, pattern: re.Pattern | None) -> Markup:
    """The text escaped, with each match wrapped in <mark>.

    The text is split on the matches first and each piece escaped, so a match can never fall
    inside an entity such as &amp; and no tag in the text survives.
    """
    if pattern is None:
        return escape(text)
    pieces, last = [], 0
    for match in pattern.finditer(text):
        pieces.append(escape(text[last : match.start()]))
        pieces.append(Markup("<mark>%s</mark>") % match.group())
        last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)
