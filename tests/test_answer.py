"""The answer first (kb/answer.py): a quotation from the best passage, or nothing."""

import numpy as np
import pytest
from conftest import FakeEmbedder, make_chunk

from kb.answer import LONGEST, best_sentence, sentences
from kb.passage import Hit


def hit(text: str) -> Hit:
    return Hit.of(
        make_chunk("c1", text, "a.pdf", "Report", "Hospital Trust", "DA", 1, 1, 0, "s"), 1
    )


@pytest.mark.parametrize(
    "text, found",
    [
        (
            "The Trust runs a clinic. It opens each week! Does it help? Yes.",
            ["The Trust runs a clinic.", "It opens each week!", "Does it help?", "Yes."],
        ),
        (
            "- **Training** is given to staff.\n- *MECC* is used.\n1. A third point",
            ["Training is given to staff.", "MECC is used.", "A third point"],
        ),
        (
            "Figures rose to 4.5 per cent (see p. 12) in 2024.",
            ["Figures rose to 4.5 per cent (see p. 12) in 2024."],
        ),
        ("", []),
    ],
)
def test_a_passage_is_read_as_its_sentences_without_bullets_or_markup(text, found):
    assert sentences(text) == found


def test_the_sentence_nearest_the_query_is_quoted_exactly():
    embedder = FakeEmbedder()
    text = (
        "The safeguarding team met monthly. "
        "Finally the Trust has a Domestic Abuse Clinic available each week for victims. "
        "Training figures were reported to the board."
    )
    query = embedder.encode(["domestic abuse clinic each week"])[0]
    answer = best_sentence(query, hit(text), embedder)
    assert answer is not None
    assert (
        answer.text
        == "Finally the Trust has a Domestic Abuse Clinic available each week for victims."
    )
    assert answer.text in text  # a quotation, never made up


def test_words_the_sentence_shares_with_the_query_weigh_with_the_model():
    embedder = FakeEmbedder()
    text = "Staff attend training. The audit of 100 case files found gaps in recording."
    query = embedder.encode(["weather"])[0]  # the model sees nothing in common with either
    shares = lambda found: [1.0 if "audit" in sentence else 0.0 for sentence in found]  # noqa: E731
    answer = best_sentence(query, hit(text), embedder, shares)
    assert answer is not None and answer.text.startswith("The audit of 100 case files")


def test_a_short_sentence_is_quoted_with_the_next_and_a_long_one_is_cut_at_a_word():
    embedder = FakeEmbedder()
    short = best_sentence(
        embedder.encode(["clinic opened"])[0],
        hit(
            "Clinic opened. It sees victims of domestic abuse referred by the emergency department."
        ),
        embedder,
    )
    assert short is not None
    assert short.text == (
        "Clinic opened. It sees victims of domestic abuse referred by the emergency department."
    )
    long = best_sentence(embedder.encode(["x"])[0], hit("word " * 400), embedder)
    assert long is not None and len(long.text) <= LONGEST + 2 and long.text.endswith(" …")


def test_a_passage_with_nothing_to_quote_gives_no_answer():
    assert best_sentence(np.ones(64), hit("   \n  "), FakeEmbedder()) is None
