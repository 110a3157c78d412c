"""Pages in, cited chunks out: paragraphs and bullet lists under their headings, within the model's
reach."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property

from kb import clean, grades
from kb.errors import UnreadableDocument
from kb.grades import Table, grade_table
from kb.ingest import COVER_LINE, Document, Line
from kb.organisations import (
    Organisations,
    is_contents_line,
    lower_case_words,
    strip_numbering,
)
from kb.passage import Chunk, Citation, embedding_text

# Bump when chunk boundaries or chunk text change: an index built by another version is refused
# (and rebuilt by reindex). 2: footnote marks glued to words are dropped; 3: "s tatutory" made
# whole, "DPIA23" too; 4: a long paragraph's pieces cite their own pages; 5: "-5" and "**bold**" are
# not bullets, a first line is a title only if it looks like one, an overlong agency is shortened, a
# list's lead-in is never a passage on its own, "3. Ground C" and Markdown's headings are headings,
# a bullet set small is not a footnote, a heading with no text under it (closing a document, or
# replaced by the next) is kept as text.
# 6: a bullet a symbol font drew is a list item; a heading that names a partner agency makes its
# part that agency's; a contents entry is not a heading. 7: passages carry their document's date
# and collection, and whether they are standard text. 8: an inspection's grade table is also a
# passage of its own (kb/grades.py). 9: a running header is the same header whatever page number
# stands beside it, and a report's title ("Inspection of…") in one names no agency. 10: "Inspection
# of the Isle of Wight…" names it, and an older title page names its council below the title.
# 11: an older report's overall judgement heads its grade table's passage however it is set.
# 12: a grade table's lines are that passage's alone: the summary after them is not cited under
# the table's head ("Judgement Grade") nor read with its rows. 13: an older inspection's title is
# the report's ("Inspection of children's social care services"), not its council's name set large
# above it, nor a page number; neither it, the council's name nor its cover lines ("Inspection
# dates: …") head sections. 14: a council's name as a register sorts it is read in order ("Bristol,
# City of" is the City of Bristol); a title's words hyphenated at a line's end are one word.
# 15: a heading's label set at the body's size ("The impact of leaders on…:") heads the section
# with the value set large after it ("requires improvement to be good"), not the value alone;
# "topic: value" headings that open alike are siblings whatever their sizes; a heading the document
# sets alone ("Executive summary") is not read as the end of the heading line above it.
CHUNKER_VERSION = "15"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 reads 256 word pieces, [CLS] and [SEP] included
TARGET_TOKENS = 160  # a passage a practitioner can read at a glance; the model's training length

TokenCounter = Callable[[str], int]
CONTENTS_HEADINGS = ("contents", "table of contents")


def contents_pages(document: Document) -> set[int]:
    """The pages that hold a contents list: a "Contents" line stands on them."""
    return {
        page.number
        for page in document.pages
        if any(line.text.strip().lower() in CONTENTS_HEADINGS for line in page.lines)
    }


_PAGE_AT_END = re.compile(r"\D\s\d{1,3}$")


def is_contents_entry(line: Line, page: int, contents: set[int]) -> bool:
    """A line of a contents list: dot leaders and a page number anywhere, or, on a contents page,
    a title ending in a page number ("Information about this inspection 7")."""
    text = line.text.strip()
    return is_contents_line(text) or (page in contents and bool(_PAGE_AT_END.search(text)))


def collection_of(document: str) -> str:
    """The collection a document is in: the folder under the corpus it stands in ("inspections"),
    "" for one at the corpus's top."""
    return document.split("/", 1)[0] if "/" in document else ""


def chunk_id(document: str, position: int) -> str:
    return hashlib.sha1(f"{document}\x00{position}".encode()).hexdigest()[:16]


@dataclass
class Block:
    """A paragraph, bullet or footnote, joined across line and page breaks."""

    kind: str  # para | bullet | footnote
    text: str
    page: int
    agency: str
    section: str
    page_end: int = 0
    # Where the block runs onto a new page: (non-space characters before that page's first one,
    # page).
    breaks: list[tuple[int, int]] = field(default_factory=list)

    @property
    def lead_in(self) -> bool:
        return self.kind != "footnote" and self.text.rstrip().endswith(":")

    def page_at(self, offset: int) -> int:
        """The page the block's non-space character number `offset` (from 0) is on."""
        page = self.page
        for at, number in self.breaks:
            if at <= offset:
                page = number
        return page


@dataclass
class _Outline:
    """The headings above the current line, nested by size where the document has sizes."""

    title: str
    # The document's organisation: a title page's name for it, set large ("Leeds City Council"),
    # says whose the document is, not what a passage is on.
    organisation: str = ""
    path: list[tuple[float, str]] = field(default_factory=list)
    after_heading: bool = False
    front: set[str] = field(
        default_factory=set
    )  # a cover page's lines: the document's, not a section's
    in_front_matter: bool = False
    # Headings that name the agency a part is from: the passages' agency, not their section.
    agencies: set[str] = field(default_factory=set)
    # Headings the document sets alone elsewhere: one never continues the heading line above it.
    alone: set[str] = field(default_factory=set)

    def add(self, text: str, level: float, wrapped: bool) -> None:
        if self.in_front_matter:
            self.front.add(text)
        if wrapped and self.after_heading and self.path and self.path[-1][0] == level:
            if text in self.alone:
                # Set alone elsewhere ("Executive summary"), it heads the part under the line
                # above, at that line's size: "The LSCB is good › Executive summary".
                self.path.append((level, text))
            else:
                self.path[-1] = (level, f"{self.path[-1][1]} {text}")  # a heading over lines
                if self.in_front_matter:
                    self.front.add(self.path[-1][1])
        elif level:
            while self.path and self.path[-1][0] <= level:
                self.path.pop()
            if self.path and _siblings(self.path[-1][1], text):
                self.path.pop()  # a sibling set at another size ("The experiences and progress…")
            self.path.append((level, text))
        elif self.after_heading:
            self.path.append(
                (level, text)
            )  # text extraction has no sizes: a heading under a heading
        else:
            self.path = [(level, text)]
        self.after_heading = True

    @property
    def section(self) -> str:
        return self.section_of(self.path)

    @cached_property
    def _document_names(self) -> tuple[tuple[str, ...], ...]:
        return clean.name_words(self.title), clean.name_words(self.organisation)

    def _names_document(self, text: str) -> bool:
        """Whether a heading is the document's title or its organisation's name, in any order of
        the words ("Bristol City of" is the City of Bristol)."""
        words = clean.name_words(text)
        return bool(words) and words in self._document_names

    def section_of(self, path: list[tuple[float, str]]) -> str:
        return " › ".join(
            text
            for _, text in path
            if not self._names_document(text)
            and text not in self.front
            and text not in self.agencies
            and not COVER_LINE.match(text)
        )


SIBLING_WORDS = 4  # "topic: value" headings that open with as many words alike are siblings


def _siblings(above: str, heading: str) -> bool:
    """Whether a heading set smaller than the one above it is its sibling, not its child: Ofsted
    sets "The experiences and progress of children who need help and protection: inadequate" at
    14 points and "The experiences and progress of children in care: good" under it at 12. Both
    are "topic: value", and their topics open alike."""
    if ":" not in above or ":" not in heading:
        return False
    first = clean.words(above)[:SIBLING_WORDS]
    return len(first) == SIBLING_WORDS and clean.words(heading)[:SIBLING_WORDS] == first


LABEL_WORDS = 25  # a paragraph longer than this ending with a colon introduces what follows
VALUE_WORDS = 6  # "requires improvement to be good"


def blocks(document: Document, organisations: Organisations | None = None) -> list[Block]:
    """Join lines into paragraphs and bullets; a sentence a page break cut is made whole again.
    Each block's agency is its part's where a heading names one (see agency_headings)."""
    return _Reading(document, organisations or Organisations.default()).blocks()


@dataclass(frozen=True)
class AgencyHeadings:
    """Which headings of a document name the agency a part of it is from, and by what name."""

    level: float | None  # the heading level they stand at; None: the document has none
    names: dict[frozenset[str], str]  # an organisation's key -> the name its passages are cited by

    def named(
        self, organisations: Organisations, heading: str, level: float, common: set[str]
    ) -> str:
        """The agency a settled heading names, or ""."""
        if self.level is None or level != self.level:
            return ""
        name = organisations.named_in(heading, common)
        return self.names.get(organisations.key(name), "") if name else ""


def agency_headings(document: Document, organisations: Organisations) -> AgencyHeadings:
    """The headings that name partner agencies: at the highest heading level where two or more
    organisations are named, so a partner's part is headed by its name ("Bedfordshire Hospitals
    NHS Foundation Trust", "3.2 Cambridgeshire Community Services NHS Trust") while an
    organisation named deeper down ("St Giles Trust", under a partner's section) is a topic.

    None where running headers already name the agencies (they change from page to page)."""
    header_agencies = {line.agency for page in document.pages for line in page.lines if line.agency}
    if len(header_agencies) > 1:
        return AgencyHeadings(None, {})
    common = organisations_common(document)
    contents = contents_pages(document)
    found: dict[float, dict[frozenset[str], list[str]]] = {}
    for page in document.pages:
        for line in page.lines:
            if line.kind != "heading" or is_contents_entry(line, page.number, contents):
                continue
            name = organisations.named_in(line.text, common)
            if name:
                at_level = found.setdefault(line.level, {})
                at_level.setdefault(organisations.key(name), []).append(name)
    levels = [level for level, named in found.items() if len(named) >= 2]
    if not levels:
        return AgencyHeadings(None, {})
    level = max(levels)
    names = {
        key: organisations.known.get(key) or max(variants, key=len)
        for key, variants in found[level].items()
    }
    return AgencyHeadings(level, names)


def agency_doubt(
    document: Document, chunks: list[Chunk], organisations: Organisations
) -> list[str]:
    """Headings at one level that look like several organisations' names, in a document whose
    passages all went to one agency: partners' parts kb could not tell apart, for an administrator
    to look at. (A title and a section that name two organisations are not partners' parts.)"""
    if len({chunk.agency for chunk in chunks}) != 1:
        return []
    found: dict[float, dict[frozenset[str], str]] = {}
    contents = contents_pages(document)
    for page in document.pages:
        for line in page.lines:
            if line.kind != "heading" or is_contents_entry(line, page.number, contents):
                continue
            if organisations.looks_like_one(line.text):
                name = strip_numbering(line.text)
                found.setdefault(line.level, {}).setdefault(organisations.key(name), name)
    alike = [list(names.values()) for names in found.values() if len(names) >= 2]
    return max(alike, key=len) if alike else []


def organisations_common(document: Document) -> set[str]:
    """The words a document writes in lower case: what a name of its is not made of."""
    return lower_case_words(document.text)


class _Reading:
    """One pass over a document's lines. Heading lines wait (`pending`) until the line after them
    says whether they were a heading or emphasised prose; text lines join the open block or start
    one."""

    def __init__(self, document: Document, organisations: Organisations) -> None:
        self.document = document
        self.organisations = organisations
        self.contents = contents_pages(document)
        self.headings = agency_headings(document, organisations)
        self.common = organisations_common(document) if self.headings.level is not None else set()
        self.agency = ""  # the agency the heading over this part names; "" where none does
        self.words = clean.vocabulary(document.text)
        self.joins = clean.split_words(document.text)
        self.outline = _Outline(document.title, document.organisation)
        self.out: list[Block] = []
        self.current: Block | None = None
        self.footnote: Block | None = None
        self.pending: list[tuple[int, Line]] = []  # heading lines not yet known to be a heading
        # The last line, if it ends with a colon and may be the label of a heading set larger after
        # it; with its block, and that block's text before it (None where the line began it).
        self.label: tuple[int, Line, Block, str | None] | None = None
        self.outline.alone = _headings_alone(document)
        self.unused: list[tuple[int, Line]] = []  # headings no text has followed yet
        # A Markdown heading is one because its writer said so.
        self.marked_up = document.name.lower().endswith(".md")
        self.paragraph_break = self.page_break = False

    def blocks(self) -> list[Block]:
        document = self.document
        # A PDF whose first page holds only headings opens with a cover: title, subtitle, date.
        self.outline.in_front_matter = document.wrapped and not any(
            line.kind == "text" for line in (document.pages[0].lines if document.pages else [])
        )
        for page in document.pages:
            self.new_page(page.number)
            for line in page.lines:
                self.line(page.number, line)
        self.settle(None)
        for number, line in list(self.unused):  # headings closing the document over nothing
            self.text_line(number, Line(line.text, "text", 0.0, line.agency))
        self.flush(self.current)
        self.flush(self.footnote)
        return self.out

    def new_page(self, number: int) -> None:
        self.settle(None)
        self.page_break = number > 1
        if self.page_break:
            self.outline.in_front_matter = False
        self.flush(self.footnote)
        self.footnote = None

    def line(self, number: int, line: Line) -> None:
        if line.kind in ("heading", "text") and (
            is_contents_entry(line, number, self.contents)
            or line.text.strip().lower() in CONTENTS_HEADINGS
        ):
            # A contents page says where a part is, not what it says; its heading heads nothing.
            self.settle(None)
            self.outline.after_heading = False
            return
        if line.kind == "heading":
            last = self.pending[-1][1] if self.pending else None
            if last is not None and (
                last.level != line.level
                or not self.document.wrapped
                or line.text in self.outline.alone
            ):
                self.settle(line)
            if not self.pending:
                self.take_label(number, line)
            self.pending.append((number, line))
        elif line.kind == "blank":
            self.settle(None)
            self.paragraph_break = True
        else:
            self.settle(line)
            if line.kind == "footnote":
                self.footnote_line(number, line)
            else:
                self.text_line(number, line)

    def take_label(self, page: int, heading: Line) -> None:
        """A line ending with a colon that starts a paragraph or follows a sentence's end, then a
        short heading on the same page, is that heading's label set at the body's size: the two
        are one heading ("The impact of leaders on…:" then, large, "requires improvement to be
        good")."""
        label, self.label = self.label, None
        if (
            label is None
            or not heading.level
            or len(heading.text.split()) > VALUE_WORDS
            # A heading of its own ("School attendance order") is not a label's value.
            or heading.text in self.outline.alone
        ):
            return
        number, line, block, before = label
        if block is not self.current or number != page:
            return
        if before is None:
            self.current = None  # never flushed: its words head the section
        else:
            block.text = before  # the paragraph it closed stays as it was
        self.pending.append((number, Line(line.text, "heading", heading.level, line.agency)))

    def flush(self, block: Block | None) -> None:
        if block and block.text.strip():
            block.text = clean.join_split_words(block.text, self.joins)
            self.out.append(block)

    def footnote_line(self, number: int, line: Line) -> None:
        if self.footnote and not re.match(r"^\d{1,3}\s", line.text):
            self.footnote.text = clean.join_lines(self.footnote.text, line.text, self.words)
        else:
            self.flush(self.footnote)
            agency = self.agency or line.agency
            self.footnote = Block("footnote", line.text, number, agency, self.outline.section)

    def text_line(self, number: int, line: Line) -> None:
        starts_item = bool(
            clean.BULLET_START.match(line.text) or clean.NUMBERED_START.match(line.text)
        )
        current = self.current
        if current is None:
            join = False
        elif self.page_break:
            join = clean.continues(current.text, line.text)
        else:
            join = self.document.wrapped and not self.paragraph_break and not starts_item
        before = current.text if current is not None and join else None
        if current is not None and join:
            current.text = clean.join_lines(current.text, line.text, self.words)
            if number != current.page_end:
                current.breaks.append((_non_space(current.text) - _non_space(line.text), number))
            current.page_end = number
        else:
            self.flush(current)
            kind = "bullet" if starts_item else "para"
            section = self.outline.section
            agency = self.agency or line.agency
            self.current = Block(kind, _bullet(line.text), number, agency, section, number)
        self.label = None
        if (
            self.current is not None
            and not starts_item
            and line.text[:1].isupper()
            and line.text.rstrip().endswith(":")
            and len(line.text.split()) <= LABEL_WORDS
            and (clean.ends_sentence(before) if before is not None else self.paragraph_break)
        ):
            self.label = (number, line, self.current, before)
        self.outline.after_heading = False
        self.paragraph_break = self.page_break = False
        self.unused.clear()

    def settle(self, following: Line | None) -> None:
        """Pending heading lines become a heading, or, if they read as emphasised prose, text."""
        if not self.pending:
            return
        if self.reads_as_prose(following):
            for number, line in self.pending:
                self.text_line(number, Line(line.text, "text", 0.0, line.agency))
        else:
            self.heading()
        self.pending.clear()

    def reads_as_prose(self, following: Line | None) -> bool:
        text = " ".join(line.text for _, line in self.pending)
        # "3. Ground C" is a heading, not two sentences.
        unnumbered = clean.NUMBERED_START.sub("", text, count=1)
        return not self.marked_up and bool(
            len(text.split()) > 20
            or re.search(r"[.!?]\s+\S", unnumbered)
            or text.endswith(".")
            or (following is not None and following.kind == "text" and following.text[:1].islower())
        )

    def heading(self) -> None:
        self.flush(self.current)
        self.current = None
        outline = self.outline
        before = list(outline.path)
        for _, line in self.pending:
            outline.add(line.text, line.level, self.document.wrapped)
        # A heading that a new one replaces before any text came under it ("You can be confident
        # in sharing…", a callout set as a heading) would be lost: it is kept as text where it
        # stood.
        kept = " ".join(text for _, text in outline.path)
        dropped = [(number, line) for number, line in self.unused if line.text not in kept]
        if dropped:
            text = " ".join(line.text for _, line in dropped)
            section = outline.section_of([item for item in before if item[1] not in text])
            first, last = dropped[0], dropped[-1]
            agency = self.agency or first[1].agency
            self.flush(Block("para", text, first[0], agency, section, last[0]))
        self.unused[:] = [item for item in self.unused if item not in dropped] + self.pending
        self.take_agency()

    def take_agency(self) -> None:
        """A heading that names a partner makes the part under it that partner's, until the next
        heading at its level or above (in text without sizes, until the next partner's)."""
        level = self.pending[0][1].level
        text = " ".join(line.text for _, line in self.pending)
        named = self.headings.named(self.organisations, text, level, self.common)
        if named:
            self.agency = named
            self.outline.agencies.add(text)
            if self.outline.path and self.outline.path[-1][1].endswith(text):
                self.outline.agencies.add(self.outline.path[-1][1])
        elif self.headings.level is not None and level and level >= self.headings.level:
            self.agency = ""


def _headings_alone(document: Document) -> set[str]:
    """Headings of two words or more, capitalised, that a document sets alone somewhere, with no
    heading line at their size just before or after ("Executive summary"): where one follows
    another heading's line, it starts a heading of its own rather than continuing that one."""
    alone = set()
    for page in document.pages:
        lines = [line for line in page.lines if line.kind != "blank"]
        for at, line in enumerate(lines):
            if line.kind != "heading" or len(line.text.split()) < 2 or not line.text[:1].isupper():
                continue  # "information sharing" may be where a heading wraps
            around = lines[max(at - 1, 0) : at] + lines[at + 1 : at + 2]
            if not any(other.kind == "heading" and other.level == line.level for other in around):
                alone.add(line.text)
    return alone


def _bullet(text: str) -> str:
    return clean.BULLET_START.sub("- ", text, count=1) if clean.BULLET_START.match(text) else text


def chunk_document(
    document: Document,
    count_tokens: TokenCounter,
    max_tokens: int = MAX_TOKENS,
    target_tokens: int = TARGET_TOKENS,
    organisations: Organisations | None = None,
) -> list[Chunk]:
    """Cut a document into chunks that follow its structure and fit what the model reads. A chunk
    never mixes two agencies: one ends where the agency changes."""
    chunks: list[Chunk] = []
    table = grade_table(document)
    # The table's lines are read into a passage of its own, not into the summary after them.
    prose = grades.without_table(document, table) if table else document
    for group in _groups(blocks(prose, organisations)):
        first = group[0]
        agency = _fit_name(first.agency or document.organisation, count_tokens, max_tokens // 8)
        section = _fit_section(agency, first.section, count_tokens, max_tokens // 4)
        budget = max_tokens - count_tokens(embedding_text(agency, section, "")) - 1
        for pieces in _pack(group, count_tokens, budget, min(target_tokens, budget)):
            position = len(chunks)
            last_page = max(piece.page_end or piece.page for piece in pieces)
            citation = _cited(document, agency, section, pieces[0].page, last_page)
            text = "\n".join(piece.text for piece in pieces)
            chunks.append(Chunk(chunk_id(document.name, position), text, citation, position))
    if table:
        chunks.append(_table_chunk(document, table, len(chunks), count_tokens, max_tokens))
    return [_fit(chunk, count_tokens, max_tokens) for chunk in chunks]


def _table_chunk(
    document: Document, table: Table, position: int, count: TokenCounter, max_tokens: int
) -> Chunk:
    """An inspection's grades as a passage, after the document's own (kb/grades.py)."""
    agency = _fit_name(table.agency or document.organisation, count, max_tokens // 8)
    citation = _cited(document, agency, grades.SECTION, table.page, table.page)
    text = grades.passage_text(document, table)
    return Chunk(chunk_id(document.name, position), text, citation, position)


def _cited(document: Document, agency: str, section: str, page: int, page_end: int) -> Citation:
    """A citation of the document, at the agency, section and pages given."""
    return Citation(
        document=document.name,
        title=document.title,
        agency=agency,
        section=section,
        page=page,
        page_end=page_end,
        sha256=document.sha256,
        date=document.date,
        collection=collection_of(document.name),
    )


def _fit_name(name: str, count: TokenCounter, limit: int) -> str:
    """An agency name short enough to leave the passage room (a PDF's author field can run to
    pages)."""
    if count(name) <= limit:
        return name
    short = _first_words(name.split(), lambda text: count(text + " …") <= limit)
    while count(short + " …") > limit:  # one long run of characters
        short = short[: len(short) * 3 // 4]
    return short + " …"


def _fit_section(agency: str, section: str, count: TokenCounter, limit: int) -> str:
    """A heading path short enough to leave the passage room: its deepest heading, then fewer
    words."""
    if count(embedding_text(agency, section, "")) <= limit:
        return section
    return _first_words(
        section.split(" › ")[-1].split(),
        lambda text: count(embedding_text(agency, text, "")) <= limit,
    )


def _first_words(words: list[str], fits: Callable[[str], bool]) -> str:
    """The words, cut by a quarter at a time until they fit, but never to none."""
    while len(words) > 1 and not fits(" ".join(words)):
        words = words[: len(words) * 3 // 4]
    return " ".join(words)


def _groups(items: list[Block]) -> Iterator[list[Block]]:
    """Runs of blocks under one agency and section; footnotes stand alone."""
    group: list[Block] = []
    for block in items:
        if group and (
            block.kind == "footnote"
            or group[-1].kind == "footnote"
            or (block.agency, block.section) != (group[-1].agency, group[-1].section)
        ):
            yield group
            group = []
        group.append(block)
    if group:
        yield group


def _pack(
    group: list[Block], count: TokenCounter, budget: int, target: int
) -> Iterator[list[Block]]:
    """Greedy packing to the target size; a lead-in line stays with the list it introduces."""
    pieces: list[Block] = []
    size = 0
    lead: Block | None = None
    copy: Block | None = None  # the lead-in repeated above the rest of its list
    for block in _split_long(group, count, budget):
        n = count(block.text)
        # A passage is cited at one page: a new page starts a new chunk unless this one is a scrap.
        new_page = pieces and block.page != pieces[0].page and size > target // 4
        # A lead-in is never a passage on its own: it takes its list's first item, past the target
        # or onto the next page if need be.
        opens_list = (
            len(pieces) == 1 and pieces[0].lead_in and block.kind == "bullet" and size + n <= budget
        )
        if pieces and (size + n > target or new_page) and not opens_list:
            carry = []
            if pieces[-1].lead_in and len(pieces) > 1 and count(pieces[-1].text) + n <= budget:
                carry = [pieces.pop()]
            if not (
                len(pieces) == 1 and pieces[0] is copy
            ):  # the repeated lead-in alone says nothing new
                yield pieces
            pieces = carry
            copy = None
            if not carry and lead and block.kind == "bullet" and count(lead.text) + n <= budget:
                # Repeat the lead-in above the rest of its list, cited at the page the rest is on.
                copy = replace(lead, page=block.page, page_end=block.page)
                pieces = [copy]
            size = sum(count(piece.text) for piece in pieces)
        if block.lead_in and block.kind == "para":
            lead = block
        elif block.kind != "bullet":
            lead = None
        pieces.append(block)
        size += n
    if pieces:
        yield pieces


def _split_long(group: list[Block], count: TokenCounter, budget: int) -> Iterator[Block]:
    """Blocks longer than the budget, cut at sentence ends (or, failing that, between words)."""
    for block in group:
        if count(block.text) <= budget:
            yield block
            continue
        # Each piece is cited at the pages its own words are on, not the whole block's. Splitting
        # and joining words (here and before) moves only spaces, so non-space characters say where a
        # piece is.
        start = 0
        for text in _split_text(block.text, count, budget):
            end = start + _non_space(text)
            yield Block(
                block.kind,
                text,
                block.page_at(start),
                block.agency,
                block.section,
                block.page_at(end - 1),
            )
            start = end


def _non_space(text: str) -> int:
    return len("".join(text.split()))


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"“‘'(\[]?[A-Z0-9])")


def _split_text(text: str, count: TokenCounter, budget: int) -> list[str]:
    parts: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if count(sentence) <= budget:
            parts.append(sentence)
            continue
        words = sentence.split()
        line: list[str] = []
        for word in words:
            if line and count(" ".join([*line, word])) > budget:
                parts.append(" ".join(line))
                line = []
            if count(word) > budget:
                parts.extend(_split_word(word, count, budget))
                continue
            line.append(word)
        if line:
            parts.append(" ".join(line))
    out: list[str] = []
    for part in parts:
        if out and count(f"{out[-1]} {part}") <= budget:
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def _split_word(word: str, count: TokenCounter, budget: int) -> list[str]:
    """A run with no space longer than the budget ('=====…', dot leaders, a pasted blob), cut
    between characters."""
    pieces: list[str] = []
    start = 0
    while start < len(word):
        # word[start:fits] fits and word[start:too_long] does not (or runs past the end). Galloping
        # out from the budget keeps each count near the piece's own length, so a long run costs
        # n log n.
        fits, too_long = start + 1, start + budget
        while too_long <= len(word) and count(word[start:too_long]) <= budget:
            fits, too_long = too_long, start + 2 * (too_long - start)
        too_long = min(too_long, len(word) + 1)
        while too_long - fits > 1:
            middle = (fits + too_long) // 2
            if count(word[start:middle]) <= budget:
                fits = middle
            else:
                too_long = middle
        pieces.append(word[start:fits])
        start = fits
    return pieces


def _fit(chunk: Chunk, count: TokenCounter, max_tokens: int) -> Chunk:
    """Guard the bound: a chunk the model would truncate is an error in the chunker, never silent.
    It fails this document alone; what was indexed of it before stays."""
    n = count(chunk.embedding_text())
    if n > max_tokens:
        raise UnreadableDocument(
            f"passage {chunk.position + 1} would be cut short by the model "
            f"({n} word pieces > {max_tokens}); "
            "this is a fault in kb's chunker: please report it with the file"
        )
    return chunk
