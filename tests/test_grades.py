"""An inspection's grade table, read back as a passage of its own (kb/grades.py)."""

from __future__ import annotations

import pytest
from conftest import CORPUS

from kb import grades
from kb.chunk import chunk_document
from kb.embed import token_counter
from kb.ingest import Document, Line, Page, read_document
from kb.reindex import _key_row


def document(*lines: tuple[str, str], title: str = "Wigan", text: str = "") -> Document:
    page = Page(1, [Line(line, kind) for kind, line in lines])
    later = Page(2, [Line(text)]) if text else Page(2)
    return Document("wigan.pdf", title, "Wigan", [page, later], "0" * 64, True, "2017-01-16")


# 2015 to 2017: the overall judgement as a heading, numbered rows, a label wrapped over a heading
# line, the grade at the end of the row's last line, blank lines between rows.
OLD_LAYOUT = (
    ("heading", "Inspection date: 16 January 2017–9 February 2017"),
    ("heading", "Children’s services in Wigan are good"),
    ("text", "1. Children who need help and protection Requires improvement"),
    ("heading", "2. Children looked after and achieving"),
    ("text", "permanence"),
    ("blank", ""),
    ("heading", "Requires"),
    ("heading", "Improvement"),  # 2015 capitalised it
    ("text", "2.1 Adoption performance Outstanding"),
    ("text", "3. Leadership, management and governance Good"),
    ("text", "At the time of this inspection, services for children in Wigan are good because a"),
)


def test_an_older_reports_table_is_read_with_its_overall_judgement():
    table = grades.grade_table(document(*OLD_LAYOUT))
    assert table is not None and table.page == 1
    assert table.rows == (
        ("Overall judgement", "Good"),
        ("Children who need help and protection", "Requires improvement"),
        ("Children looked after and achieving permanence", "Requires improvement"),
        ("Adoption performance", "Outstanding"),
        ("Leadership, management and governance", "Good"),
    )


@pytest.mark.parametrize(
    "head, overall",
    [
        (  # Darlington 2015: over two lines, and the scale's meaning between it and the rows
            (
                ("heading", "Children’s services in Darlington Borough Council are"),
                ("heading", "inadequate"),
                ("text", "There are widespread or serious failures that create or leave children"),
                ("text", "being harmed or at risk of harm."),
            ),
            "Inadequate",
        ),
        (  # Walsall 2017: "requires improvement" as the verb
            (("heading", "Children’s services in Walsall requires improvement to be good"),),
            "Requires improvement to be good",
        ),
        (  # Essex 2014: in so many words, as text
            (
                ("text", "The overall judgement is good"),
                ("text", "The local authority leads effective services."),
            ),
            "Good",
        ),
        (  # Halton 2015
            (
                ("heading", "The overall judgement is that children’s services require"),
                ("heading", "improvement"),
            ),
            "Requires improvement",
        ),
    ],
)
def test_an_overall_judgement_over_two_lines_or_apart_from_the_rows_heads_the_table(head, overall):
    table = grades.grade_table(document(*head, *OLD_LAYOUT[2:]))
    assert table is not None
    assert table.rows[0] == ("Overall judgement", overall)
    assert [label for label, _ in table.rows[1:]] == [
        "Children who need help and protection",
        "Children looked after and achieving permanence",
        "Adoption performance",
        "Leadership, management and governance",
    ]


def test_a_label_wrapped_over_short_lines_after_the_tables_head_is_one_row():
    table = grades.grade_table(
        document(
            ("heading", "Judgement Grade"),
            ("text", "The impact of leaders on social work practice with children and"),
            ("text", "families"),
            ("heading", "Good"),  # set in bold, read as a heading
            ("text", "The experiences and progress of"),
            ("text", "children who need help and protection"),
            ("text", "Requires improvement"),
            ("text", "to be good"),
            ("text", "Overall effectiveness Requires improvement to"),
            ("text", "be good"),
        )
    )
    assert table is not None
    assert table.rows == (
        ("The impact of leaders on social work practice with children and families", "Good"),
        (
            "The experiences and progress of children who need help and protection",
            "Requires improvement to be good",
        ),
        ("Overall effectiveness", "Requires improvement to be good"),
    )


NEW_LAYOUT = (
    ("heading", "Inspection of Wigan local authority children’s services"),
    ("text", "Inspection dates: 13 to 24 March 2023"),
    ("heading", "Judgement Grade"),
    ("text", "The impact of leaders on social work practice with children and"),
    ("text", "families"),
    ("heading", "Good"),
    ("text", "The experiences and progress of"),
    ("text", "children who need help and protection"),
    ("text", "Requires improvement"),
    ("text", "to be good"),
    ("text", "The experiences and progress of children in care Good"),
    ("text", "Overall effectiveness Requires improvement to"),
    ("text", "be good"),
    ("text", "Services for children in Wigan have improved since the last inspection, and"),
    ("text", "children in care now receive a good service from committed social workers."),
)


def test_a_tables_lines_are_its_passage_alone_and_the_summary_after_it_stands_apart():
    table = grades.grade_table(document(*NEW_LAYOUT))
    assert table is not None and len(table.rows) == 4
    # The head and every row's lines, nothing before or after them.
    assert table.lines == frozenset(range(2, 13))
    chunks = chunk_document(document(*NEW_LAYOUT), token_counter())
    title = "Inspection of Wigan local authority children’s services"
    assert [chunk.section for chunk in chunks] == [title, grades.SECTION]
    assert chunks[0].text.splitlines() == [
        "Inspection dates: 13 to 24 March 2023",
        "Services for children in Wigan have improved since the last inspection, and children"
        " in care now receive a good service from committed social workers.",
    ]
    assert "- Overall effectiveness: Requires improvement to be good" in chunks[1].text


def test_a_cover_line_above_an_overall_judgement_is_not_read_into_its_table():
    lines = (
        ("heading", "Report published: 1 September 2015"),
        ("heading", "Children’s services in Wigan require improvement to be good"),
        *OLD_LAYOUT[2:],
    )
    table = grades.grade_table(document(*lines))
    assert table is not None
    assert table.rows[0] == ("Overall judgement", "Requires improvement to be good")
    assert table.lines == frozenset({1, 2, 3, 4, 6, 7, 8, 9})  # not the date, nor the blank line
    chunks = chunk_document(document(*lines), token_counter())
    # Nor does it head the passages below it, as a section: the citation gives the date.
    assert chunks and not any("Report published" in chunk.section for chunk in chunks)


def test_an_overall_judgement_set_as_text_stays_in_the_prose_it_may_end():
    lines = (("text", "The overall judgement is good"), *OLD_LAYOUT[2:])
    table = grades.grade_table(document(*lines))
    assert table is not None and table.rows[0] == ("Overall judgement", "Good")
    assert 0 not in table.lines  # read into the table, and left where it stands as well
    chunks = chunk_document(document(*lines), token_counter())
    assert chunks[0].text.startswith("The overall judgement is good")
    assert "At the time of this inspection, services for children in Wigan are good" in "".join(
        chunk.text for chunk in chunks[:-1]
    )


@pytest.mark.parametrize(
    "lines",
    [
        # Prose that ends lines on a grade is not a table: its lines are long, or sentences.
        (
            (
                "text",
                "Practice in the front door is now judged by senior leaders as consistently Good",
            ),
            ("text", "and the quality assurance framework rates most audits as Good"),
            ("text", "Work was rated Good."),
            ("text", "Care leavers said it was Good"),
        ),
        # Two rows are not a table.
        (("text", "Adoption performance Good"), ("text", "Overall effectiveness Good")),
        # Prose writes a grade in lower case.
        tuple(("text", f"Area {n} is good") for n in range(4)),
    ],
)
def test_prose_that_ends_on_a_grade_is_not_a_table(lines):
    assert grades.grade_table(document(*lines)) is None


def test_the_passage_names_the_inspectorate_the_report_names_most_and_each_row():
    text = grades.passage_text(
        document(*OLD_LAYOUT, text="Ofsted inspected. The Care Quality Commission joined. Ofsted"),
        grades.grade_table(document(*OLD_LAYOUT)),
    )
    assert text.splitlines()[0] == "Ofsted judgement grades (ratings): Wigan, 16 January 2017"
    assert "- Adoption performance: Outstanding" in text.splitlines()
    unnamed = grades.passage_text(document(*OLD_LAYOUT), grades.grade_table(document(*OLD_LAYOUT)))
    assert unnamed.startswith("Judgement grades (ratings): Wigan")  # no inspectorate named


@pytest.mark.parametrize(
    "name, overall",
    [
        ("devon__childrens_services_inspection_-_13_may_2025.pdf", "Inadequate"),
        ("lambeth__childrens_services_inspection_-_10_march_2026.pdf", "Good"),
        (
            "bradford__childrens_services_inspection_-_21_may_2026.pdf",
            "Requires improvement to be good",
        ),
    ],
)
def test_a_real_reports_table_becomes_a_passage_of_its_own_that_is_never_standard_text(
    name, overall
):
    read = read_document(CORPUS / name)
    chunks = chunk_document(read, token_counter())
    tables = [chunk for chunk in chunks if chunk.section == grades.SECTION]
    assert len(tables) == 1
    table = tables[0]
    assert table.page == 1 and table.agency == chunks[0].agency
    assert table.position == len(chunks) - 1  # after the report's own passages, which stay whole
    lines = table.text.splitlines()
    assert lines[0].startswith(f"Ofsted judgement grades (ratings): {read.title}")
    assert f"- Overall effectiveness: {overall}" in lines
    assert len(lines) == 6  # four judgements and the overall one
    # The table's rows are that passage's alone: the summary after them, the report's first
    # passages, is not cited under the table's head nor read with its rows.
    summary = chunks[:-1]
    assert summary[0].page == 1
    assert not any("Judgement Grade" in chunk.section for chunk in summary)
    assert not any(f"Overall effectiveness {overall}" in chunk.text for chunk in summary)
    # Every report shares the row labels; the grades are this report's own finding.
    assert _key_row(table, 40)[1:] == ["", 0, ""]


@pytest.mark.parametrize(
    "query, asks",
    [
        ("darlington ofsted judgement 2015", True),
        ("bromley latest ofsted rating", True),
        ("how was birmingham children's trust rated in 2023", True),
        ("west berks 2017 re-inspection overall outcome", True),
        ("how did Leeds do at its last inspection", True),
        ("is Dorset inadequate?", True),
        ("liverpool 2023 ofsted care leavers when are PAs allocated", False),
        ("hull 2019 ofsted private fostering", False),
        ("strategy discussions out of hours", False),
    ],
)
def test_a_question_about_a_judgement_is_told_from_others(query, asks):
    assert grades.asks_for_a_judgement(query) is asks
