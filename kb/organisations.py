"""Names of organisations: which heading names one, and which names are one organisation's.

A partnership's report names each partner agency in a running header, or in a heading over its
part ("Bedfordshire Hospitals NHS Foundation Trust", "3.2 Cambridgeshire Community Services NHS
Trust"). A heading names an organisation when it reads as a name, holds a word that says what an
organisation is (trust, council, police, services…), and holds a word that is a name, not a
common word: one the document never writes in lower case ("Bedfordshire", "London"), or an
acronym the glossary spells out as an organisation ("ELFT"). So "Early Help Service" and
"Multi-Agency Safeguarding Hub" are topics, and "Luton Borough Council" an organisation.

Variants of one name ("Bedfordshire Hospitals NHS Foundation Trust", "Bedfordshire Hospitals",
"BHFT") share a key: its words but the few that variants add or drop (NHS, Foundation, Trust),
singular, with an acronym read as what the glossary says it stands for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Words that say what an organisation is. A name needs one of them to be an organisation's.
KIND_WORDS = frozenset(
    """trust council police constabulary service services board partnership authority department
    office agency commission ministry hospital hospitals nhs icb ccg school college university
    government institute ofsted probation foundation borough county""".split()
)
# Words that say what an organisation is or does, not which one it is: left out of a name's key.
GENERIC_WORDS = KIND_WORDS | frozenset(
    """the of and for in at on & community health care social children families education
    safeguarding local integrated city district metropolitan royal national""".split()
)
SMALL_WORDS = frozenset("of and for the in at on to & de".split())
# Words variants of one name add or drop ("Bedfordshire Hospitals NHS Foundation Trust",
# "Bedfordshire Hospitals"): left out of a name's key. Every other word counts, so "Luton Borough
# Council" and "Luton Safeguarding Children Partnership", or "Bedfordshire Police" and
# "Bedfordshire Hospitals", stay apart.
FILLER_WORDS = SMALL_WORDS | frozenset("nhs foundation trust limited ltd plc cic".split())
MAX_WORDS = 12  # a heading longer than this is a sentence, not a name

# "3.2 ", "3.2.1. ", "Section 3: ", "Chapter 2 – ", "Part B. ": numbering before a heading's words.
_NUMBERING = re.compile(
    r"^\s*(?:(?:section|chapter|part|appendix)\s+)?(?:\d+(?:\.\d+)*|[A-Z]|[ivxlc]+)[.):]?\s*[–—:-]?\s+",
    re.IGNORECASE,
)
# A contents line: dot leaders before a page number.
_CONTENTS_LINE = re.compile(r"(?:(?:\.\s?){4,}|…+)\s*\d{1,4}\s*$")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’&-]*")
_ACRONYM = re.compile(r"^[A-Z][A-Z&]{1,7}s?$")


def named_in(text: str, organisation: str) -> bool:
    """Whether a text (a report's title) names the organisation by a word of its own name:
    "Inspection of Haringey local authority children's services" names the London Borough of
    Haringey; "Inspection of children's social care services" names no one."""
    own = {word.casefold() for word in _WORD.findall(organisation)} - GENERIC_WORDS - FILLER_WORDS
    return bool(own & {word.casefold() for word in _WORD.findall(text)})


def strip_numbering(heading: str) -> str:
    """A heading without the number before it: "3.2 Cambridgeshire…" -> "Cambridgeshire…"."""
    return _NUMBERING.sub("", heading, count=1).strip()


def is_contents_line(line: str) -> bool:
    """A line of a contents page: an entry, dot leaders and a page number."""
    return bool(_CONTENTS_LINE.search(line)) and bool(re.search(r"[A-Za-z]", line))


def lower_case_words(text: str) -> set[str]:
    """The words a text writes in lower case somewhere: common words, not names."""
    return {word for word in _WORD.findall(text) if word[0].islower()}


class Organisations:
    """Recognises organisations in headings, and tells which names are one organisation's.

    acronyms: {acronym: what it stands for}, from the glossary and the documents' own definitions;
    only those that stand for an organisation are kept.
    """

    def __init__(
        self, acronyms: Mapping[str, Iterable[str]] | None = None, known: Iterable[str] = ()
    ) -> None:
        self.acronyms: dict[str, tuple[str, ...]] = {}
        for acronym, expansions in (acronyms or {}).items():
            named = tuple(e for e in expansions if _kind_words(e))
            if named and _ACRONYM.match(acronym):
                self.acronyms[acronym] = named
        # Organisations the corpus already names (its indexed agencies): a variant of one of these
        # names it, and is cited by the name already in use, so one organisation is one agency.
        self.known: dict[frozenset[str], str] = {}
        for name in known:
            if self.key(name):
                self.known.setdefault(self.key(name), name)

    @classmethod
    def default(cls, known: Iterable[str] = ()) -> Organisations:
        """Acronyms from kb/data/glossary.tsv; known names from the caller (an index's agencies)."""
        from kb.vocabulary import default_glossary

        entries = default_glossary().entries
        return cls({entry.term: entry.expansions for entry in entries}, known)

    def canonical(self, name: str) -> str:
        """The name the corpus already uses for this organisation, else the name given."""
        return self.known.get(self.key(name), name)

    def named_in(self, heading: str, common: set[str]) -> str:
        """The organisation a heading names, as the heading writes it (without numbering); "" if
        none.

        common: the words the document writes in lower case.
        """
        name = strip_numbering(heading).strip(" .:;–—-")
        words = _WORD.findall(name)
        if not words or len(words) > MAX_WORDS or is_contents_line(heading):
            return ""
        if re.search(r"[.!?;]\s|[.!?;]$|,", name) or not name[0].isupper():
            return ""
        if len(words) == 1 and words[0].rstrip("s") in self.acronyms:
            return name
        # A name: every word but the small ones starts with a capital.
        if any(word[0].islower() and word.lower() not in SMALL_WORDS for word in words):
            return ""
        if self.key(name) in self.known and (len(words) > 1 or _ACRONYM.match(name)):
            return name
        if not _kind_words(name):
            return ""
        proper = [
            word
            for word in words
            if word.lower() not in GENERIC_WORDS
            and (word.lower() not in common or word in self.acronyms or _ACRONYM.match(word))
        ]
        return name if proper else ""

    def looks_like_one(self, heading: str) -> bool:
        """A heading that may name an organisation though the document's words say it does not:
        a name in capitals, with a word for what an organisation is, and another word besides."""
        name = strip_numbering(heading).strip(" .:;–—-")
        words = _WORD.findall(name)
        return (
            0 < len(words) <= MAX_WORDS
            and not is_contents_line(heading)
            and all(word[0].isupper() or word.lower() in SMALL_WORDS for word in words)
            and bool(_kind_words(name))
            and any(word.lower() not in GENERIC_WORDS for word in words)
        )

    def key(self, name: str) -> frozenset[str]:
        """What variants of one organisation's name share: its name words, acronyms spelled out."""
        found: set[str] = set()
        inside = re.findall(r"\(([^)]*)\)", name)
        outside = re.sub(r"\([^)]*\)", " ", name)
        for part in [outside, *inside]:
            for word in _WORD.findall(part):
                if word.lower() in FILLER_WORDS:
                    continue
                expansions = self.acronyms.get(word) or self.acronyms.get(word.rstrip("s"))
                if expansions:
                    found |= _key_words(expansions[0])
                else:
                    found |= _key_words(word)
            if found and part is outside:
                break  # "East London NHS Foundation Trust (ELFT)": the name outside says it all
        return frozenset(found)

    def aliases(self, name: str) -> set[str]:
        """The acronyms that stand for this organisation ("ELFT" for "East London NHS Foundation
        Trust")."""
        key = self.key(name)
        return {
            acronym
            for acronym, expansions in self.acronyms.items()
            if key and any(_key_words(expansion) == key for expansion in expansions)
        }

    def same(self, one: str, other: str) -> bool:
        key = self.key(one)
        return bool(key) and key == self.key(other)


def _kind_words(name: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(name)} & KIND_WORDS


def _key_words(name: str) -> frozenset[str]:
    """A name's words as its key reads them: lower case, singular, fillers left out."""
    words = (word.lower().rstrip("’'") for word in _WORD.findall(name))
    return frozenset(
        word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word
        for word in words
        if word not in FILLER_WORDS
    )
