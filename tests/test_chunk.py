import re
from pathlib import Path

import pytest
from conftest import BRADFORD, CORPUS, FOUNDING, make_chunk

from kb.chunk import MAX_TOKENS, Block, _split_long, chunk_document
from kb.ingest import Document, Line, Page, read_document
from kb.passage import Chunk


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def founding_chunks():
    from kb.embed import token_counter

    return chunk_document(read_document(FOUNDING), token_counter())


@pytest.fixture(scope="module")
def bradford_chunks():
    from kb.embed import token_counter

    return chunk_document(read_document(BRADFORD), token_counter())


def containing(chunks, text):
    found = [chunk for chunk in chunks if text in norm(chunk.text)]
    assert found, f"no chunk holds {text!r}"
    return found[0]


def test_sentence_cut_by_a_page_break_is_one_passage(founding_chunks):
    chunk = containing(
        founding_chunks,
        "An appointment is made with the individuals consent by the treating professionals",
    )
    assert chunk.agency == "Bedfordshire Hospitals Foundation Trust"
    assert chunk.section == "Domestic Abuse"
    assert chunk.page == 1 and chunk.page_end == 2
    assert "Domestic Abuse Clinic available each week" in chunk.text


def test_agency_and_section_carry_across_page_breaks(founding_chunks):
    chunk = containing(
        founding_chunks,
        "before the child or young person is discharged from the service. This supports",
    )
    assert chunk.agency == "Cambridgeshire Community Services"
    assert chunk.section == "Neglect (Pan Beds)"
    chunk = containing(
        founding_chunks,
        "In 70% of the cases ELFT staff had identified safeguarding risks and reported them",
    )
    assert chunk.agency == "ELFT"


@pytest.mark.parametrize(
    "text, section",
    [
        ("GCP2 continues to be promoted", "Neglect (Pan Beds)"),
        (
            "CCS employs a co-production team",
            (
                "How are you gathering feedback from children and families who have received "
                "safeguarding interventions?"
            ),
        ),
        (
            "The Trust safeguarding team attend the Serious Youth Violence Panel",
            "Child Sexual Exploitation › Serious Youth Violence Panel",
        ),
        ("A Tier 4 Unit for young people in BLMK", "Mental Health › What is going well"),
    ],
)
def test_chunks_record_their_section(founding_chunks, text, section):
    assert containing(founding_chunks, text).section == section


def test_no_text_is_lost_between_lines_and_chunks(founding_chunks):
    document = read_document(FOUNDING)
    joined = norm(" ".join(chunk.text for chunk in founding_chunks))
    for page in document.pages:
        for line in page.lines:
            if line.kind in ("text", "footnote"):
                assert norm(line.text).lstrip("- ") in joined


def test_pdf_sentence_rejoined_over_a_footnote_and_a_page_break(bradford_chunks):
    chunk = containing(
        bradford_chunks,
        "Risks are identified appropriately, and managers provide consistent oversight",
    )
    assert chunk.page == 2
    footnote = containing(bradford_chunks, "The areas for improvement have been cross-referenced")
    assert footnote is not chunk and footnote.page == 2


def test_pdf_numbered_paragraphs_start_passages_at_their_page(bradford_chunks):
    chunk = containing(bradford_chunks, "10. Despite recent improvements")
    assert chunk.page == 4
    assert chunk.agency == "Bradford Children and Families Trust"
    assert chunk.title == "Inspection of Bradford Children and Families Trust"


def test_every_chunk_of_the_corpus_fits_the_model(count_tokens):
    for path in sorted(CORPUS.iterdir()):
        if path.suffix not in (".pdf", ".txt"):
            continue
        chunks = chunk_document(read_document(path), count_tokens)
        assert chunks, path.name
        sizes = [count_tokens(chunk.embedding_text()) for chunk in chunks]
        assert max(sizes) <= MAX_TOKENS, path.name
        assert min(len(chunk.text.split()) for chunk in chunks) >= 1
        assert all(chunk.agency for chunk in chunks), path.name


def _document(lines, wrapped=True, pages=None):
    pages = pages or [Page(1, [Line(text, kind, level, "Agency") for text, kind, level in lines])]
    return Document("doc.pdf", "Doc", "Agency", pages, "sha", wrapped)


def test_line_end_hyphens_are_undone_in_pdfs(count_tokens):
    document = _document(
        [
            (
                "Sharing",
                "heading",
                16.0,
            ),
            ("Strong information-", "text", 0.0),
            ("sharing supports the safe-", "text", 0.0),
            ("guarding team. The safeguarding lead agrees.", "text", 0.0),
        ]
    )
    (chunk,) = chunk_document(document, count_tokens)
    assert chunk.text == (
        "Strong information-sharing supports the safeguarding team. The safeguarding lead agrees."
    )
    assert chunk.section == "Sharing"


def test_a_long_paragraph_is_split_within_bounds_without_losing_words(count_tokens):
    sentences = [
        f"Sentence {i} says the practitioner recorded the child's views on visit {i}."
        for i in range(200)
    ]
    document = _document(
        [("Voice of the child", "heading", 14.0)] + [(s, "text", 0.0) for s in sentences]
    )
    chunks = chunk_document(document, count_tokens)
    assert len(chunks) > 5
    assert all(count_tokens(chunk.embedding_text()) <= MAX_TOKENS for chunk in chunks)
    assert norm(" ".join(chunk.text for chunk in chunks)) == norm(" ".join(sentences))
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))


def test_a_single_enormous_word_run_is_cut_between_words(count_tokens):
    words = " ".join(f"word{i}" for i in range(2000))
    chunks = chunk_document(_document([(words, "text", 0.0)]), count_tokens)
    assert all(count_tokens(chunk.embedding_text()) <= MAX_TOKENS for chunk in chunks)
    assert norm(" ".join(chunk.text for chunk in chunks)) == words


def test_a_long_run_without_spaces_is_cut_reading_each_part_a_few_times(count_tokens):
    """A pasted blob (a data URI, base64) is cut between characters; the work grows as n log n, not
    n squared."""
    blob = "data:image/png;base64," + "/".join(f"iVBOR{i}w0KGgo" for i in range(3000))
    read = []

    def counting(text: str) -> int:
        read.append(len(text))
        return count_tokens(text)

    chunks = chunk_document(_document([(blob, "text", 0.0)]), counting)
    assert "".join(chunk.text for chunk in chunks) == blob
    assert all(count_tokens(chunk.embedding_text()) <= MAX_TOKENS for chunk in chunks)
    assert sum(read) < 25 * len(blob), f"read {sum(read) / len(blob):.0f} times its length"


def test_a_lead_in_line_stays_with_its_list(count_tokens):
    items = [
        f"- Item {i}: staff feel more confident in escalating cases of neglect when required."
        for i in range(30)
    ]
    lines = [("Feedback highlighted:", "text", 0.0)] + [(item, "text", 0.0) for item in items]
    chunks = chunk_document(_document(lines, wrapped=False), count_tokens)
    assert len(chunks) > 1
    assert all(chunk.text.startswith("Feedback highlighted:") for chunk in chunks)
    assert not any(chunk.text.rstrip().endswith(":") for chunk in chunks)


@pytest.mark.parametrize(
    "agency",
    [
        "Borough Council "
        + "and its many named partner services " * 60,  # a PDF author field that runs on
        "Council/" + "/".join(["Partner"] * 500),  # one run with no space, of many word pieces
    ],
)
def test_an_overlong_agency_is_shortened_to_leave_the_passage_room(count_tokens, agency):
    lines = [Line("Domestic abuse training reached 400 staff this year.", "text", 0.0, "")]
    document = Document("doc.pdf", "Doc", agency, [Page(1, lines)], "sha", True)
    (chunk,) = chunk_document(document, count_tokens)
    assert count_tokens(chunk.embedding_text()) <= MAX_TOKENS
    assert chunk.agency.startswith(agency[:7]) and chunk.agency.endswith(" …")
    assert count_tokens(chunk.agency) <= MAX_TOKENS // 8
    assert chunk.text == "Domestic abuse training reached 400 staff this year."


def test_the_councils_name_as_a_register_sorts_it_heads_no_section(count_tokens):
    """Bristol's 2018 title page sets "Bristol, City of" largest (extraction loses the comma); the
    document's organisation is the City of Bristol, and its title page's name no section."""
    lines = [
        Line("Bristol City of", "heading", 20.0),
        Line("Inspection of children’s social care services", "heading", 16.0),
        Line("What needs to improve", "heading", 14.0),
        Line("Leaders know their services well.", "text"),
    ]
    document = Document(
        "bristol.pdf",
        "Inspection of children’s social care services",
        "City of Bristol",
        [Page(1, lines)],
        "sha",
        True,
    )
    (chunk,) = chunk_document(document, count_tokens)
    assert chunk.section == "What needs to improve"
    assert chunk.agency == "City of Bristol"


@pytest.mark.parametrize(
    "item_words", [[8, 80, 40, 6, 4], [30, 8, 8], [10, 60, 60, 5], [8, 60, "25:", 4, 4]]
)
def test_a_lead_in_is_never_a_passage_on_its_own(count_tokens, item_words):
    """A list's lead-in comes with at least one of its items (when the first fits beside it), and is
    repeated above the rest of the list, never alone."""
    lead = (
        "Personal data means any information relating to a person "
        + "who can be identified " * 14
        + "by reference to:"
    )
    # An item written "25:" has 25 words and introduces a list of its own, as "Public Task ... are:"
    # does.
    items = [
        f"- item {i} "
        + " ".join(f"detail{i}x{w}" for w in range(int(str(words).rstrip(":"))))
        + (":" if str(words).endswith(":") else "")
        for i, words in enumerate(item_words)
    ]
    chunks = chunk_document(
        _document([(lead, "text", 0.0)] + [(item, "text", 0.0) for item in items], wrapped=False),
        count_tokens,
    )
    assert all(norm(chunk.text) != norm(lead) for chunk in chunks), [
        chunk.text[-40:] for chunk in chunks
    ]
    assert len({chunk.text for chunk in chunks}) == len(chunks)
    text = "\n".join(chunk.text for chunk in chunks)
    assert all(norm(item)[:30] in norm(text) for item in items)


def test_a_numbered_heading_is_a_heading(count_tokens, tmp_path):
    lines = [
        ("3. Ground C - The pupil has been registered at another school", "heading", 14.0),
        (
            (
                "Where a pupil has been registered at another school, "
                "the first school may delete them."
            ),
            "text",
            0.0,
        ),
    ]
    (chunk,) = chunk_document(_document(lines), count_tokens)
    assert chunk.section == "3. Ground C - The pupil has been registered at another school"
    notes = tmp_path / "notes.md"
    notes.write_text(
        "# Review\n\n## 1. Introduction\n\nThe review began in May.\n\n"
        "## 2. Findings. In short\n\nIt found gaps.\n"
    )
    assert [
        (chunk.section, chunk.text) for chunk in chunk_document(read_document(notes), count_tokens)
    ] == [
        ("1. Introduction", "The review began in May."),
        (
            "2. Findings. In short",
            "It found gaps.",
        ),  # a Markdown heading is one because its writer marked it
    ]


@pytest.mark.parametrize(
    "name, content, texts",
    [
        (
            "agenda.md",
            "# Board agenda\n\n## Neglect strategy sign-off\n\n## Exploitation dashboard\n",
            ["Neglect strategy sign-off", "Exploitation dashboard"],
        ),
        ("note.txt", "Neglect strategy 2024 to 2027\n", ["Neglect strategy 2024 to 2027"]),
    ],
)
def test_a_heading_that_closes_a_document_is_kept_as_its_text(
    count_tokens, tmp_path, name, content, texts
):
    """A heading is kept as the section of what follows it; with nothing after it, it would be
    lost."""
    path = tmp_path / name
    path.write_text(content)
    assert [chunk.text for chunk in chunk_document(read_document(path), count_tokens)] == texts


def test_a_heading_replaced_before_any_text_came_under_it_is_kept_as_text(count_tokens):
    """A callout set in bold at the foot of a page reads as a heading; the next page's heading
    replaces it."""
    first = [
        Line("Part one", "heading", 16.0, "Agency"),
        Line("The body of part one.", "text", 0.0, "Agency"),
        Line("You can be confident in sharing information", "heading", 12.0, "Agency"),
    ]
    second = [
        Line("Part two", "heading", 16.0, "Agency"),
        Line("The body of part two.", "text", 0.0, "Agency"),
        Line("Annex A", "heading", 16.0, "Agency"),
        Line("Grounds", "heading", 12.0, "Agency"),
        Line("The body of the annex.", "text", 0.0, "Agency"),
    ]
    chunks = chunk_document(_document([], pages=[Page(1, first), Page(2, second)]), count_tokens)
    assert [(chunk.page, chunk.section, chunk.text) for chunk in chunks] == [
        (1, "Part one", "The body of part one.\nYou can be confident in sharing information"),
        (2, "Part two", "The body of part two."),
        (
            2,
            "Annex A › Grounds",
            "The body of the annex.",
        ),  # a heading over a heading is the section's path
    ]


def test_a_page_break_between_two_characters_is_cited_exactly():
    # "aaaa" is on page 4 and "bbbb" on page 5: the break is at the fifth non-space character.
    block = Block("para", "aaaa bbbb", 4, "Agency", "Section", 5, breaks=[(4, 5)])
    assert [block.page_at(at) for at in range(8)] == [4, 4, 4, 4, 5, 5, 5, 5]


def test_a_piece_that_ends_where_its_page_ends_is_cited_at_that_page_alone(count_tokens):
    first = "Schools must tell the local authority when a pupil leaves. " * 6
    second = "The local authority must then try to find where the child has gone. " * 6
    block = Block(
        "para",
        first + second.strip(),
        10,
        "Agency",
        "Section",
        11,
        breaks=[(len("".join(first.split())), 11)],
    )
    pieces = list(_split_long([block], count_tokens, count_tokens(first) + 5))
    assert pieces[0].text == first.strip() and (pieces[0].page, pieces[0].page_end) == (10, 10)
    assert len(pieces) > 1 and all((piece.page, piece.page_end) == (11, 11) for piece in pieces[1:])


def test_a_lead_in_repeated_above_its_list_on_the_next_page_cites_that_page(count_tokens):
    lead = ("The annual report must record each of the following:", "text", 0.0)
    items = [
        f"- item {n}: the number of children seen by each team, and how long they waited."
        for n in range(12)
    ]
    page_five = [
        Line(text, kind, level, "Agency")
        for text, kind, level in [lead] + [(i, "text", 0.0) for i in items[:6]]
    ]
    page_six = [Line(item, "text", 0.0, "Agency") for item in items[6:]]
    chunks = chunk_document(
        _document([], pages=[Page(5, page_five), Page(6, page_six)]), count_tokens
    )
    for chunk in chunks:
        assert chunk.text.startswith("The annual report must record"), chunk.text[:40]
        numbers = [int(n) for n in re.findall(r"item (\d+)", chunk.text)]
        assert chunk.page == (5 if numbers[0] < 6 else 6) and chunk.page_end == (
            5 if numbers[-1] < 6 else 6
        )
    assert {chunk.page for chunk in chunks} == {5, 6}


def test_a_lead_in_followed_by_a_long_paragraph_keeps_both(count_tokens):
    lead = "The inspectors found the following:"
    paragraph = (
        "Leaders know their services well and act on what audits tell them about practice. " * 12
    )
    chunks = chunk_document(
        _document([(lead, "text", 0.0), (paragraph, "text", 0.0)], wrapped=False), count_tokens
    )
    assert norm(" ".join(chunk.text for chunk in chunks)) == norm(f"{lead} {paragraph}")


def test_chunk_ids_are_deterministic(count_tokens):
    first = chunk_document(read_document(FOUNDING), count_tokens)
    second = chunk_document(read_document(FOUNDING), count_tokens)
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)


def test_what_is_embedded_names_agency_and_section(founding_chunks):
    chunk = containing(founding_chunks, "Domestic Abuse Clinic available each week")
    assert chunk.embedding_text().startswith(
        "Bedfordshire Hospitals Foundation Trust. Domestic Abuse.\n"
    )


def test_words_the_pdf_split_after_their_first_letter_are_whole_in_the_passages(count_tokens):
    document = read_document(
        CORPUS / "Children_missing_education_guidance_-_August_2024.pdf", "cme.pdf"
    )
    assert "s tatutory" in document.text  # as pypdf reads the page
    text = "\n".join(chunk.text for chunk in chunk_document(document, count_tokens))
    for split in ("s tatutory", "m akes", "c hildren", "C hildren", "C entre"):
        assert split not in text
    assert "statutory" in text and "Children" in text


def test_a_bullet_set_at_a_footnote_marks_size_is_body_text_not_a_footnote(count_tokens):
    """pypdf reports "• Missing c hildren and runaways30 – Children who go missing …" at the 8 pt of
    its footnote mark, which made it a footnote and left the rest of the bullet glued to the one
    before."""
    document = read_document(
        CORPUS / "Children_missing_education_guidance_-_August_2024.pdf", "cme.pdf"
    )
    chunk = containing(
        chunk_document(document, count_tokens),
        "Missing children and runaways – Children who go missing",
    )
    assert "home or care may be in serious danger" in norm(chunk.text)


def test_a_passage_ends_no_earlier_than_it_starts():
    """page_end read as 0 (not known) or below page means the passage is on its first page alone."""

    def passage(page: int, page_end: int) -> Chunk:
        return make_chunk("id", "text", "doc.pdf", "Title", "Agency", "Section", page, page_end)

    assert passage(4, 0).page_end == 4
    assert passage(4, 3).page_end == 4
    assert passage(4, 5).page_end == 5


def test_the_pieces_of_a_paragraph_too_long_for_one_passage_cite_their_own_pages(count_tokens):
    """A paragraph that runs from page 10 onto page 11 is cut at sentences; a piece wholly on 11
    cites 11."""
    sentence = (
        "Schools must make a return to the local authority when pupil {n} is deleted from the "
        "register. "
    )
    on_ten = [
        Line(sentence.format(n=n) + sentence.format(n=n + 100), "text", 0.0, "Agency")
        for n in range(12)
    ]
    on_eleven = [
        Line(sentence.format(n=n) + sentence.format(n=n + 100), "text", 0.0, "Agency")
        for n in range(200, 212)
    ]
    # The page break cuts a sentence, so the paragraph is one block from page 10 to page 11.
    on_ten.append(
        Line(
            "Schools must make a return to the local authority when pupil 199 is",
            "text",
            0.0,
            "Agency",
        )
    )
    on_eleven.insert(0, Line("deleted from the register.", "text", 0.0, "Agency"))
    document = _document([], pages=[Page(10, on_ten), Page(11, on_eleven)])
    chunks = chunk_document(document, count_tokens)
    assert len(chunks) >= 3, "the paragraph should need several passages"
    for chunk in chunks:
        pupils = [int(n) for n in re.findall(r"pupil (\d+)", chunk.text)]
        first_page, last_page = (10 if pupils[0] < 200 else 11), (10 if pupils[-1] < 200 else 11)
        assert (chunk.page, chunk.page_end) == (first_page, last_page), chunk.text[:80]
    assert {chunk.page for chunk in chunks} == {10, 11}


def _sections(chunks):
    return {chunk.text.split("\n")[0]: chunk.section for chunk in chunks}


def test_a_label_set_at_the_bodys_size_and_its_value_set_large_are_one_heading(count_tokens):
    """Some Ofsted reports set "The impact of leaders on…:" at the body's size and the grade after
    it large: the grade alone is no section, and the label is no passage's text."""
    lines = [
        ("- The timeliness of return home interviews.", "text", 0.0),
        ("The experiences and progress of children in care:", "text", 0.0),  # no blank before
        ("good", "heading", 12.0),
        ("25. Decisions for children to enter care are timely.", "text", 0.0),
        ("", "blank", 0.0),
        ("The impact of leaders on social work practice with children and families:", "text", 0.0),
        ("requires improvement to be good", "heading", 12.0),
        ("30. The local authority has sought external scrutiny.", "text", 0.0),
    ]
    chunks = chunk_document(_document(lines), count_tokens)
    assert _sections(chunks) == {
        "- The timeliness of return home interviews.": "",
        "25. Decisions for children to enter care are timely.": (
            "The experiences and progress of children in care: good"
        ),
        "30. The local authority has sought external scrutiny.": (
            "The impact of leaders on social work practice with children and families: "
            "requires improvement to be good"
        ),
    }
    assert not any(chunk.text.rstrip().endswith(":") for chunk in chunks)


def test_a_lead_in_before_a_heading_the_document_sets_alone_stays_text(count_tokens):
    """ "There are a small number of exceptions, these are:" then "School attendance order", which
    the guidance also sets on its own: a lead-in and a heading, not one heading."""
    lines = [
        ("School attendance order", "heading", 12.0),
        ("An order names the school the child must attend.", "text", 0.0),
        ("Grounds for deletion", "heading", 12.0),
        ("", "blank", 0.0),
        ("There are a small number of exceptions, these are:", "text", 0.0),
        ("School attendance order", "heading", 12.0),
        ("If an order is in place, the name must not be deleted.", "text", 0.0),
    ]
    chunks = chunk_document(_document(lines), count_tokens)
    assert (
        "Grounds for deletion",
        "There are a small number of exceptions, these are:",
    ) in {(chunk.section, chunk.text) for chunk in chunks}
    assert chunks[-1].section == "School attendance order"


def test_topic_and_value_headings_that_open_alike_are_siblings_whatever_their_sizes(count_tokens):
    """Luton's 2020 inspection sets its first judgement heading at 14 points and the next at 12:
    the second is not a part of the first. A heading under one that opens alike but states no
    "topic: value" is its child."""
    lines = [
        (
            "The experiences and progress of children who need help and protection: inadequate",
            "heading",
            14.0,
        ),
        ("1. Services are inadequate.", "text", 0.0),
        (
            "The experiences and progress of children in care and care leavers: good",
            "heading",
            12.0,
        ),
        ("15. Children come into care when they need to.", "text", 0.0),
        ("The Local Safeguarding Children Board (LSCB)", "heading", 16.0),
        ("The Local Safeguarding Children Board is good", "heading", 14.0),
        ("The board is well established.", "text", 0.0),
    ]
    assert _sections(chunk_document(_document(lines), count_tokens)) == {
        "1. Services are inadequate.": (
            "The experiences and progress of children who need help and protection: inadequate"
        ),
        "15. Children come into care when they need to.": (
            "The experiences and progress of children in care and care leavers: good"
        ),
        "The board is well established.": (
            "The Local Safeguarding Children Board (LSCB) › "
            "The Local Safeguarding Children Board is good"
        ),
    }


def test_a_heading_the_document_sets_alone_does_not_continue_the_line_above(count_tokens):
    """Older inspections set "The Local Safeguarding Children Board is good" and "Executive
    summary" on consecutive lines at one size; the report sets "Executive summary" alone earlier, so
    it is a heading of its own, not the judgement's wrapped end. A heading's continuation that only
    looks like one ("information sharing") still wraps."""
    lines = [
        ("Executive summary", "heading", 14.0),
        ("Services are good.", "text", 0.0),
        ("Information sharing", "heading", 14.0),
        ("Practitioners share information.", "text", 0.0),
        ("The Local Safeguarding Children Board (LSCB)", "heading", 16.0),
        ("The Local Safeguarding Children Board is good", "heading", 14.0),
        ("Executive summary", "heading", 14.0),
        ("This is a good board.", "text", 0.0),
        ("How the duty of confidentiality affects", "heading", 16.0),
        ("information sharing", "heading", 16.0),
        ("The duty applies when information is shared in confidence.", "text", 0.0),
    ]
    sections = _sections(chunk_document(_document(lines), count_tokens))
    assert sections["This is a good board."] == (
        "The Local Safeguarding Children Board (LSCB) › "
        "The Local Safeguarding Children Board is good › Executive summary"
    )
    assert sections["The duty applies when information is shared in confidence."] == (
        "How the duty of confidentiality affects information sharing"
    )


INSPECTIONS = Path(__file__).resolve().parents[2] / "shared" / "library" / "ofsted-ilacs"


@pytest.mark.skipif(not INSPECTIONS.is_dir(), reason="the library is not beside the checkout")
@pytest.mark.parametrize(
    "name, opening, section",
    [
        (  # the label at the body's size, after a blank line; siblings set at 14 and 12 points
            "luton__childrens_services_inspection_-_24_february_2020.pdf",
            "30. The local authority is outward-facing",
            "The impact of leaders on social work practice with children and families: "
            "requires improvement to be good",
        ),
        (
            "luton__childrens_services_inspection_-_24_february_2020.pdf",
            "15. When it is no longer possible for children to continue to live safely at home",
            "The experiences and progress of children in care and care leavers: "
            "requires improvement to be good",
        ),
        (  # the label straight after a bullet
            "cumberland__childrens_services_inspection_-_26_november_2024.pdf",
            "1. Most children and families benefit from thorough and robust screening",
            "The experiences and progress of children who need help and protection: "
            "requires improvement to be good",
        ),
        (
            "redbridge__childrens_services_inspection_-_25_november_2016.pdf",
            "This is a good Local Safeguarding Children Board (LSCB)",
            "The Local Safeguarding Children Board (LSCB) › "
            "The Local Safeguarding Children Board is good › Executive summary",
        ),
    ],
)
def test_real_inspections_cite_the_heading_their_findings_stand_under(
    count_tokens, name, opening, section
):
    chunks = chunk_document(read_document(INSPECTIONS / name), count_tokens)
    (chunk,) = [chunk for chunk in chunks if norm(chunk.text).startswith(norm(opening))]
    assert chunk.section == section
