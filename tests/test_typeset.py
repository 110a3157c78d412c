"""The typesetting fixture itself (tests/typeset.py): its PDFs, read with pypdf, not kb."""

from __future__ import annotations

import re
import unicodedata

import pytest
from pypdf import PdfReader
from typeset import (
    BULLETS,
    FORMAL_NAMES,
    FOUNDING,
    FULL_NAMES,
    LAYOUTS,
    PARTNERSHIP,
    BulletList,
    Heading,
    block_texts,
    parse,
    typeset,
)

FILE_NAMES = [
    "Bedfordshire Hospitals Foundation Trust",
    "Cambridgeshire Community Services",
    "ELFT",
]
# Phrases the text file really holds, each within one paragraph or item.
PHRASES = [
    "Finally the Trust has a Domestic Abuse Clinic available each week.",
    (
        "These Lip Balms have the number of the National Domestic Abuse Helpline secretly embedded "
        "into the bar code of the product"
    ),
    "theatre shows called 'Chelsea's Choice' and 'Crashing'",
    "(78% at quarter 4 of 2022/23 to 86% at quarter 4 of 2023/24) – increasing awareness",
    "promote the use of a “day in my life tool” to capture the lived experience",
    "96% of respondents gave a positive satisfaction score",
]
# Phrases the file marks up ("(*MECC*)", "**0-19 ...**", "<i>"): without the marks.
UNMARKED = [
    "Make Every Contact Count (MECC)",
    "The internal 0-19 Perinatal Mood Assessment pathway has been reconfigured",
    "An example of feedback includes '[the practitioner was] very accommodating",  # <i>'[the ...
]


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def report():
    return parse(FOUNDING)


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    out = tmp_path_factory.mktemp("typeset")
    return {layout: typeset(layout, out / f"{layout}.pdf") for layout in LAYOUTS}


@pytest.fixture(scope="module")
def pages(pdfs):
    return {
        layout: [page.extract_text() for page in PdfReader(path).pages]
        for layout, path in pdfs.items()
    }


def lines_of(pages: list[str]) -> list[str]:
    return [line for page in pages for line in page.split("\n")]


def pieces(report) -> list[str]:
    out = []
    for agency in report.agencies:
        out += block_texts(agency.intro)
        for section in agency.sections:
            out += [section.title, *block_texts(section.blocks)]
    return out


# -- parse -------------------------------------------------------------------------------------


def test_parse_reads_the_agencies_their_sections_and_lists(report):
    assert report.title.startswith("Luton Safeguarding Children Partnership Yearly Report 2023-24")
    assert [agency.name for agency in report.agencies] == FILE_NAMES
    assert all(
        a.part_title.startswith("2. Agency achievements and challenges") for a in report.agencies
    )
    hospitals, ccs, elft = report.agencies
    assert [s.title for s in hospitals.sections[:4]] == [
        "Domestic Abuse",
        "Neglect",
        "Mental Health",
        "Child Sexual Exploitation",
    ]
    assert ccs.sections[0].title == "Neglect (Pan Beds)"
    assert elft.sections[0].title == "Training"
    # Headings under a priority stay inside its section.
    neglect = hospitals.sections[1]
    assert isinstance(neglect.blocks[0], Heading) and neglect.blocks[0].text == "What is going well"
    # A line ending in ":" before items is their lead-in.
    feedback = next(b for b in elft.sections[0].blocks if isinstance(b, BulletList))
    assert feedback.lead_in.text == "Feedback highlighted:" and len(feedback.items) == 4
    # The <ul> line's "•" items are items; the list goes on across the page break after it.
    prevention = next(s for s in ccs.sections if s.title.startswith("How has your agency"))
    items = [item.text for item in prevention.blocks[0].items]
    assert "Large sibling groups." in items and items[-1].startswith(
        "There is a bespoke duty service"
    )


def test_parse_drops_page_headers_rejoins_cut_paragraphs_and_strips_tags(report):
    texts = pieces(report)
    headers = {a.name for a in report.agencies} | {a.part_title for a in report.agencies}
    assert not headers & set(texts)
    assert not [t for t in texts if re.search(r"<[a-z/]|\*\*", t)]
    for joined in (
        "An appointment is made with the individuals consent by the treating professionals",
        "This is to support and intervention at an earlier stage",
        "before the child or young person is discharged from the service. This supports",
        "In 70% of the cases ELFT staff had identified safeguarding risks and reported them",
    ):
        assert sum(joined in t for t in texts) == 1, joined
    source = flat(FOUNDING.read_text(encoding="utf-8"))
    for phrase in PHRASES:
        assert phrase in source and sum(phrase in t for t in texts) == 1, phrase
    for phrase in UNMARKED:
        assert phrase not in source and sum(phrase in t for t in texts) == 1, phrase


# -- every layout ------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_pdf_opens_with_about_the_pages_expected(layout, pdfs, pages):
    expected = {"running-header": 16, "agency-headings": 16, "numbered-chapters": 20}[layout]
    assert expected - 3 <= len(PdfReader(pdfs[layout]).pages) <= expected + 3


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_reports_words_are_in_the_extracted_text(layout, report, pages):
    text = flat(" ".join(pages[layout]))
    for phrase in PHRASES + UNMARKED:
        assert phrase in text, phrase
    # Whole paragraphs and items too, but for the few that page furniture cuts.
    found = [piece for piece in pieces(report) if flat(piece) in text]
    assert len(found) >= 0.9 * len(pieces(report))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bullets_extract_as_the_layouts_glyph(layout, report, pages):
    glyph, nested = BULLETS[layout]
    items = [
        item
        for agency in report.agencies
        for block in agency.intro + [b for s in agency.sections for b in s.blocks]
        if isinstance(block, BulletList)
        for item in block.items
    ]
    lines = lines_of(pages[layout])
    assert sum(line.startswith(glyph + " ") for line in lines) == sum(i.level == 0 for i in items)
    assert sum(line.startswith(nested + " ") for line in lines) == sum(i.level == 1 for i in items)
    assert any(
        line.startswith(f"{glyph} Finally the Trust has a Domestic Abuse Clinic") for line in lines
    )


def test_symbol_font_bullets_extract_as_control_or_private_use_characters(pages):
    def bullet(layout: str) -> str:
        clinic = next(
            line for line in lines_of(pages[layout]) if "has a Domestic Abuse Clinic" in line
        )
        return clinic[0]

    assert bullet("running-header") == "\uf06e" and unicodedata.category("\uf06e") == "Co"
    assert bullet("numbered-chapters") == "\x7f" and unicodedata.category("\x7f") == "Cc"
    assert bullet("agency-headings") == "•"


def test_the_output_is_the_same_bytes_each_time(pdfs, tmp_path):
    again = typeset("numbered-chapters", tmp_path / "again.pdf")
    assert again.read_bytes() == pdfs["numbered-chapters"].read_bytes()


# -- each layout -------------------------------------------------------------------------------


def test_running_header_names_the_agency_at_the_top_of_every_page(report, pages):
    tops = [page.split("\n")[:2] for page in pages["running-header"]]
    assert all(top[0] in FILE_NAMES and top[1].startswith("2. Agency achievements") for top in tops)
    order = [top[0] for top in tops]
    # each agency's pages together, in order
    assert sorted(set(order), key=order.index) == FILE_NAMES
    assert all(order.count(name) >= 3 for name in FILE_NAMES)


def test_agency_headings_name_each_agency_once_as_a_heading(pdfs, pages):
    lines = lines_of(pages["agency-headings"])
    names = [FULL_NAMES.get(name, name) for name in FILE_NAMES]
    assert names[2] == "East London NHS Foundation Trust"
    for name in names:
        assert lines.count(name) == 1, name
    assert "ELFT" not in lines
    for number, page in enumerate(pages["agency-headings"], start=1):
        assert f"{PARTNERSHIP} Page {number}" in page
    metadata = PdfReader(pdfs["agency-headings"]).metadata
    assert metadata.author == PARTNERSHIP and metadata.title.startswith(PARTNERSHIP)


def test_numbered_chapters_list_the_agencies_in_the_contents_and_as_headings(report, pages):
    numbered = pages["numbered-chapters"]
    contents = numbered[1].split("\n")
    assert "Contents" in contents
    for n, name in enumerate(FILE_NAMES, start=1):
        formal = FORMAL_NAMES[name]
        entry = next(line for line in contents if line.startswith(f"3.{n} {formal} ..."))
        page = int(re.fullmatch(rf"3\.{n} {re.escape(formal)} \.{{3,}} (\d+)", entry).group(1))
        assert f"3.{n} {formal}" in numbered[page - 1].split("\n")
    assert (
        FORMAL_NAMES["Bedfordshire Hospitals Foundation Trust"]
        == "Bedfordshire Hospitals NHS Foundation Trust"
    )
    lines = lines_of(numbered)
    assert "3 Partner contributions" in lines
    assert "3.1.1 Domestic Abuse" in lines
    assert "3.2.1 Neglect (Pan Beds)" in lines
    assert "3.3.1 Training" in lines


# -- other text --------------------------------------------------------------------------------


def test_any_report_text_in_the_same_shape_is_typeset(tmp_path):
    header = "Example Agency\n\n1. Part one - what the agency did\n\n"
    text = (
        "An Example Report\n\n"
        + header
        + "Neglect\n\nWhat is going well\n\n"
        + "- The fund rose to £250 – “as planned”.\n- A sentence that\n\n"
        + header
        + "goes on over the page break.\n\nFeedback:\n\n- One.\n- Two.\n\n"
        + header
        + "How have you contributed?\n\n<p>A <i>tagged</i> paragraph.</p>\n"
    )
    source = tmp_path / "example.txt"
    source.write_text(text, encoding="utf-8")
    example = parse(source)
    assert [a.name for a in example.agencies] == ["Example Agency"]
    assert [s.title for s in example.agencies[0].sections] == [
        "Neglect",
        "How have you contributed?",
    ]
    items = [
        i.text
        for b in example.agencies[0].sections[0].blocks
        if isinstance(b, BulletList)
        for i in b.items
    ]
    assert "A sentence that goes on over the page break." in items
    out = typeset("agency-headings", tmp_path / "example.pdf", text_path=source)
    extracted = flat(" ".join(page.extract_text() for page in PdfReader(out).pages))
    assert "The fund rose to £250 – “as planned”." in extracted
    assert "A tagged paragraph." in extracted


def test_an_unknown_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown layout"):
        typeset("two-columns", tmp_path / "x.pdf")
