"""The founding report's own text, typeset as real PDFs in the layouts a designer might choose.

A test fixture, not part of kb (it imports nothing from kb/): next year's report will arrive as a
PDF laid out however the designer chose, so kb is tested on the founding report's words set as
PDFs in several layouts (LAYOUTS):

- "running-header": as the original: every page opens with the agency's name and the title of the
  agency's part in small type (the two lines the text file repeats at each page break); sections
  flow on; each agency starts a new page. Bullets: a TrueType symbol font, pypdf reads "\\uf06e".
- "agency-headings": no running header; each agency's part opens with its full name as a large
  heading, once, its sections as smaller headings; a footer with the partnership's name and a page
  number; justified body text; metadata author and title. Bullets: a plain "•".
- "numbered-chapters": cover, contents with dot leaders, two short introduction chapters, then
  "3 Partner contributions" with each agency as "3.n" under its formal name and its sections as
  "3.n.m". Bullets: a TrueType symbol font whose bullet pypdf reads as "\\x7f".

`parse` reads the report's structure from the text file on its own terms: the agencies in order,
each one's sections, each section's paragraphs and bullet lists, with the page-top header repeats
removed, a paragraph that a page break cut rejoined and HTML tags stripped to their text.

    python tests/typeset.py OUT_DIR      # writes OUT_DIR/<layout>.pdf for every layout
"""

from __future__ import annotations

import atexit
import html
import itertools
import math
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOUNDING = HERE.parent / "corpus" / "luton-lscp-yearly-report-2023-24-partners-snapshot.txt"
# Lato 1.104 (SIL Open Font License 1.1, tests/data/fonts/OFL.txt): Latin with en dashes, curly
# quotes, "£" and "•", which fpdf2's core fonts (Latin-1 only) lack.
FONTS = HERE / "data" / "fonts"

PARTNERSHIP = "Luton Safeguarding Children Partnership"
LAYOUTS = ("running-header", "agency-headings", "numbered-chapters")

# The agencies as the text file names them, and as other layouts name them. Layout a keeps the
# file's names; layout b spells out the one the file abbreviates; layout c uses formal names.
FULL_NAMES = {"ELFT": "East London NHS Foundation Trust"}
FORMAL_NAMES = {
    "Bedfordshire Hospitals Foundation Trust": "Bedfordshire Hospitals NHS Foundation Trust",
    "Cambridgeshire Community Services": "Cambridgeshire Community Services NHS Trust",
    "ELFT": "East London NHS Foundation Trust",
}

# What each layout draws at a bullet, (item, nested item), and so what pypdf extracts there.
# "\uf06e" and "\uf02d" are where Word's Wingdings square and Symbol dash sit in the private-use
# area; "\x7f" is what some designers' fonts map their bullet to. Both are drawn in a small
# TrueType symbol font made below; "•" and "–" are plain Lato.
BULLETS = {
    "running-header": ("\uf06e", "\uf02d"),
    "agency-headings": ("\u2022", "\u2013"),
    "numbered-chapters": ("\x7f", "\uf02d"),
}

# A fixed date, so the same input gives the same bytes.
CREATED = datetime(2024, 9, 30, 9, 0, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# The report's structure
# ---------------------------------------------------------------------------------------------


@dataclass
class Paragraph:
    text: str
    # (substring of text, "B" or "I"): what the file marks as bold (**x**) or italic (*x*,
    # <i>x</i>).
    emphasis: tuple[tuple[str, str], ...] = ()


@dataclass
class Item:
    text: str
    level: int = 0  # 1 for an item the file writes "- -text", under the item before it
    emphasis: tuple[tuple[str, str], ...] = ()


@dataclass
class BulletList:
    items: list[Item]
    lead_in: Paragraph | None = None  # the line ending in ":" that introduces the items


@dataclass
class Heading:
    """A heading inside a section ("What is going well", "Training", "What to improve:")."""

    text: str


Block = Paragraph | BulletList | Heading


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Agency:
    name: str  # as the file writes it
    # the second line of its page headers: "2. Agency achievements and challenges - ..."
    part_title: str
    intro: list[Block] = field(default_factory=list)  # before its first section
    sections: list[Section] = field(default_factory=list)


@dataclass
class Report:
    title: str
    agencies: list[Agency]


def block_texts(blocks: list[Block]) -> list[str]:
    """Every piece of text in blocks, in order: headings, lead-ins, items, paragraphs."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, BulletList):
            if block.lead_in:
                out.append(block.lead_in.text)
            out.extend(item.text for item in block.items)
        else:
            out.append(block.text)
    return out


# The partnership's priorities that the agencies report under; a heading that names one opens a
# section, and the headings under it ("What is going well", "Training") are its sub-headings.
_PRIORITY = re.compile(
    r"^(domestic abuse|neglect|mental health|emotional wellbeing|child (sexual )?exploitation)\b",
    re.IGNORECASE,
)
# The questions the partnership asks every agency open a section each.
_QUESTION = re.compile(r"^(How\b|What evidence\b|LSCP achievements and challenges\b)|\?$")
_ENDS_SENTENCE = re.compile(r"[.!?:;)\"”’]$")
_BOLD_MD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC_MD = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_ITALIC_TAG = re.compile(r"<(i|em)>(.*?)</\1>", re.DOTALL)
_BOLD_TAG = re.compile(r"<(b|strong)>(.*?)</\1>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


@dataclass
class _Unit:
    kind: str  # "text" (a paragraph, a heading or a lead-in; decided later) or "item"
    text: str
    emphasis: list[tuple[str, str]]
    level: int = 0


def _inline(raw: str) -> tuple[str, list[tuple[str, str]]]:
    """Strip HTML tags and Markdown emphasis to their text; note what was bold or italic."""
    emphasis: list[tuple[str, str]] = []

    def keep(style: str, group: int):
        def sub(match: re.Match) -> str:
            inner = _TAG.sub("", match.group(group))
            emphasis.append((inner, style))
            return inner

        return sub

    text = _ITALIC_TAG.sub(keep("I", 2), raw)
    text = _BOLD_TAG.sub(keep("B", 2), text)
    text = _TAG.sub("", text)
    text = _BOLD_MD.sub(keep("B", 1), text)
    text = _ITALIC_MD.sub(keep("I", 1), text)
    text = re.sub(r"\s+", " ", html.unescape(text)).strip()
    return text, [(s.strip(), style) for s, style in emphasis if s.strip()]


def _units(line: str) -> list[_Unit]:
    """One line of the file as paragraphs or items; an HTML line may hold several."""
    if re.match(r"\s*<ul\b", line):
        text, emphasis = _inline(line)
        pieces = [p.strip() for p in text.split("•")]
        units = [_Unit("text", pieces[0], emphasis)] if pieces[0] else []
        return units + [
            _Unit("item", p, [e for e in emphasis if e[0] in p]) for p in pieces[1:] if p
        ]
    if "<p>" in line:
        units = []
        for piece in re.split(r"</p>\s*(?=<p>)", line):
            text, emphasis = _inline(piece)
            if text:
                units.append(_Unit("text", text, emphasis))
        return units
    match = re.match(r"-\s+(-\s*)?", line)
    if match:
        text, emphasis = _inline(line[match.end() :])
        return [_Unit("item", text, emphasis, level=1 if match.group(1) else 0)]
    text, emphasis = _inline(line)
    return [_Unit("text", text, emphasis)]


def _is_heading(text: str) -> bool:
    if text.endswith("?"):
        return True
    return len(text) <= 110 and text[:1].isupper() and not re.search(r"[.,;]$", text)


def parse(text_path: Path | str = FOUNDING) -> Report:
    """The report's structure, read from the text extracted from its PDF."""
    lines = [line.strip() for line in Path(text_path).read_text(encoding="utf-8").splitlines()]
    filled = [line for line in lines if line]
    # A page header is a pair of lines (agency, part title) that repeats at page after page.
    pairs = Counter(itertools.pairwise(filled))
    headers = {pair for pair, n in pairs.items() if n >= 3}

    title_lines: list[str] = []
    agencies: list[tuple[str, str, list[_Unit]]] = []
    i = 0
    pending_break = False
    while i < len(filled):
        line = filled[i]
        if i + 1 < len(filled) and (line, filled[i + 1]) in headers:
            if not agencies or agencies[-1][0] != line:
                agencies.append((line, filled[i + 1], []))
                pending_break = False
            else:
                pending_break = True
            i += 2
            continue
        if not agencies:
            title_lines.append(line)
            i += 1
            continue
        units = agencies[-1][2]
        for unit in _units(line):
            previous = units[-1] if units else None
            if (
                pending_break
                and previous
                and unit.kind == "text"
                and unit.text[:1].islower()
                and not _ENDS_SENTENCE.search(previous.text)
            ):
                # A page break cut this paragraph: the text after the header goes on with it.
                previous.text = f"{previous.text} {unit.text}"
                previous.emphasis += unit.emphasis
            else:
                units.append(unit)
            pending_break = False
        i += 1

    report = Report(title=" ".join(title_lines), agencies=[])
    for name, part_title, units in agencies:
        agency = Agency(name=name, part_title=part_title)
        report.agencies.append(agency)
        blocks = agency.intro  # where blocks go: the agency's intro, then its latest section
        in_priority = False
        k = 0
        while k < len(units):
            unit = units[k]
            following = units[k + 1] if k + 1 < len(units) else None
            if unit.kind == "item" or (
                unit.text.endswith(":") and following and following.kind == "item"
            ):
                lead_in = None
                if unit.kind == "text":
                    lead_in = Paragraph(unit.text, tuple(unit.emphasis))
                    k += 1
                items = []
                while k < len(units) and units[k].kind == "item":
                    items.append(Item(units[k].text, units[k].level, tuple(units[k].emphasis)))
                    k += 1
                blocks.append(BulletList(items, lead_in))
                continue
            if _is_heading(unit.text):
                opens = bool(_PRIORITY.search(unit.text) or _QUESTION.search(unit.text))
                if opens or not in_priority:
                    agency.sections.append(Section(unit.text))
                    blocks = agency.sections[-1].blocks
                    in_priority = bool(_PRIORITY.search(unit.text))
                else:
                    blocks.append(Heading(unit.text))
            else:
                blocks.append(Paragraph(unit.text, tuple(unit.emphasis)))
            k += 1
    return report


# ---------------------------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------------------------

_symbol_font: Path | None = None


def symbol_font() -> Path:
    """A small TrueType symbol font, drawn here (so no licence is needed), made once a process.

    Its glyphs sit where designers' symbol fonts put theirs, so pypdf extracts what it extracts
    from real reports: a square at U+F06E (Wingdings "n"), a dash at U+F02D (Symbol "-"), a round
    bullet at U+007F.
    """
    global _symbol_font
    if _symbol_font and _symbol_font.exists():
        return _symbol_font
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def polygon(points):
        pen = TTGlyphPen(None)
        pen.moveTo(points[0])
        for point in points[1:]:
            pen.lineTo(point)
        pen.closePath()
        return pen.glyph()

    circle = [
        (
            round(350 + 190 * math.cos(2 * math.pi * k / 24)),
            round(330 + 190 * math.sin(-2 * math.pi * k / 24)),
        )
        for k in range(24)
    ]
    glyphs = {
        ".notdef": TTGlyphPen(None).glyph(),
        "space": TTGlyphPen(None).glyph(),
        "bullet": polygon(circle),
        "square": polygon([(160, 140), (160, 520), (540, 520), (540, 140)]),
        "dash": polygon([(120, 300), (120, 370), (580, 370), (580, 300)]),
    }
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(list(glyphs))
    builder.setupCharacterMap({0x20: "space", 0x7F: "bullet", 0xF06E: "square", 0xF02D: "dash"})
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics(
        {name: (700 if name not in (".notdef", "space") else 250, 0) for name in glyphs}
    )
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "KBFixtureSymbol", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    builder.setupPost()
    # Fixed timestamps: fontTools stamps a font with the time it is built or saved, and fpdf2
    # embeds the font as it is, so the PDF's bytes would change from run to run.
    from fontTools.misc.timeTools import timestampFromString

    builder.font["head"].created = builder.font["head"].modified = timestampFromString(
        "Mon Sep 30 09:00:00 2024"
    )
    builder.font.recalcTimestamp = False
    folder = Path(tempfile.mkdtemp(prefix="kb-typeset-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "KBFixtureSymbol.ttf"
    builder.save(str(path))
    _symbol_font = path
    return path


# ---------------------------------------------------------------------------------------------
# Typesetting
# ---------------------------------------------------------------------------------------------

_MARKDOWN_MARKERS = ("**", "__", "--", "~~", "](", "\\")


def _markdown(text: str, emphasis) -> tuple[str, bool]:
    """text with fpdf2's Markdown for its emphasis (bold **x**, italic __x__), if it can be had
    safely."""
    if not emphasis or any(marker in text for marker in _MARKDOWN_MARKERS):
        return text, False
    for phrase, style in emphasis:
        marker = "**" if style == "B" else "__"
        text = text.replace(phrase, f"{marker}{phrase}{marker}", 1)
    return text, True


def _document(layout: str):
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    class Document(FPDF):
        body_size = 10
        line_h = 5.0

        def __init__(self) -> None:
            super().__init__(format="A4", unit="mm")
            self.layout = layout
            self.running: tuple[str, str] | None = None  # layout a: (agency, part title)
            self.footer_text: str | None = None
            self.numbered_from = 1  # the first page that shows its number
            self.set_margins(20, 20, 20)
            self.set_auto_page_break(True, margin=20)
            self.set_creation_date(CREATED)
            for style, name in (("", "Regular"), ("B", "Bold"), ("I", "Italic")):
                self.add_font("Lato", style, str(FONTS / f"Lato-{name}.ttf"))
            self.add_font("KBSymbol", "", str(symbol_font()))
            self.set_font("Lato", size=self.body_size)

        # -- page furniture ---------------------------------------------------------------
        def header(self) -> None:
            if self.running:
                agency, part = self.running
                self.set_xy(self.l_margin, 10)
                self.set_text_color(90, 90, 90)
                self.set_font("Lato", "B", 8)
                self.cell(0, 4, agency, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                self.set_font("Lato", "", 7.5)
                self.multi_cell(0, 3.6, part, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                self.set_draw_color(160, 160, 160)
                self.line(
                    self.l_margin, self.get_y() + 1.5, self.w - self.r_margin, self.get_y() + 1.5
                )
                self.set_text_color(0, 0, 0)
                self.set_y(max(self.get_y() + 6, self.t_margin))
            self.set_font("Lato", "", self.body_size)

        def footer(self) -> None:
            if self.footer_text is None or self.page_no() < self.numbered_from:
                return
            self.set_y(-13)
            self.set_font("Lato", "", 8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 4, self.footer_text, align="L")
            self.set_x(self.l_margin)
            self.cell(
                0,
                4,
                f"Page {self.page_no()}"
                if self.layout == "agency-headings"
                else str(self.page_no()),
                align="R",
            )
            self.set_text_color(0, 0, 0)

        # -- flow -------------------------------------------------------------------------
        def fresh_page(self) -> None:
            """A new page, unless the current one is still empty."""
            if self.page == 0 or self.get_y() > self.t_margin + 0.5:
                self.add_page()

        def room(self, height: float) -> None:
            """A new page unless height fits above the bottom margin."""
            if self.get_y() + height > self.page_break_trigger:
                self.add_page()

        def heading(
            self,
            text: str,
            size: float,
            style: str = "B",
            before: float = 4,
            after: float = 1.5,
            color=(0, 0, 0),
            outline: tuple[str, int] | None = None,
        ) -> None:
            self.set_font("Lato", style, size)
            lines = len(self.multi_cell(0, size * 0.5, text, dry_run=True, output="LINES"))
            self.room(before + lines * size * 0.5 + after + 2 * self.line_h)
            if self.get_y() > self.t_margin + 1:
                self.ln(before)
            if outline:
                self.start_section(*outline)
            self.set_text_color(*color)
            self.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_text_color(0, 0, 0)
            self.ln(after)
            self.set_font("Lato", "", self.body_size)

        def flow(self, text: str, align: str = "L", markdown: bool = False) -> None:
            """Text across the width, wrapped, the cursor left at the next line's margin."""
            self.multi_cell(
                0,
                self.line_h,
                text,
                align=align,
                markdown=markdown,
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )

        def paragraph(self, text: str, emphasis=(), align: str = "L", style: str = "") -> None:
            text, markdown = _markdown(text, emphasis)
            self.set_font("Lato", style, self.body_size)
            self.room(self.line_h)
            self.flow(text, align, markdown)
            self.set_font("Lato", "", self.body_size)
            self.ln(2)

        def bullets(self, block: BulletList, align: str = "L") -> None:
            glyphs = BULLETS[self.layout]
            if block.lead_in:
                self.set_font("Lato", "", self.body_size)
                self.room(3 * self.line_h)
                self.flow(block.lead_in.text, align)
                self.ln(1)
            margin = self.l_margin
            for item in block.items:
                indent = margin + 6 + 6 * item.level
                self.room(self.line_h)
                glyph = glyphs[min(item.level, 1)]
                self.set_font(
                    "Lato" if glyph in "\u2022\u2013" else "KBSymbol",
                    "",
                    self.body_size * (0.75 if glyph == "\uf06e" else 1),
                )
                self.set_xy(indent - 5, self.get_y())
                self.cell(5, self.line_h, glyph)
                self.set_font("Lato", "", self.body_size)
                self.set_left_margin(indent)
                self.set_x(indent)
                text, markdown = _markdown(item.text, item.emphasis)
                self.flow(text, align, markdown)
                self.set_left_margin(margin)
                self.set_x(margin)
                self.ln(1)
            self.ln(1.5)

        def blocks(self, blocks: list[Block], align: str = "L", sub_size: float = 10.5) -> None:
            for block in blocks:
                if isinstance(block, Heading):
                    self.heading(block.text, sub_size, "B", before=2, after=1)
                elif isinstance(block, BulletList):
                    self.bullets(block, align)
                else:
                    self.paragraph(block.text, block.emphasis, align)

    return Document()


def _running_header(report: Report, pdf) -> None:
    """Layout a: as the original, every page opens with the agency and its part's title."""
    for n, agency in enumerate(report.agencies):
        pdf.running = (agency.name, agency.part_title)
        pdf.add_page()
        if n == 0:
            pdf.heading(report.title, 16, before=0, after=4)
        pdf.blocks(agency.intro)
        for section in agency.sections:
            pdf.heading(section.title, 12)
            pdf.blocks(section.blocks)


def _agency_headings(report: Report, pdf) -> None:
    """Layout b: each agency's full name once as a large heading; a footer, no running header."""
    pdf.set_author(PARTNERSHIP)
    pdf.set_title(report.title)
    pdf.set_subject("Partners' safeguarding snapshot 2023-24")
    pdf.footer_text = PARTNERSHIP
    pdf.add_page()
    pdf.set_font("Lato", "", 11)
    pdf.set_text_color(0, 84, 136)
    pdf.cell(0, 6, PARTNERSHIP, new_x="LMARGIN", new_y="NEXT")
    pdf.heading(report.title, 20, before=2, after=8, color=(0, 84, 136))
    for n, agency in enumerate(report.agencies):
        if n:
            pdf.add_page()
        name = FULL_NAMES.get(agency.name, agency.name)
        pdf.heading(name, 18, before=0, after=2, color=(0, 84, 136), outline=(name, 0))
        pdf.paragraph(agency.part_title, style="I")
        pdf.blocks(agency.intro, align="J")
        for section in agency.sections:
            pdf.heading(section.title, 12.5, before=5, color=(0, 84, 136))
            pdf.blocks(section.blocks, align="J")


# Chapters 1 and 2 of layout c: short text of this fixture's own about the partnership as a whole.
_INTRODUCTION = [
    (
        "Introduction",
        [
            (
                "This snapshot gathers the contributions of partner agencies to the yearly "
                "report of the Luton Safeguarding Children Partnership for 2023-24. Each partner "
                "was asked the same questions about its work over the year: what it achieved "
                "against the priorities of the Partnership's business plan, how it took part in "
                "the multi-agency safeguarding arrangements, how it hears from children and "
                "families, and how it works on prevention and early help."
            ),
            (
                "The Partnership publishes the contributions as the partners wrote them, so that "
                "readers can see the year from each partner's own point of view."
            ),
        ],
    ),
    (
        "About the Partnership",
        [
            (
                "The Partnership brings together the local authority, the health services and "
                "the police, who share responsibility for the arrangements that keep children in "
                "the town safe. Schools, health providers and voluntary organisations take part "
                "in its subgroups, its audits and its learning reviews."
            ),
            "Chapter 3 sets out the partners' contributions, one partner to a sub-chapter.",
        ],
    ),
]


def _numbered_chapters(report: Report, pdf) -> None:
    """Layout c: cover, contents with dot leaders, introduction, then numbered chapters."""
    from fpdf.enums import XPos, YPos

    pdf.set_author(PARTNERSHIP)
    pdf.set_title(report.title)
    pdf.footer_text = "Yearly Report 2023-24"
    pdf.numbered_from = 2

    # Cover
    pdf.add_page()
    pdf.set_fill_color(0, 84, 136)
    pdf.rect(0, 0, pdf.w, 95, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_xy(20, 40)
    pdf.set_font("Lato", "B", 26)
    pdf.cell(0, 12, "Yearly Report 2023-24", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Lato", "", 16)
    pdf.cell(0, 9, "Partners Safeguarding Snapshot", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(20, 250)
    pdf.set_font("Lato", "B", 13)
    pdf.cell(0, 7, PARTNERSHIP, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    # Contents: chapters and their sub-chapters, with dot leaders and page numbers.
    def contents(pdf, outline) -> None:
        pdf.set_y(25)
        pdf.set_font("Lato", "B", 18)
        pdf.cell(0, 10, "Contents", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(4)
        for entry in outline:
            if entry.level > 1:
                continue
            size = 11 if entry.level == 0 else 10
            pdf.set_font("Lato", "B" if entry.level == 0 else "", size)
            indent = pdf.l_margin + 8 * entry.level
            page = str(entry.page_number)
            width = pdf.w - pdf.r_margin - indent
            name_w = pdf.get_string_width(entry.name)
            page_w = pdf.get_string_width(page)
            dots = max(
                3,
                int(
                    (width - name_w - page_w - 2 * pdf.get_string_width(" "))
                    / pdf.get_string_width(".")
                ),
            )
            link = pdf.add_link(page=entry.page_number)
            pdf.set_x(indent)
            pdf.cell(
                0,
                7 if entry.level == 0 else 6,
                f"{entry.name} {'.' * dots} {page}",
                link=link,
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
            if entry.level == 0:
                pdf.ln(1)

    pdf.add_page()
    pdf.insert_toc_placeholder(contents, pages=1)  # leaves a new page after the contents

    for number, (title, paragraphs) in enumerate(_INTRODUCTION, start=1):
        pdf.fresh_page()
        pdf.heading(
            f"{number} {title}",
            18,
            before=0,
            after=4,
            color=(0, 84, 136),
            outline=(f"{number} {title}", 0),
        )
        for text in paragraphs:
            pdf.paragraph(text)

    chapter = len(_INTRODUCTION) + 1
    pdf.add_page()
    pdf.heading(
        f"{chapter} Partner contributions",
        18,
        before=0,
        after=4,
        color=(0, 84, 136),
        outline=(f"{chapter} Partner contributions", 0),
    )
    for a, agency in enumerate(report.agencies, start=1):
        if a > 1:
            pdf.add_page()
        title = f"{chapter}.{a} {FORMAL_NAMES.get(agency.name, agency.name)}"
        pdf.heading(title, 14, before=2, after=3, color=(0, 84, 136), outline=(title, 1))
        pdf.blocks(agency.intro)
        for s, section in enumerate(agency.sections, start=1):
            number = f"{chapter}.{a}.{s}"
            pdf.heading(
                f"{number} {section.title}",
                11.5,
                before=4,
                outline=(f"{number} {section.title}", 2),
            )
            pdf.blocks(section.blocks)


_LAYOUT_FUNCTIONS = {
    "running-header": _running_header,
    "agency-headings": _agency_headings,
    "numbered-chapters": _numbered_chapters,
}


def typeset(layout: str, out: Path | str, text_path: Path | str = FOUNDING) -> Path:
    """Write the report at text_path as a PDF in layout (one of LAYOUTS) to out; return out."""
    if layout not in _LAYOUT_FUNCTIONS:
        raise ValueError(f"unknown layout {layout!r}; one of {', '.join(LAYOUTS)}")
    report = parse(text_path)
    pdf = _document(layout)
    _LAYOUT_FUNCTIONS[layout](report, pdf)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/typeset.py OUT_DIR", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    for layout in LAYOUTS:
        start = time.perf_counter()
        path = typeset(layout, folder / f"{layout}.pdf")
        print(f"{path}  {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
