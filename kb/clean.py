"""Pure text clean-up: HTML left by extraction, bullets, hyphenation, running headers."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Collection

# Element names only: "<18s>" or "a < b" in a report is text, not a tag.
HTML_TAGS = frozenset(
    """a abbr b big blockquote body br caption center cite code col colgroup dd del div dl dt em
    font h1 h2 h3 h4 h5 h6 head hr html i iframe img ins kbd li link meta nav ol option p pre q s
    script section small span strike strong style sub sup table tbody td tfoot th thead title tr
    tt u ul""".split()
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b(?:[^<>\"']|\"[^\"]*\"|'[^']*')*>")
_BLOCK_TAGS = frozenset("p div br li ul ol tr table h1 h2 h3 h4 h5 h6 blockquote section".split())

BULLET_CHARS = "•●▪◼■◦‣∙"
# Bullets drawn in a symbol font come through extraction as a private-use character (Wingdings'
# and Symbol's U+F06E, U+F02D, U+F0A7…), as a delete character, or as an arrow or a shape. At the
# start of a line, before text, any of them is a bullet, written "• ".
_SYMBOL_BULLET = re.compile(
    "^([ \t]*)[\ue000-\uf8ff\x7f●▪◼■◦‣∙➢➤►▶❖◆◇○□✓✔⁃][ \t]*(?=\\S)", re.MULTILINE
)
_INLINE_BULLET = re.compile(rf"[ \t]*[{BULLET_CHARS}][ \t]*")
BULLET_START = re.compile(rf"^\s*(?:[{BULLET_CHARS}]|[-–*](?=\s))\s*")
NUMBERED_START = re.compile(r"^\s*\(?(\d{1,3}|[a-z])[.)]\s+(?=\S)")

_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.IGNORECASE)


def strip_html(text: str) -> str:
    """Remove HTML tags and entities, keeping the words; block tags become line breaks."""

    def tag(match: re.Match) -> str:
        name = match.group(2).lower()
        if name not in HTML_TAGS:
            return match.group(0)
        if name == "li" and not match.group(1):
            return "\n• "
        return "\n" if name in _BLOCK_TAGS else ""

    # Words between <script> tags stay as words: pages escape them, and nothing runs them.
    text = _TAG.sub(tag, text)
    return html.unescape(text)


def split_inline_bullets(text: str) -> str:
    """Put each '•'-style bullet at the start of its own line, written as '- '."""
    return _INLINE_BULLET.sub("\n- ", text)


# A broken font map can make a lone surrogate, which the tokenizer and the store refuse.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def normalise_whitespace(text: str) -> str:
    """One space for each run of spaces and tabs, '\\n' for each line end, U+FFFD for a lone
    surrogate."""
    text = (
        text.replace("\u00a0", " ").replace("\u200b", "").replace("\r\n", "\n").replace("\r", "\n")
    )
    text = _LONE_SURROGATE.sub("\ufffd", text)
    return re.sub(r"[ \t\f\v]+", " ", text)


def symbol_bullets(text: str) -> str:
    """A bullet a symbol font drew at the start of a line, written "• "."""
    return _SYMBOL_BULLET.sub(r"\1• ", text)


FOOTNOTE_START = re.compile(r"^\s*(\d{1,3})\s+\S")


def footnote_number(line: str) -> int | None:
    """The number a footnote line opens with ("6 See the statutory guidance" -> 6), or None."""
    match = FOOTNOTE_START.match(line)
    return int(match.group(1)) if match else None


def strip_footnote_marks(text: str, numbers: set[int], acronyms: Collection[str] = ()) -> str:
    """Drop footnote marks that text extraction glued to the word before them ("duty3" -> "duty").

    Only the numbers of footnotes on the same page; after a lower-case letter or closing
    punctuation, or after an acronym the document also writes bare ("DPIA23" where it writes
    "DPIA"), so that "GCP2", "Year 11" and "s47" stay as written.
    """
    if not numbers:
        return text

    def unglue(match: re.Match) -> str:
        return match.group(1) if int(match.group(2)) in numbers else match.group(0)

    def unglue_acronym(match: re.Match) -> str:
        glued = int(match.group(2)) in numbers and match.group(1) in acronyms
        return match.group(1) if glued else match.group(0)

    text = _GLUED_MARK.sub(unglue, text)
    return _GLUED_ACRONYM_MARK.sub(unglue_acronym, text) if acronyms else text


_GLUED_MARK = re.compile(
    r"(?<=[a-z])([a-z][.,;:)’'\"]{0,2}|[.,;:)’'\"]{1,2})(\d{1,3})(?![\w.,]\d)(?!\w)"
)
_ACRONYM = r"[A-Z]{2,}s?"  # "DPIA", "DSAs"
_GLUED_ACRONYM_MARK = re.compile(rf"\b({_ACRONYM})(\d{{1,3}})\b")


def acronyms(text: str) -> set[str]:
    """The acronyms a text writes bare, with no digits after them."""
    return set(re.findall(rf"\b{_ACRONYM}\b", text))


def is_page_number(line: str) -> bool:
    return bool(_PAGE_NUMBER.match(line))


def header_key(line: str) -> str:
    """A line's identity as a running header: case, spacing and numbers ignored."""
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", line.strip().lower()))


def running_lines(pages: list[list[str]], zone: int = 3, min_pages: int | None = None) -> set[str]:
    """Header keys of lines that open or close many pages: running headers and footers."""
    if min_pages is None:
        min_pages = 2 if len(pages) <= 5 else 3
    top: Counter[str] = Counter()
    bottom: Counter[str] = Counter()
    for lines in pages:
        kept = [line for line in lines if line.strip()]
        top.update({header_key(line) for line in kept[:zone]})
        bottom.update({header_key(line) for line in kept[-zone:]})
    found = {key for key, count in (top + bottom).items() if count >= min_pages and key}
    return {key for key in found if top[key] >= min_pages or bottom[key] >= min_pages}


def join_hyphenated(left: str, right: str, vocabulary: set[str]) -> str:
    """Join a line ending in a hyphen to the next: 'safe-' + 'guarding' or
    'information-' + 'sharing'.

    The hyphen goes only where the document itself writes the joined word without it.
    """
    left = left.rstrip()
    word_start = re.search(r"(\w+)-$", left)
    next_word = re.match(r"(\w+)", right.lstrip())
    if word_start and next_word:
        joined = (word_start.group(1) + next_word.group(1)).lower()
        hyphenated = f"{word_start.group(1)}-{next_word.group(1)}".lower()
        if joined in vocabulary and hyphenated not in vocabulary:
            return left[:-1] + right.lstrip()
    return left + right.lstrip()


def join_lines(left: str, right: str, vocabulary: set[str]) -> str:
    """Two lines as one: a word hyphenated at the first's end is joined (join_hyphenated), a dash
    ("a -") is not a hyphen, and otherwise one space stands between them."""
    if left.rstrip().endswith("-") and not left.rstrip().endswith(" -"):
        return join_hyphenated(left, right, vocabulary)
    return f"{left.rstrip()} {right.lstrip()}"


def words(text: str) -> list[str]:
    """A text's words in order, case aside: what two headings or names are compared by."""
    return re.findall(r"\w+", text.casefold())


def name_words(text: str) -> tuple[str, ...]:
    """A name's words in any order and case: "Bristol, City of" and "City of Bristol" are one."""
    return tuple(sorted(words(text)))


# A letter split from the rest of its word ("s tatutory", "C hildren"); "a" and "I" are words.
_SPLIT_WORD = re.compile(r"\b([b-hj-zB-HJ-Z]) ([a-z]{3,})\b")


def split_words(text: str) -> dict[str, str]:
    """{"s tatutory": "statutory"}: words a PDF's text layer broke after their first letter.

    Only where the document also writes the whole word, and never writes the rest of it alone.
    """
    words = Counter(re.findall(r"\w+", text.lower()))
    found = list(_SPLIT_WORD.finditer(text))
    rests = Counter(match.group(2) for match in found)
    joins = {}
    for match in found:
        whole = match.group(1) + match.group(2)
        if words[whole.lower()] and words[match.group(2)] == rests[match.group(2)]:
            joins[match.group(0)] = whole
    return joins


def join_split_words(text: str, joins: dict[str, str]) -> str:
    """The text with each split that split_words found made whole again."""
    if not joins:
        return text
    return _SPLIT_WORD.sub(lambda match: joins.get(match.group(0), match.group(0)), text)


def vocabulary(text: str) -> set[str]:
    """Lower-cased words and hyphenated compounds as a document spells them."""
    return set(re.findall(r"\w+(?:-\w+)*", text.lower())) | set(re.findall(r"\w+", text.lower()))


_TERMINAL = tuple(".!?:;)\"”’'")


def continues(previous: str, following: str) -> bool:
    """Whether `following` carries on the sentence that `previous` left open (a page break cut
    it)."""
    previous, following = previous.rstrip(), following.lstrip()
    if not previous or not following or previous.endswith(_TERMINAL):
        return False
    if BULLET_START.match(following) or NUMBERED_START.match(following):
        return False
    return following[0].islower() or previous.endswith((",", "-", "–", "/", "&"))


def ends_sentence(text: str) -> bool:
    return text.rstrip().endswith(_TERMINAL)


# Markdown's emphasis marks, as the reports' text holds them ("**training programme**", "*MECC*"),
# and a line's bullet ("- ", "* ").
EMPHASIS = re.compile(r"\*\*|__|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)")
_LINE_BULLET = re.compile(r"^[ \t]*[-*•▪◦][ \t]+", re.MULTILINE)


def without_markup(text: str) -> str:
    """Text as a reader should see it: emphasis marks gone, each line's bullet written "• "."""
    return EMPHASIS.sub("", _LINE_BULLET.sub("• ", text))
