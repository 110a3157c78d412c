"""A pack, a search or an agency comparison as a file: Markdown, CSV or Word, every passage cited.

Each passage carries its agency, report title, section and pages, the trainer's note, and the
number of its source; a list of sources (report, file, agencies, pages cited) closes the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from kb.clean import without_markup
from kb.errors import UsageError
from kb.passage import NO_AGENCY, SavedPassage

OUT_OF_DATE = (
    "May be out of date: the report has changed since this passage was saved; check the source."
)


@dataclass(frozen=True)
class Source:
    """One report cited, with the pages its passages come from."""

    number: int
    title: str
    document: str
    agencies: tuple[str, ...]
    pages: tuple[int, ...]

    def reference(self) -> str:
        pages = ", ".join(map(str, self.pages))
        who = "; ".join(self.agencies) or NO_AGENCY
        return (
            f"{who}. {self.title or self.document}. File: {self.document}. "
            f"Page{'s' if len(self.pages) > 1 else ''} cited: {pages}."
        )


@dataclass(frozen=True)
class Sheet:
    """What is exported: a heading, a line saying what it is, and the passages in order."""

    title: str
    description: str
    passages: tuple[SavedPassage, ...]
    by_agency: bool = False  # headed by agency, as the compare view is

    def sources(self) -> list[Source]:
        found: dict[str, dict] = {}
        for passage in self.passages:
            entry = found.setdefault(
                passage.document, {"title": passage.title, "agencies": {}, "pages": set()}
            )
            if passage.agency:
                entry["agencies"][passage.agency] = None
            entry["pages"].update(range(passage.page, passage.page_end + 1))
        return [
            Source(
                number,
                entry["title"],
                document,
                tuple(entry["agencies"]),
                tuple(sorted(entry["pages"])),
            )
            for number, (document, entry) in enumerate(found.items(), start=1)
        ]

    def groups(self) -> list[tuple[str, list[tuple[int, SavedPassage]]]]:
        """(agency, [(number, passage)]) in order of first appearance; unless by_agency, one group
        with no heading."""
        groups: dict[str, list[tuple[int, SavedPassage]]] = {}
        for number, passage in enumerate(self.passages, start=1):
            key = (passage.agency or NO_AGENCY) if self.by_agency else ""
            groups.setdefault(key, []).append((number, passage))
        return list(groups.items())


def sheet(
    title: str, passages: Sequence[SavedPassage], description: str = "", by_agency: bool = False
) -> Sheet:
    return Sheet(title, description, tuple(passages), by_agency)


def _cite(passage: SavedPassage, source: int) -> str:
    parts = [passage.agency or NO_AGENCY, passage.title or passage.document]
    if passage.section:
        parts.append(passage.section)
    parts.append(passage.pages)
    return " · ".join(parts) + f" (source {source})"


def _heading(number: int, passage: SavedPassage, grouped: bool) -> str:
    """A passage's heading: its agency, or under an agency's heading, what it is about."""
    about = (
        (passage.section or passage.title or passage.document)
        if grouped
        else (passage.agency or NO_AGENCY)
    )
    return f"{number}. {about}"


# --- Markdown ---------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


# What makes a line a list item, a rule, a heading's underline or a fence when it starts the line;
# markdown_escape covers the rest (#, >, *, _, `, <, [, |).
_BLOCK_START = re.compile(r"^(?:\d{1,9}[.)]|[-+=~])")


def markdown_escape(text: str) -> str:
    """Backslash before the characters that would make report text into Markdown or HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _escape_line_start(line: str) -> str:
    """A backslash before the mark that would start a list, rule or fence: "1. a" -> "1\\. a"."""
    return _BLOCK_START.sub(lambda found: found[0][:-1] + "\\" + found[0][-1], line)


# A line of only "-" or "=" turns the line above it into a heading, or draws a rule.
_UNDERLINE = re.compile(r"^\s*([-=])[-=\s]*$")


def _quoted(line: str) -> str:
    """A line of report text inside a quote: escaped, and never a heading's underline or a rule."""
    escaped = markdown_escape(line)
    return "\\" + escaped.lstrip() if _UNDERLINE.match(escaped) else escaped


def markdown_lines(text: str) -> str:
    """Text as Markdown shows it, line for line, never as a heading, list, rule or code block.

    Leading spaces are dropped, as four of them after a blank line would make a code block.
    """
    lines = [_escape_line_start(markdown_escape(line.strip())) for line in text.splitlines()]
    # A hard break (a backslash at the end) on each line that the next continues; a blank line ends
    # a paragraph.
    return "\n".join(
        line + "\\" if line and following else line
        for line, following in zip(lines, lines[1:] + [""])
    )


def to_markdown(sheet: Sheet) -> bytes:
    sources = sheet.sources()
    number_of = {source.document: source.number for source in sources}
    lines = [f"# {markdown_escape(sheet.title)}", ""]
    if sheet.description:
        lines += [markdown_escape(sheet.description), ""]
    for agency, entries in sheet.groups():
        if agency:
            lines += [f"## {markdown_escape(agency)}", ""]
        for number, passage in entries:
            heading = "###" if agency else "##"
            lines += [f"{heading} {markdown_escape(_heading(number, passage, bool(agency)))}", ""]
            lines += [f"*{markdown_escape(_cite(passage, number_of[passage.document]))}*", ""]
            lines += [
                f"> {_quoted(line)}" if line.strip() else ">" for line in passage.text.splitlines()
            ]
            lines.append("")
            if passage.note:
                lines += [f"**Note:** {markdown_lines(passage.note)}", ""]
            if passage.out_of_date:
                lines += [f"**{OUT_OF_DATE}**", ""]
    lines += ["## Sources", ""]
    lines += [f"{source.number}. {markdown_escape(source.reference())}" for source in sources]
    return ("\n".join(lines) + "\n").encode("utf-8")


# --- CSV ---------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "number",
    "agency",
    "report",
    "section",
    "page",
    "page_end",
    "note",
    "passage",
    "source",
    "document",
    "out_of_date",
    "chunk_id",
)
# A spreadsheet runs a cell that opens with one of these as a formula (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """The value as a cell a spreadsheet shows as text: a leading formula character gets a quote
    before it."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(sheet: Sheet) -> bytes:
    """One row per passage, each with its full source; UTF-8 with a byte-order mark, so Excel reads
    it as such."""
    sources = {source.document: source for source in sheet.sources()}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for number, passage in enumerate(sheet.passages, start=1):
        source = sources[passage.document]
        row = (
            number,
            passage.agency,
            passage.title,
            passage.section,
            passage.page,
            passage.page_end,
            passage.note,
            passage.text,
            f"[{source.number}] {source.reference()}",
            passage.document,
            "yes" if passage.out_of_date else "",
            passage.id,
        )
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


# --- Word --------------------------------------------------------------------------------------

# XML 1.0 allows no control characters but tab, newline and carriage return; PDFs can hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def to_docx(sheet: Sheet) -> bytes:
    from docx import Document

    sources = sheet.sources()
    number_of = {source.document: source.number for source in sources}
    document = Document()
    document.core_properties.title = _xml(sheet.title)
    document.core_properties.author = "kb"  # not python-docx's template's
    document.core_properties.last_modified_by = "kb"
    document.add_heading(_xml(sheet.title), level=0)
    if sheet.description:
        document.add_paragraph(_xml(sheet.description))
    for agency, entries in sheet.groups():
        if agency:
            document.add_heading(_xml(agency), level=1)
        for number, passage in entries:
            # One level below the title, or below the agency: Word's outline, as Markdown's, skips
            # none.
            document.add_heading(
                _xml(_heading(number, passage, bool(agency))), level=2 if agency else 1
            )
            cite = document.add_paragraph()
            cite.add_run(_xml(_cite(passage, number_of[passage.document]))).italic = True
            # As the page shows it: Word would show Markdown's marks as they are.
            for line in without_markup(passage.text).splitlines() or [""]:
                document.add_paragraph(_xml(line), style="Quote")
            if passage.note:
                note = document.add_paragraph()
                note.add_run("Note: ").bold = True
                note.add_run(_xml(passage.note))
            if passage.out_of_date:
                document.add_paragraph().add_run(OUT_OF_DATE).bold = True
    document.add_heading("Sources", level=1)
    for source in sources:
        document.add_paragraph(f"[{source.number}] {_xml(source.reference())}")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Format:
    render: Callable[[Sheet], bytes]
    mimetype: str
    suffix: str
    label: str


# The media type alone: Werkzeug's send_file adds "; charset=utf-8" to a text type, and would say it
# twice.
FORMATS = {
    "md": Format(to_markdown, "text/markdown", ".md", "Markdown"),
    "csv": Format(to_csv, "text/csv", ".csv", "CSV"),
    "docx": Format(
        to_docx,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ".docx",
        "Word",
    ),
}


def find_format(name: str | None, filename: str | None = None) -> str:
    """The format asked for, or the one a file name's suffix implies; a refusal names the
    choices."""
    choices = ", ".join(FORMATS)
    if not name and filename:
        suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if suffix in FORMATS:
            return suffix
        raise UsageError(
            f"say which format with --format ({choices}); the file name {filename!r} does not say"
        )
    if not name:
        raise UsageError(f"say which format: one of {choices}")
    wanted = name.strip().lower().lstrip(".")
    if wanted not in FORMATS:
        raise UsageError(f"unknown format {name!r}; choose from: {choices}")
    return wanted


def render(sheet: Sheet, format_name: str) -> bytes:
    return FORMATS[find_format(format_name)].render(sheet)


def file_name(title: str, format_name: str) -> str:
    """A download's file name: the title in safe characters, and the format's suffix."""
    stem = re.sub(r"[^\w.-]+", "-", title, flags=re.ASCII).strip("-.")[:60] or "kb-export"
    return stem + FORMATS[format_name].suffix


def exported_on() -> str:
    return date.today().strftime("%-d %B %Y")


def describe_pack(count: int) -> str:
    """The line under a pack's title: what it is and when it was exported."""
    return (
        f"A session pack of {count} passage{'' if count == 1 else 's'}, "
        f"exported on {exported_on()}."
    )


def describe_search(
    query: str, count: int, agency: str | None = None, document: str | None = None
) -> str:
    """The line under a search's title: how many passages, narrowed how, for what, and when."""
    narrowed = "".join(
        f", {label} {value}"
        for label, value in (("agency", agency), ("document", document))
        if value
    )
    return (
        f"The top {count} passages{narrowed} for the search \u201c{query}\u201d, "
        f"exported on {exported_on()}."
    )


def describe_comparison(query: str, agencies: int) -> str:
    """The line under a comparison's title."""
    return (
        f"The best passages of each of {agencies} agencies for the search \u201c{query}\u201d, "
        f"exported on {exported_on()}."
    )
