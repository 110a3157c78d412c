"""An inspection's grade table, read back as a passage of its own.

An inspection report opens with its judgements as a table: "The impact of leaders on social work
practice with children and families | Good", "Overall effectiveness | Requires improvement to be
good". Its text comes out of the PDF as short lines, each row's label wrapped over one to three of
them and its grade at the end of the last ("practice with children and families", "Good"), or on
a line of its own. Chunked with the prose after it, the table answers "what was Brent's overall
judgement?" no better than the 460 other reports' tables with the same row labels. So the rows are
also written out as one passage, headed with the report's title and date: what the report found,
in the words a question about it uses.

The grades are those of the four-point scale the English inspectorates share (Ofsted's, CQC's);
a table is three rows or more, on the first pages, each row a label in a few short lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

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


def asks_for_a_judgement(query: str) -> bool:
    """Whether a query asks how a service was judged, which its grade table answers."""
    return bool(ASKS.search(query))


def grade_table(document: Document) -> Table | None:
    """The first run of ROWS or more graded rows on the report's first pages; None if it has
    none."""
    for page in document.pages[:PAGES]:
        rows = _rows(page.lines)
        if len(rows) >= ROWS:
            agency = next((line.agency for line in page.lines if line.agency), "")
            return Table(page.number, tuple(rows), agency)
    return None


def _rows(lines: Sequence[Line]) -> list[tuple[str, str]]:
    """The longest run of graded rows among the lines."""
    best: list[tuple[str, str]] = []
    run: list[tuple[str, str]] = []
    overall: list[tuple[str, str]] = []  # the overall judgement, where it heads the table
    label: list[str] = []  # the lines since the last row, while they may be a label
    for line in _grades_unwrapped(lines):
        text = line.text.strip()
        if line.kind in ("text", "heading") and (grade := _overall(text)) and not overall:
            overall, label = [("Overall judgement", grade)], []
            continue
        graded = GRADED.match(text)
        if graded and len(graded["label"]) <= LABEL_CHARACTERS:
            words = NUMBERING.sub("", " ".join([*label, graded["label"]]).strip())
            if words[:1].isupper():  # a label starts as a heading does; prose runs on in lower case
                run.append((words, graded["grade"].capitalize()))
                label = []
                continue
        if line.kind == "heading" and not NUMBERING.match(text):
            # A table's head ("Judgement Grade") or the report's ("Inspection dates: …"): not a
            # label (a grade set in bold is one, above).
            label = []
            continue
        if line.kind in ("text", "heading") and len(text) <= LABEL_CHARACTERS:
            label = [*label, text][-LABEL_LINES:]
            if text.endswith((".", ";", "?", "!")):  # a sentence: no label, and the table is over
                best, run, label = max(best, run, key=len), [], []
        else:  # a line of prose, a footnote: the rows so far are the whole run
            best, run, label = max(best, run, key=len), [], []
    rows = max(best, run, key=len)
    if rows and not any(label.casefold().startswith("overall") for label, _ in rows):
        return overall + rows
    return rows


def _overall(text: str) -> str:
    """The overall judgement a line states ("Children's services in Wigan are good"), or ""."""
    found = OVERALL.search(text) or OVERALL_STATED.match(text)
    if not found:
        return ""
    grade = found["grade"].casefold()
    return re.sub(r"^require ", "requires ", grade).capitalize()


def _grades_unwrapped(lines: Sequence[Line]) -> list[Line]:
    """The lines that hold text (a table may set its rows apart), with a grade whole where a
    narrow column wrapped it ("Requires improvement to" / "be good", "Requires" / "Improvement")."""
    kept: list[Line] = []
    for line in lines:
        text = line.text.strip()
        joined = f"{kept[-1].text.strip()} {text}" if kept else ""
        if any(
            joined.casefold().endswith(grade) and grade.endswith(f" {text.casefold()}")
            for grade in WRAPPED
        ) or (  # "Children's services in Darlington Borough Council are" / "inadequate"
            kept
            and line.kind == kept[-1].kind == "heading"
            and _overall(joined)
            and not _overall(kept[-1].text)
        ):
            kept[-1] = replace(kept[-1], text=joined)
        elif line.kind != "blank" and text:
            kept.append(line)
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
