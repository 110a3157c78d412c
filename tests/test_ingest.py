import random

import pypdf
import pytest
from conftest import BRADFORD, FOUNDING, INFO_SHARING

from kb.errors import UnreadableDocument
from kb.ingest import (
    _organisation_in,
    _pdf_agencies,
    _pdf_title,
    _RawLine,
    _report_title,
    looks_like_heading,
    read_document,
)


def _lines(document, page=None):
    return [
        line for p in document.pages if page in (None, p.number) for line in p.lines if line.text
    ]


@pytest.fixture(scope="module")
def founding():
    return read_document(FOUNDING)


@pytest.fixture(scope="module")
def bradford():
    return read_document(BRADFORD)


def test_founding_report_pages_come_from_its_repeated_agency_and_section_lines(founding):
    assert len(founding.pages) == 23
    texts = [line.text for line in _lines(founding)]
    assert not any(text.startswith("2. Agency achievements and challenges") for text in texts)
    assert "ELFT" not in texts and "Cambridgeshire Community Services" not in texts
    # The page break after "An appointment is made with the" is the start of page 2.
    assert any(
        line.text.startswith("individuals consent by the treating") for line in _lines(founding, 2)
    )
    assert any(
        "Domestic Abuse Clinic available each week" in line.text for line in _lines(founding, 1)
    )


def test_founding_report_agency_follows_its_page_headers(founding):
    agencies = [page.lines[0].agency for page in founding.pages]
    assert agencies[:9] == ["Bedfordshire Hospitals Foundation Trust"] * 9
    assert set(agencies[9:18]) == {"Cambridgeshire Community Services"}
    assert set(agencies[18:]) == {"ELFT"}
    assert founding.title.startswith(
        "Luton Safeguarding Children Partnership Yearly Report 2023-24"
    )


def test_html_left_by_extraction_is_stripped_but_its_words_kept(founding):
    text = founding.text
    for tag in ("<p>", "</p>", "<ul", "<i>", "</i>", "&amp;"):
        assert tag not in text
    assert "CS takes a co-production approach to the design" in text
    assert "'[the practitioner was] very accommodating" in text
    assert "- Quarterly reports are completed by the safeguarding team." in text


def test_founding_report_headings(founding):
    headings = {line.text for line in _lines(founding) if line.kind == "heading"}
    assert {"Domestic Abuse", "Neglect (Pan Beds)", "Serious Youth Violence Panel"} <= headings
    assert (
        "How are you gathering feedback from children and families who have received "
        "safeguarding interventions?"
    ) in headings
    assert not any(h.startswith("- ") or h.endswith(".") for h in headings)


def test_pdf_running_headers_and_page_numbers_are_removed(bradford):
    assert len(bradford.pages) == 14
    texts = [line.text for line in _lines(bradford)]
    assert not any(
        t == "Inspection of Bradford Children and Families Trust children’s services" for t in texts
    )
    assert not any(t.startswith("12 to 23 January 2026") for t in texts)
    # The title page keeps its own lines: the header removal only takes what repeats.
    assert "Inspection dates: 12 to 23 January 2026" in [line.text for line in _lines(bradford, 1)]


def test_pdf_pages_are_the_viewers_page_numbers(bradford):
    page4 = [line.text for line in _lines(bradford, 4)]
    assert page4[0].startswith("10. Despite recent improvements")
    assert any(
        t.startswith("3. The integrated front door (IFD)")
        for t in (line.text for line in _lines(bradford, 2))
    )


def test_pdf_organisation_comes_from_the_header_that_names_it(bradford):
    assert bradford.organisation == "Bradford Children and Families Trust"
    assert {line.agency for line in _lines(bradford)} == {"Bradford Children and Families Trust"}
    assert bradford.title == "Inspection of Bradford Children and Families Trust"


@pytest.mark.parametrize(
    "title, organisation",
    [
        ("Inspection of Devon local authority children’s services", "Devon local authority"),
        (
            "Inspection of Bradford Children and Families Trust",
            "Bradford Children and Families Trust",
        ),
        ("Focused visit to Luton local authority children's services", "Luton local authority"),
        (
            "Inspection of the Isle of Wight local authority children’s services",
            "Isle of Wight local authority",
        ),
        ("Children missing education", ""),
        ("Inspection of children’s homes: guidance for providers", ""),  # names no organisation
    ],
)
def test_an_ofsted_title_names_the_organisation_inspected(title, organisation):
    assert _organisation_in(title) == organisation


def test_running_headers_that_change_name_each_pages_agency_only_when_they_are_organisations():
    agencies = [
        ["Bedfordshire Hospitals NHS Foundation Trust", "4"],
        ["ELFT", "5"],
        ["Luton Borough Council", "6"],
    ]
    assert _pdf_agencies(agencies, "Partners' snapshot", "") == (
        ["Bedfordshire Hospitals NHS Foundation Trust", "ELFT", "Luton Borough Council"],
        "Bedfordshire Hospitals NHS Foundation Trust",
    )
    chapters = [
        ["Section one: roles and duties", "4"],
        ["Section one: roles and duties", "5"],
        ["Section two: working together", "6"],
    ]
    assert _pdf_agencies(chapters, "Statutory guidance", "Jane Smith") == (["", "", ""], "")


def test_a_running_header_with_its_page_number_beside_it_is_one_header_not_many_agencies():
    """Hull's 2015 report: the LSCB review's pages are headed by its title with the page number
    before or after it, and a table's heading tops three pages of the main report."""
    title = "Inspection of the effectiveness of the local safeguarding children board: Hull"
    pages = [["2"], ["3"], ["12", "Key judgement Judgement grade"], ["13"]]
    pages += [[f"{title} {n}"] if n % 2 else [f"{n} {title}"] for n in range(1, 15)]
    first_page = ["Kingston upon Hull City Council", "Inspection of services for children in need"]
    agencies, organisation = _pdf_agencies(pages, "Hull", "Ofsted", first_page)
    assert organisation == "Kingston upon Hull City Council"
    assert set(agencies) == {organisation}
    partners = [
        ["4 Bedfordshire Hospitals NHS Foundation Trust"],
        ["ELFT 5"],
        ["Luton Borough Council 6"],
    ]
    assert _pdf_agencies(partners, "Partners' snapshot", "")[0] == [
        "Bedfordshire Hospitals NHS Foundation Trust",
        "ELFT",
        "Luton Borough Council",
    ]


@pytest.mark.parametrize(
    "first_page, organisation",
    [
        (  # 2013: the council in a line of its own below the title
            ["Inspection of looked after children", "services", "Kent County Council"],
            "Kent County Council",
        ),
        (  # 2015: above the title, in two lines, with an abbreviation that ends no sentence
            ["1", "St. Helens Metropolitan Borough", "Council", "Inspection of services for"],
            "St. Helens Metropolitan Borough Council",
        ),
        (["Inspection of looked after children", "services", "Inspection dates: 15 July"], ""),
        (  # 2018: the council's name as a register sorts it, the comma lost or kept
            ["Bristol City of", "Inspection of children’s social care services"],
            "City of Bristol",
        ),
        (["Bristol, City of", "Inspection of children’s social care services"], "City of Bristol"),
    ],
)
def test_an_older_title_page_names_the_council_above_or_below_its_title(first_page, organisation):
    assert _pdf_agencies([[]], "Inspection of looked after children", "", first_page)[1] == (
        organisation
    )


@pytest.mark.parametrize(
    "first_page, title",
    [
        (  # 2014 to 2017: wrapped over five lines, a footnote's mark glued to the last word
            [
                "1",
                "Leeds City Council",
                "Inspection of services for children in need of help and",
                "protection, children looked after and care leavers",
                "and",
                "Review of the effectiveness of the local safeguarding children",
                "board1",
                "Inspection date: 12 January 2015 – 4 February 2015",
            ],
            "Inspection of services for children in need of help and protection, children looked "
            "after and care leavers and Review of the effectiveness of the local safeguarding "
            "children board",
        ),
        (  # 2018 and 2019
            [
                "London Borough of Bromley",
                "Inspection of children’s social care services",
                "Inspection dates: 19 November–30 November 2018",
            ],
            "Inspection of children’s social care services",
        ),
        (  # 2015: some title pages capitalise the "And" that joins the two reports' titles
            [
                "Brent",
                "Inspection of services for children in need of help and",
                "protection, children looked after and care leavers",
                "And",
                "Review of the effectiveness of the Local Safeguarding Children",
                "Board",
                "Inspection date: 15 June 2015",
            ],
            "Inspection of services for children in need of help and protection, children looked "
            "after and care leavers and Review of the effectiveness of the Local Safeguarding "
            "Children Board",
        ),
        (["Working together to safeguard children", "December 2023"], ""),
    ],
)
def test_an_older_inspections_title_is_the_reports_own_line_below_the_council(first_page, title):
    assert _report_title(first_page) == title


def test_a_page_number_set_large_is_no_title():
    """Bromley's 2019 report sets its page number larger than anything else on its title page."""
    first_page = [
        _RawLine("1", 28.0, 0.0),
        _RawLine("London Borough of Bromley", 20.0, 1.0),
        _RawLine("Inspection of children’s social care services", 14.0, 1.0),
        _RawLine("Since the last inspection in 2016, services have improved.", 12.0, 0.0),
    ]
    assert _pdf_title(first_page, 12.0) == "London Borough of Bromley"


def test_a_title_hyphenated_at_a_lines_end_is_one_word():
    """The designated teacher guidance's title breaks "looked-" / "after" over two lines."""
    first_page = [
        _RawLine("The designated teacher for looked-", 24.0, 0.0),
        _RawLine("after and previously looked-after", 24.0, 1.0),
        _RawLine("children", 24.0, 2.0),
        _RawLine("Statutory guidance for local authorities", 12.0, 3.0),
    ]
    assert _pdf_title(first_page, 12.0) == (
        "The designated teacher for looked-after and previously looked-after children"
    )


def test_repeated_markdown_headings_are_headings_not_page_tops(tmp_path):
    notes = tmp_path / "review.md"
    notes.write_text(
        "# Learning review: Child J\n\n"
        + "".join(
            f"## Recommendation {n}\n### Partnership response\n"
            f"The partnership will act on point {n}.\n\n"
            for n in range(1, 4)
        )
    )
    document = read_document(notes)
    assert len(document.pages) == 1 and document.organisation == ""
    assert {line.agency for line in _lines(document)} == {""}
    headings = [line.text for line in _lines(document) if line.kind == "heading"]
    assert headings[:2] == ["Recommendation 1", "Partnership response"]


def test_pdf_headings_and_footnotes_come_from_font_sizes(bradford):
    kinds = {line.text: line.kind for line in _lines(bradford, 2)}
    assert kinds["What needs to improve?"] == "heading"  # the raised footnote mark "1" is dropped
    footnotes = [text for text, kind in kinds.items() if kind == "footnote"]
    assert footnotes and footnotes[0].startswith("1 The areas for improvement")


def test_guidance_pdf_with_page_number_headers():
    document = read_document(INFO_SHARING)
    assert document.organisation == "Department for Education"  # from the PDF's author
    page6 = _lines(document, 6)
    assert page6[0].text == "Introduction" and page6[0].kind == "heading"
    assert not any(line.text.strip() == "6" for line in page6)
    # Footnote marks set small after a word are not glued to it.
    assert any("Working together to safeguard children 2023. The" in line.text for line in page6)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("Domestic Abuse", True),
        ("Neglect (Pan Beds)", True),
        (
            (
                "How are you gathering feedback from children and families who have received "
                "safeguarding interventions?"
            ),
            True,
        ),
        ("What to improve:", False),
        ("- Safeguarding Teams are present on both sites.", False),
        ("individuals consent by the treating professionals", False),
        (
            (
                "The Trust safeguarding team attend the Serious Youth Violence Panel. "
                "This enables good networking"
            ),
            False,
        ),
    ],
)
def test_looks_like_heading(line, expected):
    assert looks_like_heading(line) is expected


def _encrypted(path):
    writer = pypdf.PdfWriter(clone_from=BRADFORD)
    writer.encrypt(user_password="secret", owner_password="owner")
    writer.write(path)


def _blank(path):
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(path)


UNREADABLE = [
    ("empty.pdf", lambda p: p.write_bytes(b""), "empty file"),
    ("empty.txt", lambda p: p.write_bytes(b""), "empty file"),
    ("random.pdf", lambda p: p.write_bytes(random.Random(7).randbytes(4000)), "not a readable PDF"),
    ("truncated.pdf", lambda p: p.write_bytes(BRADFORD.read_bytes()[:1500]), "PDF"),
    ("locked.pdf", _encrypted, "encrypted PDF"),
    ("scanned.pdf", _blank, "no text layer"),
    ("binary.txt", lambda p: p.write_bytes(b"\x00\x01\x02binary\x00" * 50), "binary content"),
    ("blank.txt", lambda p: p.write_text("   \n\n  \n"), "no text"),
    ("report.docx", lambda p: p.write_bytes(b"PK\x03\x04"), "unsupported file type .docx"),
]


@pytest.mark.parametrize("name, make, reason", UNREADABLE, ids=[row[0] for row in UNREADABLE])
def test_unreadable_files_are_refused_with_a_reason(tmp_path, name, make, reason):
    path = tmp_path / name
    make(path)
    with pytest.raises(UnreadableDocument) as caught:
        read_document(path)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message


def test_utf8_text_is_read_as_utf8(tmp_path):
    path = tmp_path / "notes.txt"
    # No character here is undefined in Windows-1252, so reading it as that would not fail: it would
    # garble.
    path.write_text(
        "Children’s services\n\nThe café’s drop-in runs on Tuesdays – for £0.\n", encoding="utf-8"
    )
    document = read_document(path)
    assert document.title == "Children’s services"
    assert [line.text for line in _lines(document)] == [
        "The café’s drop-in runs on Tuesdays – for £0."
    ]


def test_text_in_a_western_encoding_is_read(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("Café – “quoted” £5 consent\n".encode("cp1252"))
    document = read_document(path)
    assert document.title == "Café – “quoted” £5 consent"


@pytest.mark.parametrize(
    "first_line, title, kept",
    [
        ("Neglect strategy 2024 to 2027", "Neglect strategy 2024 to 2027", False),
        ("# Practice notes", "Practice notes", False),
        (
            "The board met twice. It agreed the escalation policy.",
            "board minutes",
            True,
        ),  # a paragraph
        ("The board met twice and agreed the escalation policy.", "board minutes", True),
        ("- the first of the actions agreed", "board minutes", True),
        ("A " + "very long opening line " * 40, "board minutes", True),
    ],
)
def test_a_first_line_is_the_title_only_if_it_looks_like_one(tmp_path, first_line, title, kept):
    path = tmp_path / ("board_minutes.md" if first_line.startswith("#") else "board_minutes.txt")
    path.write_text(f"{first_line}\n\nActions were assigned to each agency.\n")
    document = read_document(path)
    text = [line.text for line in _lines(document)]
    assert document.title == title
    assert (first_line.strip().lstrip("- ").strip() in " ".join(text)) is kept
    assert "Actions were assigned to each agency." in text


def test_footnote_marks_glued_to_words_are_dropped_where_the_page_has_those_footnotes():
    from conftest import CORPUS

    document = read_document(
        CORPUS / "Children_missing_education_guidance_-_August_2024.pdf", "cme.pdf"
    )
    page = next(page for page in document.pages if page.number == 6)
    text = " ".join(line.text for line in page.lines if line.kind == "text")
    assert "sixth school day of exclusion," in text and "exclusion2" not in text
    assert "school attendance’." in text and "attendance’.10" not in text
    assert (
        "comply with an SAO," in text and "SAO6" not in text
    )  # the guidance writes "SAO" bare elsewhere
    footnotes = [line.text for line in page.lines if line.kind == "footnote"]
    assert any(
        note.startswith("2 The Education (Provision of Full-Time") for note in footnotes
    )  # kept whole


def test_footnote_marks_glued_to_acronyms_are_dropped_where_the_document_writes_them_bare():
    from conftest import CORPUS

    document = read_document(CORPUS / "Info_sharing_advice_content_May_2024.pdf", "sharing.pdf")
    text = " ".join(line.text for line in document.pages[15].lines if line.kind == "text")
    assert "undertake a DPIA for sharing" in text and "DPIA23" not in text
    assert "DSAs with agencies" in text and "DSAs22" not in text


LEFT = [f"Left column line {n} says the clinic sees parents each week." for n in range(1, 9)]
RIGHT = [f"Right column line {n} says the neglect tool is used by nurses." for n in range(1, 9)]
GRADES = [
    ("Overall effectiveness", "Good"),
    ("The experiences and progress of children who need help and protection", "Good"),
    ("The experiences and progress of children in care", "Requires improvement to be good"),
    ("The experiences and progress of care leavers", "Good"),
    ("Impact of leaders on social work practice with children and families", "Good"),
    ("Overall effectiveness of care leavers services", "Outstanding"),
]


def _two_columns(path, rows):
    """A page drawn a row at a time across the page, as some designers' tools write it."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    for n, (left, right) in enumerate(rows):
        pdf.text(10, 20 + 6 * n, left)
        pdf.text(110, 20 + 6 * n, right)
    path.write_bytes(bytes(pdf.output()))
    return [line.text for line in read_document(path).pages[0].lines if line.text]


def test_two_columns_drawn_row_by_row_are_read_a_column_at_a_time(tmp_path):
    """pypdf reads text in the order the PDF draws it: without this, each line would hold a line
    of each column."""
    assert _two_columns(tmp_path / "columns.pdf", list(zip(LEFT, RIGHT))) == LEFT + RIGHT


def test_a_tables_rows_stay_rows(tmp_path):
    """A judgement table's cells are short, not prose: each row stays one line, label and grade."""
    lines = _two_columns(tmp_path / "table.pdf", GRADES)
    assert len(lines) == len(GRADES)
    for line, (label, grade) in zip(lines, GRADES):
        assert line.startswith(label) and line.endswith(grade)
