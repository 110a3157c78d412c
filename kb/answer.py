"""The answer first: the sentence (or two) of the best passage that best answers the query, quoted
exactly, chosen by the model the index already uses. Never generated text: a quotation, or
nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kb.clean import EMPHASIS
from kb.embed import Embedder
from kb.passage import Hit

# A sentence ends at . ! or ? (and a closing quote or bracket) before a space and a capital or an
# opening quote; each line (a paragraph, a bullet) is sentences of its own.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[A-Z“\"'‘(])")
# What ends in a full stop without ending a sentence: "p. 12", "e.g. MASH", "Dr. Smith", "J. Smith".
_ABBREVIATION = re.compile(
    r"(?:\b(?:p|pp|no|nos|dr|mr|mrs|ms|st|vs|cf|para|paras|fig|e\.g|i\.e|etc)|(?<!\w)[A-Z])\.$",
    re.IGNORECASE,
)
SHORT = 60  # characters: a sentence shorter than this is quoted with the one after it
LONGEST = 600  # characters quoted at most
CANDIDATES = 4  # sentences the model reads, those holding most of the query's words
OVERLAP_WEIGHT = 0.3  # what holding all the query's words adds to a cosine similarity
_BULLET = re.compile(r"^\s*(?:[-•*▪◦–]|\d{1,2}[.)])\s+")


@dataclass(frozen=True)
class Answer:
    """A quotation from a passage, exactly as it stands there (markup and bullets aside)."""

    text: str
    hit: Hit


def sentences(text: str) -> list[str]:
    """The passage's sentences, each as written, without a leading bullet or markup."""
    found: list[str] = []
    for line in text.splitlines():
        line = EMPHASIS.sub("", _BULLET.sub("", line)).strip()
        pieces: list[str] = []
        for piece in _SENTENCE_END.split(line) if line else []:
            if pieces and _ABBREVIATION.search(pieces[-1]):
                pieces[-1] = f"{pieces[-1]} {piece}"
            else:
                pieces.append(piece)
        found.extend(piece.strip() for piece in pieces if piece.strip())
    return found


def best_sentence(
    query_vector: np.ndarray,
    hit: Hit,
    encoder: Embedder,
    overlap: Callable[[list[str]], list[float]] | None = None,
) -> Answer | None:
    """The sentence of the passage nearest the query, with the next one if it is short; None if
    the passage has no sentence worth quoting.

    Nearest is the model's cosine similarity plus OVERLAP_WEIGHT times overlap(sentences): the
    share of the query's words (and what it stands for) each sentence holds. The model reads only
    the CANDIDATES sentences that hold most of them, so a long passage costs no more than a short
    one."""
    found = sentences(hit.text)
    if not found:
        return None
    shares = np.asarray(overlap(found) if overlap else [0.0] * len(found), dtype=np.float32)
    candidates = sorted(np.argsort(-shares, kind="stable")[:CANDIDATES].tolist())
    if len(candidates) == 1:
        chosen = candidates[0]
    else:
        vectors = encoder.encode([found[at] for at in candidates], batch_size=len(candidates))
        near = vectors @ np.asarray(query_vector, dtype=vectors.dtype)
        scores = near + OVERLAP_WEIGHT * shares[candidates]
        chosen = candidates[int(np.argmax(scores))]
    quoted = found[chosen]
    if len(quoted) < SHORT and chosen + 1 < len(found):
        quoted = f"{quoted} {found[chosen + 1]}"
    if len(quoted) > LONGEST:
        quoted = quoted[:LONGEST].rsplit(" ", 1)[0] + " …"
    return Answer(quoted, hit)
