import pytest

from kb import clean


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("<p>Co-production team</p>", "Co-production team"),
        ("An example <i>'very accommodating'</i> here", "An example 'very accommodating' here"),
        ("Make Every Contact Count (<i>MECC</i>)", "Make Every Contact Count (MECC)"),
        ("Luton &amp; Dunstable", "Luton & Dunstable"),
        ("children &lt;18 years", "children <18 years"),
        ("a < b and c > d", "a < b and c > d"),  # not tags: kept
        ("under <18s> clinic", "under <18s> clinic"),  # not an element name: kept
        ("<script>alert(1)</script>done", "alert(1)done"),  # the words stay, the tag goes
    ],
)
def test_strip_html_keeps_the_words(raw, expected):
    assert clean.strip_html(raw).strip() == expected


def test_strip_html_turns_list_markup_into_lines():
    raw = '<ul style="list-style-type: none"> • Quarterly reports. • Case studies.</ul>'
    lines = [
        line.strip()
        for line in clean.split_inline_bullets(clean.strip_html(raw)).splitlines()
        if line.strip()
    ]
    assert lines == ["- Quarterly reports.", "- Case studies."]


@pytest.mark.parametrize(
    "left, right, vocabulary, expected",
    [
        ("strong information-", "sharing supports", set(), "strong information-sharing supports"),
        ("the safe-", "guarding team", {"safeguarding"}, "the safeguarding team"),
        # the document writes it hyphenated somewhere: keep the hyphen
        ("well-", "trained staff", {"welltrained", "well-trained"}, "well-trained staff"),
    ],
)
def test_join_hyphenated(left, right, vocabulary, expected):
    assert clean.join_hyphenated(left, right, vocabulary) == expected


@pytest.mark.parametrize(
    "previous, following, expected",
    [
        (
            "An appointment is made with the",
            "individuals consent by the treating professionals",
            True,
        ),
        ("This is to support", "and intervention at an earlier stage", True),
        ("the service ended.", "then it began", False),
        ("An appointment is made with the", "- A new bullet", False),
        ("Domestic abuse", "Neglect", False),
        ("risks identified appropriately, and", "Managers provide oversight", False),
    ],
)
def test_continues_across_a_page_break(previous, following, expected):
    assert clean.continues(previous, following) is expected


@pytest.mark.parametrize(
    "line, bullet",
    [
        ("- A new bullet", True),
        ("• A new bullet", True),
        ("* A new bullet", True),
        ("– A new bullet", True),
        ("**Note:** read this first", False),  # Markdown bold, not a bullet
        ("*Updated* in May.", False),
        ("-5 degrees overnight", False),  # a sign, which must not be lost
    ],
)
def test_a_bullet_is_a_mark_and_a_space(line, bullet):
    assert bool(clean.BULLET_START.match(line)) is bullet


def test_running_lines_finds_headers_with_page_numbers_but_not_body():
    pages = [
        [
            "Inspection of Bradford children’s services",
            f"12 to 23 January 2026 {n}",
            f"Body text {n} unique {'x' * n}",
        ]
        for n in range(1, 8)
    ]
    found = clean.running_lines(pages)
    assert clean.header_key("Inspection of Bradford children’s services") in found
    assert clean.header_key("12 to 23 January 2026 5") in found
    assert not any(key.startswith("body text") for key in found)


@pytest.mark.parametrize(
    "line, expected", [("2", True), ("Page 3 of 14", True), ("12 to 23 January 2026", False)]
)
def test_is_page_number(line, expected):
    assert clean.is_page_number(line) is expected


@pytest.mark.parametrize(
    "glued, numbers, clean_text",
    [
        ("the duty3 of schools", {3}, "the duty of schools"),
        ("sixth school day of exclusion2,", {2}, "sixth school day of exclusion,"),
        ("improve school attendance’.10", {10}, "improve school attendance’."),
        ("regularly7, and", {7}, "regularly, and"),
        ("the duty3 of schools", {4}, "the duty3 of schools"),  # no footnote 3 on the page
        ("GCP2 and DPIA23", {2, 23}, "GCP2 and DPIA23"),  # acronyms keep their digits
        (
            "s47 enquiries, Year 11 and 2.5 million",
            {47, 11, 5},
            "s47 enquiries, Year 11 and 2.5 million",
        ),
    ],
)
def test_footnote_marks_glued_to_words_go_only_where_the_page_numbers_a_footnote(
    glued, numbers, clean_text
):
    assert clean.strip_footnote_marks(glued, numbers) == clean_text


@pytest.mark.parametrize(
    "glued, numbers, clean_text",
    [
        (
            "a DPIA23 for sharing",
            {23},
            "a DPIA for sharing",
        ),  # the document writes "DPIA" elsewhere
        ("DSAs22 with agencies", {22}, "DSAs with agencies"),
        ("an SAO6, the council", {6}, "an SAO, the council"),
        (
            "GCP2 across the system",
            {2},
            "GCP2 across the system",
        ),  # never written bare: a name, kept
        ("a DPIA23 for sharing", {3}, "a DPIA23 for sharing"),  # no footnote 23 on the page
    ],
)
def test_a_footnote_mark_glued_to_an_acronym_goes_where_the_document_writes_the_acronym_bare(
    glued, numbers, clean_text
):
    assert (
        clean.strip_footnote_marks(glued, numbers, acronyms={"DPIA", "DSAs", "SAO"}) == clean_text
    )


def test_acronyms_are_those_written_bare():
    assert clean.acronyms("A DPIA, two DSAs and GCP2; the DPIA23 mark; Year 11") == {"DPIA", "DSAs"}


def test_a_footnote_line_says_its_number():
    assert clean.footnote_number("6 Section 443 of the Education Act 1996") == 6
    assert clean.footnote_number("Regulations 2024") is None


def test_a_word_split_after_its_first_letter_is_made_whole_where_the_document_writes_it_whole():
    text = (
        "The s tatutory guidance. Statutory duties apply. C hildren and children. "
        "x ray and ray. e mail and mail. It m akes sense; a test; I said. q uorum"
    )
    joins = clean.split_words(text)
    assert joins == {
        "s tatutory": "statutory",
        "C hildren": "Children",
    }  # "makes" is never written whole here
    assert clean.join_split_words(text, joins) == (
        "The statutory guidance. Statutory duties apply. Children and children. "
        "x ray and ray. e mail and mail. It m akes sense; a test; I said. q uorum"
    )
    assert clean.join_split_words("nothing to do", {}) == "nothing to do"


@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            "\uf06e Bedfordshire Hospitals consist of two sites",
            "• Bedfordshire Hospitals consist of two sites",
        ),
        ("\uf02d nested item", "• nested item"),
        ("\uf0a7 adoption support", "• adoption support"),  # Wingdings' square, in DfE guidance
        ("\x7f a delete character drawn as a bullet", "• a delete character drawn as a bullet"),
        ("◼ What needs to improve", "• What needs to improve"),  # Ofsted's reports from 2019
        ("  ➢ indented", " • indented"),
        ("a symbol \uf06e inside a line stays", "a symbol \uf06e inside a line stays"),
        ("\uf06e", "\uf06e"),  # a mark with no item after it is not a bullet
    ],
)
def test_a_bullet_a_symbol_font_drew_becomes_a_bullet(raw, expected):
    cleaned = clean.symbol_bullets(clean.normalise_whitespace(raw))
    assert cleaned == expected
    assert bool(clean.BULLET_START.match(cleaned)) is cleaned.lstrip().startswith("• ")


@pytest.mark.parametrize(
    "text, shown",
    [
        ("- **Training programme** is given.", "• Training programme is given."),
        ("Make Every Contact Count (*MECC*).", "Make Every Contact Count (MECC)."),
        ("First.\n  * nested point\n__Note__", "First.\n• nested point\nNote"),
        ("5 * 3 = 15, and - a dash mid-line", "5 * 3 = 15, and - a dash mid-line"),
    ],
)
def test_markup_is_removed_as_a_reader_would_not_see_it(text, shown):
    assert clean.without_markup(text) == shown
