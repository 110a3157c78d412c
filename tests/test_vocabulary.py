import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.vocabulary import (
    Entry,
    Glossary,
    best_long_form,
    default_glossary,
    definitions_in,
    learned_from,
)


@pytest.fixture(scope="module")
def glossary():
    return Glossary.load()


@pytest.mark.parametrize(
    "query, added",
    [
        ("what does the hospital do for DA out of hours?", "domestic abuse"),  # acronym -> words
        ("domestic abuse training", "DA"),  # words -> acronym
        ("HVs and neglect", "health visitor"),  # a plural acronym
        ("child sexual exploitation in parks", "CSE"),
        (
            "radicalisation referrals",
            "Prevent",
        ),  # any expansion, not only the first, finds the term
        ("timeline of events", "chronology"),  # a practitioner's word for the report's
        (
            "what to do when agencies disagree about a case",
            "escalation",
        ),  # an everyday verb for the policy's name
        ("support for parents", "parent or carer"),  # a plural word
    ],
)
def test_expansion_works_both_ways(glossary, query, added):
    assert added in glossary.expand(query)


def test_a_glossary_held_in_an_index_adds_only_what_the_index_holds(glossary):
    assert "kids" in glossary.expand("support for children")  # "kids" => "children", read backwards
    absent = {"kids", "extra young zone"}
    held = glossary.held_in(lambda phrase: phrase not in absent)
    assert "kids" not in held.expand("support for children")
    assert held.expand("DA training") == glossary.expand(
        "DA training"
    )  # what is held is added as before
    learned = [Entry("XYZ", ("extra young zone",)), Entry("ABC", ("a big change",))]
    assert glossary.with_learned(learned).expand("XYZ and ABC") == [
        "extra young zone",
        "a big change",
    ]
    assert held.with_learned(learned).expand("XYZ and ABC") == [
        "a big change"
    ]  # still held to the index
    assert glossary.held_in(lambda phrase: False).expand("DA training") == []
    # An acronym takes the first of its long forms the index holds.
    assert glossary.expand("DVA support") == ["domestic violence and abuse"]
    held = glossary.held_in(lambda phrase: phrase != "domestic violence and abuse")
    assert held.expand("DVA support") == ["domestic abuse"]


def test_expansion_adds_nothing_the_query_already_says(glossary):
    expanded = glossary.expand("DA and domestic abuse")
    assert "domestic abuse" not in expanded and "DA" not in expanded
    assert len(expanded) == len({phrase.casefold() for phrase in expanded})
    assert glossary.expand("weather in Luton today") == []


def test_acronyms_match_as_written_and_plain_words_in_any_case(glossary):
    assert "Prevent" not in glossary.expand("how to prevent falls")  # the duty, not the verb
    assert "domestic abuse" not in glossary.expand("da capo")  # "DA" is an acronym
    assert "domestic violence" not in glossary.expand("da capo")  # also where it is an expansion
    assert "local authority" in glossary.expand("Council tax")  # a plain word in any case


@pytest.mark.parametrize(
    "query, added",
    [
        ("what does the hosp do for da ooh", ["domestic abuse", "out of hours", "hospital"]),
        ("cin plans", ["child in need"]),
        ("CiN plans", ["child in need"]),
        ("lado referral", ["local authority designated officer"]),
        ("mash front door", ["multi-agency safeguarding hub"]),
        ("ehcp review", ["education, health and care plan"]),
        ("lac reviews", ["looked after children"]),
        ("cp plan", ["child protection"]),
    ],
)
def test_acronyms_typed_in_any_case_are_read_where_the_index_writes_them_as_acronyms(
    glossary, query, added
):
    """People type lower case. An index whose passages write "MASH", "CIN", "DA" reads "mash",
    "cin", "da" as them; one whose passages write "mash" (potato) or "prevent" (the verb) does
    not."""
    as_acronyms = glossary.held_in(lambda phrase: True, lambda term: True)
    assert all(phrase in as_acronyms.expand(query) for phrase in added)
    as_words = glossary.held_in(lambda phrase: True, lambda term: False)
    assert not any(phrase in as_words.expand(query) for phrase in added if phrase != "hospital")
    # Written as the acronym, it needs no help from the index.
    assert all(phrase in glossary.expand(query.upper()) for phrase in added)


def test_an_acronyms_word_inside_a_glossary_phrase_is_not_the_acronym(glossary):
    as_acronyms = glossary.held_in(lambda phrase: True, lambda term: True)
    expanded = as_acronyms.expand("kids taken off roll for home ed")
    assert "emergency department" not in expanded  # "home ed": home education, not ED
    assert "elective home education" in expanded
    assert "emergency department" in as_acronyms.expand("seen in ed at night")


def test_a_term_defined_twice_in_the_data_file_is_refused(tmp_path):
    data = tmp_path / "glossary.tsv"
    data.write_text(
        "# comment\nDA\tdomestic abuse\nCIN\tchild in need\nDA\tdrug abuse\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"glossary.tsv:4: 'DA' is already defined on line 2"):
        Glossary.load(data)


def test_a_line_without_a_tab_is_refused_with_its_number(tmp_path):
    data = tmp_path / "glossary.tsv"
    data.write_text("DA domestic abuse\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r":1: expected TERM<TAB>"):
        Glossary.load(data)


@pytest.mark.parametrize(
    "text, found",
    [
        (
            "The Multi-agency Risk Assessment Conference (MARAC) meets weekly.",
            ("MARAC", "Multi-agency Risk Assessment Conference"),
        ),
        (
            "across Bedfordshire, Luton and Milton Keynes (BLMK) we",
            ("BLMK", "Bedfordshire, Luton and Milton Keynes"),
        ),
        (
            "Child Protection Information Sharing (CP-IS) is live",
            ("CP-IS", "Child Protection Information Sharing"),
        ),
        ("we use the Graded Care Profile 2 (GCP2) tool", ("GCP2", "Graded Care Profile 2")),
        (
            "our Independent Domestic Violence Advisors (IDVAs) support",
            ("IDVA", "Independent Domestic Violence Advisors"),
        ),
        ("It said. Then the Serious Case Review (SCR) began", ("SCR", "Serious Case Review")),
    ],
)
def test_definitions_the_documents_make_are_found(text, found):
    assert list(definitions_in(text)) == [found]


@pytest.mark.parametrize(
    "text",
    [
        "the Trust (NHS) said",  # the letters are not the words before it
        "we met (Tuesday) again",  # not a short form
        "on page 4 (2023)",
        "(MARAC) at the start of a line",
        "the unit (ED) opened",  # E and D do not begin and end the words before
    ],
)
def test_text_that_defines_nothing_gives_nothing(text):
    assert list(definitions_in(text)) == []


@pytest.mark.parametrize(
    "short, before, long",
    [
        (
            "EET",
            "young people not in education, employment and training",
            "education, employment and training",
        ),
        (
            "NEET",
            "children not in education, employment or training",
            "not in education, employment or training",
        ),
        (
            "SEND",
            "pupils with special educational needs and disabilities",
            "special educational needs and disabilities",
        ),
        # Initials that do not spell it ("Multi-agency" is one word): Schwartz and Hearst's match
        # instead.
        (
            "MARAC",
            "referred to the Multi-agency Risk Assessment Conference",
            "Multi-agency Risk Assessment Conference",
        ),
    ],
)
def test_a_long_form_whose_initials_spell_the_short_form_keeps_every_word(short, before, long):
    assert best_long_form(short, before) == long


def test_best_long_form_starts_at_a_word_and_refuses_a_long_stretch():
    assert best_long_form("DAC", "the weekly Domestic Abuse Clinic") == "Domestic Abuse Clinic"
    assert (
        best_long_form("CP", "a long sentence about many things that are child protection")
        == "child protection"
    )
    assert best_long_form("AB", "Apple " + "tree " * 20 + "Banana") is None
    assert best_long_form("AB", "an Apple Banana") == "Apple Banana"


def test_learned_definitions_count_the_documents_that_make_them():
    texts = [
        ("a.pdf", "The Widget Assessment Panel (WAP) met."),
        (
            "b.pdf",
            (
                "See the widget assessment panel (WAP) minutes, "
                "and the Widget Assessment Panel (WAP) again."
            ),
        ),
    ]
    found = [(document, *defined) for document, text in texts for defined in definitions_in(text)]
    assert learned_from(found) == [("WAP", "Widget Assessment Panel", 2)]


def test_learned_acronyms_join_the_glossary_and_the_data_file_wins_a_clash(glossary):
    learned = [Entry("WAP", ("Widget Assessment Panel",)), Entry("DA", ("Data Analysis",))]
    combined = glossary.with_learned(learned)
    assert "Widget Assessment Panel" in combined.expand("when does the WAP meet")
    assert "WAP" in combined.expand("widget assessment panel dates")
    assert "domestic abuse" in combined.expand(
        "DA clinic"
    ) and "Data Analysis" not in combined.expand("DA clinic")
    assert "Widget Assessment Panel" not in glossary.expand(
        "when does the WAP meet"
    )  # the original is unchanged


_PHRASES = sorted(
    {phrase for entry in default_glossary().entries for phrase in (entry.term, *entry.expansions)}
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "(", "/", "x", "-"]),
            st.sampled_from(_PHRASES),
            st.sampled_from(["", "s", "'s", "-", "&", ",", "?", "X"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_looking_up_openings_first_finds_what_running_every_pattern_finds(parts):
    import kb.vocabulary as vocabulary

    query = " ".join(before + phrase + after for before, phrase, after in parts)
    glossary = default_glossary()
    quick = glossary.expand(query)
    original = vocabulary.Glossary._candidates
    # every pattern run, as before the look-up
    vocabulary.Glossary._candidates = lambda self, rows, at, openings: rows  # type: ignore[method-assign]
    try:
        assert quick == glossary.expand(query)
    finally:
        vocabulary.Glossary._candidates = original  # type: ignore[method-assign]


@pytest.mark.parametrize(
    "query, forms",
    [
        ("support for 2 year olds", ["two year"]),
        ("two-year-olds funded places", ["2 year"]),
        ("seen within 12 weeks", ["twelve weeks"]),
        ("Section 17 of the Children Act", []),  # a number that is no age or span stays as it is
    ],
)
def test_numbers_as_digits_and_as_words_meet(query, forms):
    from kb.vocabulary import number_forms

    assert number_forms(query) == forms
