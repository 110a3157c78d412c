"""An inspection's grade table, read back as a passage of its own.

An inspection report opens with its judgements as a table: "The impact of leaders on social work
practice with children and families | Good", "Overall effectiveness | Requires improvement to be
good". Its text comes out of the PDF as short lines, each row's label wrapped over one to three of
them and its grade at the end of the last ("practice with children and families", "Good"), or on
a line of its own. Chunked with the prose after it, the table answers "what was Brent's overall
judgement?" no better than the 460 other reports' tables with the same row labels, and lends its
head ("Judgement Grade") and its rows' words to the report's summary. So the rows are taken out of
the prose and written out as one passage, headed with the report's title and date: what the report
found, in the words a question about it uses.

The grades are those of the four-point scale the English inspectorates share (Ofsted's, CQC's);
a table is three rows or more, on the first pages, each row a label in a few short lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from kb.dates import shown
from kb.ingest import Document, Line

SECTION = "Inspection judgements"  # the passage's section: it is kb's reading, not a heading
PAGES = 3  # a grade table stands on a report's first pages
ROWS = 3  # fewer rows are prose that happens to end on a grade
LABEL_LINES = 3  # a row's label wraps over at most this many lines
LABEL_CHARACTERS = 70  # each of them short: a table's column, not a page's width (80 or more)
# A grade ends the line, capitalised as a table writes it ("Good", not prose's "good").
GRADED = re.compile(
    r"^(?P<label>.*?)\s*\b(?P<grade>Outstanding|Good|Requires [Ii]mprovement(?: to be good)?|"
    r"Inadequate)$"
)
# The older reports head the table with the overall judgement: "Children's services in Wigan are
# good", "… in Walsall requires improvement to be good", sometimes over two lines, sometimes with
# the scale's meaning between it and the rows.
OVERALL = re.compile(
    r"services in .{2,60}? (?:(?:are|is) )?(?P<grade>outstanding|good|inadequate|"
    r"requires? improvement(?: to be good)?)\.?$",
    re.IGNORECASE,
)
# Or in so many words, in 2014: "The overall judgement is good", "… is that children's services
# require improvement".
OVERALL_STATED = re.compile(
    r"^the overall judgement is (?:that .{2,40}? (?:(?:are|is) )?)?(?P<grade>outstanding|good|"
    r"inadequate|requires? improvement(?: to be good)?)\.?$",
    re.IGNORECASE,
)
INSPECTORATES = {
    "Ofsted": re.compile(r"\bOfsted\b"),
    "CQC": re.compile(r"\bCQC\b|Care Quality Commission"),
    "HMICFRS": re.compile(r"\bHMICFRS\b|Inspectorate of Constabulary"),
}
# What a question about a judgement says ("darlington ofsted judgement 2015", "how was Birmingham
# rated", "overall outcome"): a grade table answers it, and rarely any other question, though its
# row labels hold the words of many ("care leavers", "help and protection").
ASKS = re.compile(
    r"\b(?:judge?ments?|judged|rat(?:ed|ing|ings)|grades?|graded|outcomes?|verdict|outstanding|"
    r"good|inadequate|requires? improvement|overall effectiveness|how did .{1,60} do)\b",
    re.IGNORECASE,
)
WRAPPED = ("requires improvement to be good", "requires improvement")  # grades a column wraps
NUMBERING = re.compile(r"^\d+(?:\.\d+)*\.?\s+")  # "1. Children who…", "2.1 Adoption…"


@dataclass(frozen=True)
class Table:
    page: int
    rows: tuple[tuple[str, str], ...]  # (label, grade), in the report's order
    agency: str = ""
    # The page's lines the table was read from (its head, its overall judgement where set as a
    # heading, each row's label and grade), by their place among the page's lines.
    lines: frozenset[int] = frozenset()


def asks_for_a_judgement(query: str) -> bool:
    """Whether a query asks how a service was judged, which its grade table answers."""
    return bool(ASKS.search(query))


def grade_table(document: Document) -> Table | None:
    """The first run of ROWS or more graded rows on the report's first pages; None if it has
    none."""
    for page in document.pages[:PAGES]:
        rows, lines = _rows(page.lines)
        if len(rows) >= ROWS:
            agency = next((line.agency for line in page.lines if line.agency), "")
            return Table(page.number, tuple(rows), agency, frozenset(lines))
    return None


def without_table(document: Document, table: Table) -> Document:
    """The document with the table's lines left blank: its grades are read into a passage of their
    own (passage_text), and the prose after the table, the report's summary, stands under the
    report's title, not under the table's head ("Judgement Grade")."""
    pages = [
        replace(
            page,
            lines=[
                Line("", "blank", 0.0, line.agency) if at in table.lines else line
                for at, line in enumerate(page.lines)
            ],
        )
        if page.number == table.page
        else page
        for page in document.pages
    ]
    return replace(document, pages=pages)


@dataclass
class _Run:
    """Rows read so far, and the lines they were read from."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    lines: set[int] = field(default_factory=set)


def _rows(lines: Sequence[Line]) -> tuple[list[tuple[str, str]], set[int]]:
    """The longest run of graded rows among the lines, and the lines it was read from."""
    best, run = _Run(), _Run()
    overall = _Run()  # the overall judgement, where it heads the table
    label: list[tuple[str, tuple[int, ...]]] = []  # lines since the last row that may be a label
    head: tuple[int, ...] = ()  # a heading just above the label: the table's head, if rows follow

    def ended() -> None:
        nonlocal best, run, label, head
        best, run, label, head = max(best, run, key=lambda r: len(r.rows)), _Run(), [], ()

    for line, at in _grades_unwrapped(lines):
        text = line.text.strip()
        if line.kind in ("text", "heading") and (grade := _overall(text)) and not overall.rows:
            # Set as a heading, the line is the table's; as text, it may be a sentence's end.
            taken = set(at) if line.kind == "heading" else set()
            overall = _Run([("Overall judgement", grade)], taken)
            label, head = [], ()
            continue
        graded = GRADED.match(text)
        if graded and len(graded["label"]) <= LABEL_CHARACTERS:
            words = NUMBERING.sub("", " ".join([*(t for t, _ in label), graded["label"]]).strip())
            if words[:1].isupper():  # a label starts as a heading does; prose runs on in lower case
                if not run.rows:
                    run.lines.update(head)
                run.rows.append((words, graded["grade"].capitalize()))
                run.lines.update(number for _, numbers in label for number in numbers)
                run.lines.update(at)
                label, head = [], ()
                continue
        if line.kind == "heading" and not NUMBERING.match(text):
            # A table's head ("Judgement Grade") or the report's ("Inspection dates: …"): not a
            # label (a grade set in bold is one, above).
            label, head = [], at
            continue
        if line.kind in ("text", "heading") and len(text) <= LABEL_CHARACTERS:
            if len(label) == LABEL_LINES:
                head = ()  # the head is not the label's line just above
            label = [*label, (text, at)][-LABEL_LINES:]
            if text.endswith((".", ";", "?", "!")):  # a sentence: no label, and the table is over
                ended()
        else:  # a line of prose, a footnote: the rows so far are the whole run
            ended()
    found = max(best, run, key=lambda r: len(r.rows))
    if found.rows and not any(label.casefold().startswith("overall") for label, _ in found.rows):
        return overall.rows + found.rows, overall.lines | found.lines
    return found.rows, found.lines


def _overall(text: str) -> str:
    """The overall judgement a line states ("Children's services in Wigan are good"), or ""."""
    found = OVERALL.search(text) or OVERALL_STATED.match(text)
    if not found:
        return ""
    grade = found["grade"].casefold()
    return re.sub(r"^require ", "requires ", grade).capitalize()


def _grades_unwrapped(lines: Sequence[Line]) -> list[tuple[Line, tuple[int, ...]]]:
    """The lines that hold text (a table may set its rows apart), each with where it stood among
    the lines, with a grade whole where a narrow column wrapped it ("Requires improvement to" /
    "be good", "Requires" / "Improvement")."""
    kept: list[tuple[Line, tuple[int, ...]]] = []
    for at, line in enumerate(lines):
        text = line.text.strip()
        last, where = kept[-1] if kept else (None, ())
        joined = f"{last.text.strip()} {text}" if last else ""
        if last is not None and (
            any(
                joined.casefold().endswith(grade) and grade.endswith(f" {text.casefold()}")
                for grade in WRAPPED
            )
            or (  # "Children's services in Darlington Borough Council are" / "inadequate", not
                # "Report published: 1 September 2015" / "Children's services in Wiltshire require…"
                line.kind == last.kind == "heading"
                and _overall(joined)
                and not _overall(last.text)
                and not _overall(text)
            )
        ):
            kept[-1] = (replace(last, text=joined), (*where, at))
        elif line.kind != "blank" and text:
            kept.append((line, (at,)))
    return kept


def passage_text(document: Document, table: Table) -> str:
    """The table as a passage: whose judgements, of which inspection and when, then each row's
    grade on a line. In the words a question about it uses: "Ofsted rating", "judgement
    grade"."""
    who = inspectorate(document)
    when = f", {shown(document.date)}" if document.date else ""
    rows = "\n".join(f"- {label}: {grade}" for label, grade in table.rows)
    heading = f"{who} judgement grades" if who else "Judgement grades"
    return f"{heading} (ratings): {document.title}{when}\n{rows}"


def inspectorate(document: Document) -> str:
    """The inspectorate the report names most often (its back page, its methods), or ""."""
    text = document.text
    counts = {name: len(pattern.findall(text)) for name, pattern in INSPECTORATES.items()}
    named = max(counts, key=lambda name: counts[name])
    return named if counts[named] else ""
