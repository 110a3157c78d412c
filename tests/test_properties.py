"""Properties on arbitrary text: clean-up and chunking (no crash, no text lost, bounds kept), and
the keyword side's scores (FTS5's own bm25(), for any words and phrases).

"Lost" is judged on the characters that are not white space, in order. What clean-up is
documented to change is set aside on both sides: bullet marks (written "- "), a hyphen undone at a
line end, and HTML tags (their words stay).
"""

from collections import Counter

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kb import clean
from kb.chunk import (
    CONTENTS_HEADINGS,
    MAX_TOKENS,
    chunk_document,
    contents_pages,
    is_contents_entry,
)
from kb.embed import token_counter
from kb.ingest import Document, Line, Page

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MARKS = set(clean.BULLET_CHARS + "-–*")  # bullet marks and hyphens: the chunker rewrites these


def kept(text: str) -> str:
    """The characters a text must keep: no white space, no bullet marks or hyphens."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in MARKS)


def in_order(needle: str, haystack: str) -> bool:
    """Whether needle's characters appear in haystack in the same order (gaps allowed)."""
    rest = iter(haystack)
    return all(ch in rest for ch in needle)


# Report-like text, with what the clean-up looks at made likely: bullets, hyphens, sentence ends,
# digits (page numbers), tags and entities, and any other character now and then.
REPORTISH = st.lists(
    st.one_of(
        st.sampled_from(
            list("abcdefghij ABCDE 0123456789 .,;:?!()'\"-–*•●<>/&#") + ["safe-", "guarding", " - "]
        ),
        st.characters(exclude_characters="\n\r"),
    ),
    max_size=60,
).map("".join)
# Ingest hands over lines as clean.normalise_whitespace leaves them, stripped.
LINE_TEXT = st.one_of(
    REPORTISH, st.text(st.characters(exclude_characters="\n\r"), max_size=400)
).map(lambda text: clean.normalise_whitespace(text).strip())


@st.composite
def documents(draw, kinds=("text", "text", "text", "blank", "heading")):
    """A document as ingest hands it to the chunker: pages of stripped, classified lines."""
    pages = []
    for number in range(1, draw(st.integers(1, 4)) + 1):
        lines = []
        for _ in range(draw(st.integers(0, 10))):
            kind = draw(st.sampled_from(kinds))
            text = "" if kind == "blank" else draw(LINE_TEXT)
            if not text:
                lines.append(Line("", "blank"))
            elif kind == "heading":
                lines.append(Line(text, "heading", draw(st.sampled_from([0.0, 14.0, 18.0]))))
            else:
                lines.append(
                    Line(
                        text,
                        kind,
                        agency=draw(st.sampled_from(["", "ELFT", "Bedfordshire Hospitals"])),
                    )
                )
        pages.append(Page(number, lines))
    return Document("report.pdf", "A report", "", pages, "0" * 64, wrapped=draw(st.booleans()))


@pytest.fixture(scope="module")
def count():
    return token_counter()


def body(document: Document, kinds=("text",)) -> str:
    """The characters of the document's lines of these kinds, but for a contents list's: it says
    where a part is, not what it says, and is left out on purpose ("TABLE OF CONTENTS", found by
    Hypothesis among the blank pages of a document)."""
    contents = contents_pages(document)
    return "".join(
        kept(line.text)
        for page in document.pages
        for line in page.lines
        if line.kind in kinds
        and not is_contents_entry(line, page.number, contents)
        and line.text.strip().lower() not in CONTENTS_HEADINGS
    )


@EXAMPLES
@given(document=documents())
def test_chunking_keeps_every_line_of_text_in_order_within_the_models_reach(count, document):
    chunks = chunk_document(document, count)
    assert in_order(body(document), "".join(kept(chunk.text) for chunk in chunks))
    for chunk in chunks:
        assert chunk.text.strip()
        assert count(chunk.embedding_text()) <= MAX_TOKENS
        assert 1 <= chunk.page <= chunk.page_end <= len(document.pages)
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))


@EXAMPLES
@given(document=documents(kinds=("text", "footnote", "blank", "heading")))
def test_footnotes_are_kept_too_though_they_stand_apart(count, document):
    chunks = chunk_document(document, count)
    wanted = Counter(body(document, kinds=("text", "footnote")))
    assert not wanted - Counter("".join(kept(chunk.text) for chunk in chunks))


@EXAMPLES
@given(
    st.lists(st.text(st.characters(exclude_characters="\n"), max_size=40), min_size=1, max_size=8)
)
@example(
    ["02:0:0A"]
)  # hypothesis found it: 280 word pieces with no space, one more than a passage holds
@example(["........"])  # dot leaders in a table of contents
def test_a_very_long_paragraph_is_cut_but_not_lost(count, words):
    """Runs with no space in them ('=====…', a long URL, dot leaders) are cut between characters."""
    text = clean.normalise_whitespace(" ".join(word * 40 for word in words)).strip() or "x"
    document = Document("notes.txt", "Notes", "", [Page(1, [Line(text)])], "0" * 64, wrapped=False)
    chunks = chunk_document(document, count)
    assert in_order(kept(text), "".join(kept(chunk.text) for chunk in chunks))
    assert all(count(chunk.embedding_text()) <= MAX_TOKENS for chunk in chunks)


@EXAMPLES
@given(st.text())
def test_a_symbol_bullet_changes_only_the_mark_at_a_lines_start(text):
    out = clean.symbol_bullets(text)
    assert out.count("\n") == text.count("\n")
    for before, after in zip(text.split("\n"), out.split("\n")):
        assert after == before or (
            after.lstrip().startswith("• ") and after.lstrip()[2:] == before.lstrip()[1:].lstrip()
        )


@EXAMPLES
@given(st.text())
def test_whitespace_clean_up_keeps_every_other_character(text):
    out = clean.normalise_whitespace(text)
    expected = "".join(
        "\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text.replace("\u200b", "")
    )
    assert "".join(out.split()) == "".join(expected.split())
    assert "\r" not in out and "\t" not in out
    out.encode("utf-8")  # no lone surrogate is left


WORD = st.text(st.characters(exclude_characters="<>&"), min_size=1, max_size=30)
TAG = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<i>",
        "</i>",
        "<br/>",
        "<li>",
        "</li>",
        '<ul class="a">',
        "</ul>",
        "<script>",
        "</script>",
        "<span style='x'>",
    ]
)


@EXAMPLES
@given(st.lists(st.one_of(WORD, TAG), max_size=20))
def test_html_clean_up_drops_tags_and_keeps_their_words(parts):
    text = "".join(parts)
    words = "".join(part for part in parts if not part.startswith("<"))
    assert kept(clean.strip_html(text)) == kept(words)


@EXAMPLES
@given(st.text(st.characters(exclude_characters="<&")))
def test_html_clean_up_leaves_text_without_tags_or_entities_alone(text):
    assert clean.strip_html(text) == text


@EXAMPLES
@given(st.text(alphabet=st.one_of(st.sampled_from(list(clean.BULLET_CHARS)), st.characters())))
def test_inline_bullets_move_to_their_own_lines_and_nothing_else_changes(text):
    out = clean.split_inline_bullets(text)
    assert kept(out) == kept(text)
    assert not any(ch in clean.BULLET_CHARS for ch in out)


@EXAMPLES
@given(st.text(max_size=30), st.text(max_size=30), st.sets(st.text(max_size=12), max_size=5))
def test_rejoining_a_hyphenated_line_removes_at_most_its_hyphen(left, right, vocabulary):
    out = clean.join_hyphenated(left, right, vocabulary)
    joined = left.rstrip() + right.lstrip()
    assert out == joined or (
        left.rstrip().endswith("-") and out == left.rstrip()[:-1] + right.lstrip()
    )


PAGE_LINES = st.lists(
    st.one_of(
        st.sampled_from(["Page 3", "12", "Inspection of Luton", "", "ELFT"]), st.text(max_size=30)
    ),
    max_size=8,
)


@EXAMPLES
@given(st.lists(PAGE_LINES, max_size=8))
def test_running_headers_are_lines_that_open_or_close_enough_pages(pages):
    found = clean.running_lines(pages)
    least = 2 if len(pages) <= 5 else 3
    for key in found:
        ends = [[line for line in lines if line.strip()] for lines in pages]
        tops = sum(key in {clean.header_key(line) for line in lines[:3]} for lines in ends)
        bottoms = sum(key in {clean.header_key(line) for line in lines[-3:]} for lines in ends)
        assert max(tops, bottoms) >= least


@EXAMPLES
@given(st.text(), st.text())
def test_the_sentence_tests_answer_for_any_text(previous, following):
    assert isinstance(clean.continues(previous, following), bool)
    assert isinstance(clean.ends_sentence(previous), bool)
    assert isinstance(clean.is_page_number(previous), bool)
    assert clean.header_key(previous) == clean.header_key(
        f"  {previous.upper() if previous.isascii() else previous}  "
    )


# --- the keyword side: stored scores add up to FTS5's own bm25() ----------------------------------

PASSAGES = [
    "The Domestic Abuse Clinic runs each week for staff who need advice out of hours.",
    "Neglect training uses the graded care profile; health visitors ask about domestic abuse.",
    "Children missing education are of compulsory school age and not registered pupils.",
    "The Multi-agency Risk Assessment Conference (MARAC) hears high risk cases of domestic abuse.",
    (
        "Café staff’s e-mail: information-sharing, safeguarding and early help for children's "
        "social care."
    ),
]
WORDS = sorted({word for text in PASSAGES for word in clean.vocabulary(text)}) + [
    "zanzibar",
    "e",
    "café",
    "cafe",
]


@pytest.fixture(scope="module")
def keyword_index(tmp_path_factory):
    from conftest import make_chunk

    from kb.keyword import KeywordIndex, build

    chunks = [
        make_chunk(
            f"c{n}",
            text,
            "a.pdf",
            "Report",
            ("Trust", "Council")[n % 2],
            ("Domestic Abuse", "Neglect", "")[n % 3],
            1,
            1,
            n,
        )
        for n, text in enumerate(PASSAGES)
    ]
    path = tmp_path_factory.mktemp("keyword") / "keyword.sqlite"
    build(path, chunks, "print")
    return KeywordIndex(path)


@EXAMPLES
@given(
    terms=st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), max_size=6),
    phrases=st.lists(
        st.one_of(
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
            st.sampled_from(["domestic abuse", "out of hours", "children's social care"]),
            st.text(max_size=12),
        ),
        max_size=4,
    ),
)
def test_keyword_scores_are_fts5s_bm25_for_any_words_and_phrases(keyword_index, terms, phrases):
    from kb.keyword import COLUMN_WEIGHTS, match_expression, query_terms

    terms = query_terms(" ".join(terms))
    expression = match_expression(terms, phrases)
    weights = ", ".join(map(str, COLUMN_WEIGHTS))
    expected = (
        dict(
            keyword_index._db.execute(
                f"SELECT id, -bm25(passages, {weights}) FROM passages WHERE passages MATCH ?",
                (expression,),
            ).fetchall()
        )
        if expression
        else {}
    )
    found = dict(keyword_index.search(terms, phrases, k=len(PASSAGES)))
    assert found.keys() == expected.keys()
    assert all(
        found[chunk_id] == pytest.approx(score, rel=1e-9) for chunk_id, score in expected.items()
    )


@EXAMPLES
@given(
    scores=st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.25]), max_size=3000),
    k=st.integers(min_value=1, max_value=400),
    sampled_from=st.integers(min_value=0, max_value=15),
)
def test_the_contenders_for_a_keyword_top_k_are_exactly_those_reaching_its_kth_score(
    scores, k, sampled_from
):
    """Whatever the scores (many ties, many passages holding no word), the rows kept for sorting
    are every passage whose score reaches the k-th best, and no other: read first from a cut found
    in a sample, else from all of them."""
    import numpy as np

    from kb.keyword import _contenders

    values = np.array([0.0] * sampled_from + scores)
    held = values > 0
    found = _contenders(values, held, k)
    ranked = np.sort(values[held])[::-1]
    if len(ranked) <= k:
        assert set(found.tolist()) == set(np.flatnonzero(held).tolist())
    else:
        assert set(found.tolist()) == set(np.flatnonzero(values >= ranked[k - 1]).tolist())
