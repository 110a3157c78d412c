"""Which headings name an organisation, and which names are one organisation's."""

import pytest

from kb.organisations import Organisations, is_contents_line, lower_case_words, strip_numbering

# The document's own words: what it writes in lower case is common, not a name.
COMMON = lower_case_words(
    "the early help service and the multi-agency safeguarding hub met; domestic abuse training, "
    "partner contributions and what is going well; the virtual school; st giles trust's work"
)


@pytest.fixture(scope="module")
def organisations():
    return Organisations.default()


@pytest.mark.parametrize(
    "heading, named",
    [
        (
            "3.1 Bedfordshire Hospitals NHS Foundation Trust",
            "Bedfordshire Hospitals NHS Foundation Trust",
        ),
        ("Cambridgeshire Community Services", "Cambridgeshire Community Services"),
        ("East London NHS Foundation Trust", "East London NHS Foundation Trust"),
        ("ELFT", "ELFT"),  # an acronym the glossary spells out as an organisation
        ("Luton Borough Council", "Luton Borough Council"),
        ("Section 4: Bedfordshire Police", "Bedfordshire Police"),
        ("Early Help Service", ""),  # every word of it is one the document writes in lower case
        ("Multi-Agency Safeguarding Hub", ""),
        ("Domestic Abuse", ""),  # no word for what an organisation is
        ("3 Partner contributions", ""),
        ("What is going well", ""),
        ("The Trust", ""),
        ("Local Authority", ""),
        ("Sharing information with the local authority", ""),  # a sentence, not a name
        ("3.2 Cambridgeshire Community Services NHS Trust ........ 11", ""),  # a contents entry
    ],
)
def test_a_heading_names_an_organisation_when_it_is_a_name_with_a_name_word(
    organisations, heading, named
):
    assert organisations.named_in(heading, COMMON) == named


@pytest.mark.parametrize(
    "one, other, same",
    [
        ("Bedfordshire Hospitals NHS Foundation Trust", "Bedfordshire Hospitals", True),
        ("Bedfordshire Hospitals Foundation Trust", "BHFT", True),
        ("ELFT", "East London NHS Foundation Trust", True),
        ("Cambridgeshire Community Services (CCS)", "CCS", True),
        ("Cambridgeshire Community Services NHS Trust", "Cambridgeshire Community Services", True),
        ("Cambridgeshire Community Services", "Bedfordshire Hospitals Foundation Trust", False),
        ("Luton Borough Council", "Luton Safeguarding Children Partnership", False),
        ("Bedfordshire Police", "Bedfordshire Hospitals", False),
        ("Trust", "NHS Foundation Trust", False),  # no name words: not known to be anything
    ],
)
def test_variants_of_one_name_share_a_key(organisations, one, other, same):
    assert organisations.same(one, other) is same


def test_a_name_the_corpus_already_uses_is_the_one_kept(organisations):
    known = Organisations.default(known=["ELFT", "Bedfordshire Hospitals Foundation Trust"])
    assert known.canonical("East London NHS Foundation Trust") == "ELFT"
    assert known.canonical("Bedfordshire Hospitals NHS Foundation Trust") == (
        "Bedfordshire Hospitals Foundation Trust"
    )
    assert known.canonical("Luton Borough Council") == "Luton Borough Council"
    assert organisations.aliases("East London NHS Foundation Trust") == {"ELFT"}


@pytest.mark.parametrize(
    "line, contents",
    [
        ("3.2 Cambridgeshire Community Services NHS Trust ........ 11", True),
        ("1 Introduction . . . . . . 3", True),
        ("Contents…12", True),
        ("children were seen. 25", False),
        ("In 2023 there were 12", False),
    ],
)
def test_a_contents_entry_is_dot_leaders_and_a_page_number(line, contents):
    assert is_contents_line(line) is contents


@pytest.mark.parametrize(
    "heading, stripped",
    [
        ("3.2 Cambridgeshire", "Cambridgeshire"),
        ("3.1.1. Domestic Abuse", "Domestic Abuse"),
        ("Section 3: Partners", "Partners"),
        ("Chapter 2 – Police", "Police"),
        ("2023-24 in numbers", "2023-24 in numbers"),
    ],
)
def test_numbering_before_a_heading_is_not_part_of_its_name(heading, stripped):
    assert strip_numbering(heading) == stripped


def test_a_heading_that_looks_like_an_organisation_is_told_apart_from_a_topic(organisations):
    assert organisations.looks_like_one("Oak Tree Trust")
    assert organisations.looks_like_one("3.1 Riverside Council")
    assert not organisations.looks_like_one("Sharing information with the local authority")
    assert not organisations.looks_like_one("Domestic Abuse")
