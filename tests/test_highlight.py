"""Marking the query's words in a passage: the words the keyword search matches, everything
escaped."""

import threading

import pytest

from web.highlight import Stems, highlight, query_pattern


@pytest.mark.parametrize(
    "phrases, text, marked",
    [
        (
            ["DA hours"],
            "The DA clinic is open out of hours.",
            "The <mark>DA</mark> clinic is open out of <mark>hours</mark>.",
        ),
        (
            ["hospital"],
            "Hospitals and hospital staff",
            "<mark>Hospitals</mark> and <mark>hospital</mark> staff",
        ),
        (
            ["GP"],
            "GPs and a GP",
            "<mark>GPs</mark> and a <mark>GP</mark>",
        ),  # as the keyword search matches them
        (
            ["early help assessments"],
            "An assessment, then assessments",
            "An <mark>assessment</mark>, then <mark>assessments</mark>",
        ),
        # A word is not the start of a longer one: "part" is not "participation".
        (
            ["part"],
            "Partners took part in participation work",
            "Partners took <mark>part</mark> in participation work",
        ),
        # Porter's stems, as the index has them: "careful" is "care", "carers" is "carer".
        (
            ["care"],
            "care, carers, careful careers",
            "<mark>care</mark>, carers, <mark>careful</mark> careers",
        ),
        (["cafe"], "Café notes", "<mark>Café</mark> notes"),  # diacritics folded, as in the index
        (["what does the"], "what does the report say", "what does the report say"),
        # Words the keyword search leaves out are not marked either.
        (["not about neglect"], "not about neglect", "not about <mark>neglect</mark>"),
        (["amp"], "Tom & Jerry amp", "Tom &amp; Jerry <mark>amp</mark>"),  # never inside an entity
        (
            ["script"],
            "<script>x</script>",
            "&lt;<mark>script</mark>&gt;x&lt;/<mark>script</mark>&gt;",
        ),
        (
            ["a+b (c)"],
            "a+b (c) x",
            "a+b (c) x",
        ),  # regex characters in a query are words, not syntax
        (
            ["snake_case"],
            "snake and case",
            "<mark>snake</mark> and <mark>case</mark>",
        ),  # "_" parts words
    ],
)
def test_highlight_escapes_then_marks_the_words_the_search_matches(phrases, text, marked):
    assert str(highlight(text, query_pattern(phrases))) == marked


def test_a_query_of_stopwords_or_nothing_marks_nothing():
    assert query_pattern(["the and of"]) is None and query_pattern([""]) is None
    assert str(highlight("<b>the</b>", None)) == "&lt;b&gt;the&lt;/b&gt;"


def test_stems_are_remembered_within_a_bound_and_safe_across_threads():
    stems = Stems(remembered=50)
    words = [f"assessments{n}" for n in range(40)] + ["visitors", "visitor"]
    results = []

    def read():
        results.append(stems.of(words))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == results[0] for result in results)
    assert results[0]["visitors"] == results[0]["visitor"] == "visitor"
    stems.of(f"word{n}" for n in range(30))  # past the bound: forgets, and still answers
    assert len(stems._known) <= 50 and stems.of(["visitors"]) == {"visitors": "visitor"}
