import pytest

from kb import dates, editions
from kb.passage import IndexedDocument


@pytest.mark.parametrize(
    "text, date",
    [
        ("Inspection dates: 17 to 21 March 2025", "2025-03-21"),  # a span is dated by its end
        ("Inspection date: 29 April – 22 May 2014 Report published: 7 July 2014", "2014-05-22"),
        ("Luton LSCP Yearly Report 2023-24, between 1 April 2023 and 31 March 2024", "2024"),
        ("Children missing education, August 2024", "2024-08"),
        ("13th May 2025", "2025-05-13"),
        ("Children Act 1989 guidance", "1989"),  # a year alone, when nothing else is found
        ("no date at all", ""),
        ("31 February 2024 and 3 March 2024", "2024-02"),  # no 31 February: the month stands
    ],
)
def test_a_texts_first_date(text, date):
    assert dates.date_in(text) == date


def test_a_document_is_dated_by_its_title_page_then_its_name_then_its_pdf():
    assert dates.document_date("Inspection dates: 7 to 11 October 2024", "x_-_13_may_2025.pdf") == (
        "2024-10-11"
    )
    assert dates.document_date("Devon", "devon__inspection_-_13_may_2025.pdf") == "2025-05-13"
    # A year alone ("Children Act 1989") gives way to the PDF's own date.
    assert (
        dates.document_date("Children Act 1989", "CA1989.pdf", "D:20150601120000") == "2015-06-01"
    )
    assert dates.document_date("Children Act 1989", "CA1989.pdf") == "1989"


@pytest.mark.parametrize(
    "date, shown", [("2025-05-13", "13 May 2025"), ("2024-08", "August 2024"), ("2024", "2024")]
)
def test_a_date_as_a_citation_shows_it(date, shown):
    assert dates.shown(date) == shown


def entry(document: str, date: str) -> IndexedDocument:
    return IndexedDocument(document, "", "", (), 1, 1, date)


def test_editions_are_files_whose_names_differ_only_in_dates():
    catalogue = [
        entry("inspections/leeds__childrens_services_inspection_-_27_march_2015.pdf", "2015-03-27"),
        entry("inspections/leeds__childrens_services_inspection_-_01_may_2018.pdf", "2018-05-01"),
        entry("inspections/leeds__childrens_services_inspection_-_06_june_2023.pdf", "2023-06-06"),
        entry("inspections/bristol__childrens_services_inspection_-_01_may_2018.pdf", "2018-05-01"),
        entry("national guidance/KCSIE_2024.pdf", "2024-09"),
        entry("national guidance/KCSIE_2025.pdf", "2025-09"),
        entry("luton/KCSIE_2023.pdf", "2023-09"),  # another collection: not an edition of those
    ]
    assert editions.newer(catalogue) == {
        "inspections/leeds__childrens_services_inspection_-_27_march_2015.pdf": "2023-06-06",
        "inspections/leeds__childrens_services_inspection_-_01_may_2018.pdf": "2023-06-06",
        "national guidance/KCSIE_2024.pdf": "2025-09",
    }


@pytest.mark.parametrize(
    "query, latest, years",
    [
        ("Leeds care leavers latest inspection", True, set()),
        ("most recent Ofsted rating for Solihull", True, set()),
        ("what was Dorset's overall judgement in 2025?", False, {2025}),
        ("Children Act 1989 transitions", False, {1989}),
        ("care leavers", False, set()),
    ],
)
def test_what_a_query_says_of_editions(query, latest, years):
    assert editions.asks_for_the_latest(query) is latest
    assert editions.years_named(query) == years
