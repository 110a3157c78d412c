"""Standard text: wording that many documents repeat word for word.

Every Ofsted inspection ends on the same back page ("The Office for Standards in Education,
Children's Services and Skills (Ofsted) regulates and inspects…", "To view this licence,
visit…"); every report of a series repeats its framework and its judgement scale. Such a passage
answers "what did Dorset's inspection find?" in the words of the 460 others, and would outrank
the report's own findings. It is recognised from the corpus itself, at reindex: a passage whose
words (numbers and punctuation aside) stand in MIN_DOCUMENTS documents or more, and in at least
SHARE of them, is standard text. So is a near copy, as when a publisher rewords one phrase of its
back page ("looked after children" became "children looked after"): a passage's fingerprint is a
sample of its runs of SHINGLE words, and a passage with a NEAR share of its fingerprint standing in
that many documents is standard too. It stays in the index and stays findable: its score is
multiplied by WEIGHT unless the query asks for every word it holds, and a result list shows one
copy of it.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import statistics
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence

from kb.keyword import STOPWORDS

MIN_DOCUMENTS = 3  # fewer repeats are a document quoting another, or two editions of one
SHARE = 0.02  # and at least this share of the corpus's documents
WEIGHT = 0.5  # what a standard passage's score is multiplied by: it never outranks a finding
SHINGLE = 5  # words in a run
SAMPLE = 8  # one run in this many (chosen by its hash, so the same in every copy) is kept
NEAR = 0.8  # the share of a passage's fingerprint that must stand in enough documents
SHORTEST = 4  # runs a fingerprint needs to be judged; a shorter passage must match word for word
SAME = 0.5  # two fingerprints sharing this share of their runs are copies of one text
FINGERPRINT = f"crc32 of {SHINGLE} words, 1 in {SAMPLE}"  # catalogues record how they were taken

_NOT_WORDS = re.compile(r"[^a-z]+")
_STOP = STOPWORDS | {"s"}  # "children's" is "children s"


def _words_in(text: str) -> list[str]:
    """Its words in lower case, numbers and punctuation left out."""
    return _NOT_WORDS.sub(" ", text.casefold()).split()


def key(text: str) -> str:
    """What two copies of a passage share: its letters, in lower case, word by word (dates,
    numbers and punctuation differ between copies of a back page)."""
    words = _words_in(text)
    return hashlib.sha1(" ".join(words).encode()).hexdigest()[:16] if words else ""


def words(text: str) -> frozenset[str]:
    """The words of a query or passage that say what it is about (a plural as its singular): a
    standard passage holding every one of a query's is what the query asks for, and keeps its
    score."""
    found = {word for word in _words_in(text) if word not in _STOP}
    return frozenset(word[:-1] if len(word) > 3 and word.endswith("s") else word for word in found)


def fingerprint(text: str) -> str:
    """A sample of the passage's runs of SHINGLE words, each a 32-bit hash, packed as text (the
    reindex catalogue keeps one for each passage)."""
    words = _words_in(text)
    hashed = {
        zlib.crc32(" ".join(words[at : at + SHINGLE]).encode())
        for at in range(max(0, len(words) - SHINGLE + 1))
    }
    kept = sorted(run for run in hashed if run % SAMPLE == 0)
    return base64.b64encode(b"".join(run.to_bytes(4, "little") for run in kept)).decode()


def runs(fingerprint: str) -> set[int]:
    packed = base64.b64decode(fingerprint)
    return {int.from_bytes(packed[at : at + 4], "little") for at in range(0, len(packed), 4)}


Signature = tuple[str, set[int]]  # a passage's key and the runs of its fingerprint


def signature(text: str) -> Signature:
    return key(text), runs(fingerprint(text))


def same(one: Signature, other: Signature) -> bool:
    """Whether two passages are copies of one standard text, word for word or near."""
    (key_one, a), (key_other, b) = one, other
    return key_one == key_other or (bool(a and b) and len(a & b) >= SAME * min(len(a), len(b)))


def copies(one: str, other: str) -> bool:
    """Whether two passages (their texts) are copies of one standard text, word for word or near."""
    return same(signature(one), signature(other))


def least(documents: int) -> int:
    """In how many documents a passage must stand to be standard text, in a corpus of this many."""
    return max(MIN_DOCUMENTS, math.ceil(SHARE * documents))


def standing(documents: Mapping[str, Sequence[tuple[str, str]]]) -> dict[str, list[int]]:
    """For each document ({document: [(key, fingerprint) of each passage]}), in how many documents
    each of its passages stands: 0 for the document's own text."""
    exact: Counter[str] = Counter()
    shingles: Counter[int] = Counter()
    unpacked = {
        name: [(k, runs(print_)) for k, print_ in passages] for name, passages in documents.items()
    }
    for passages in unpacked.values():
        exact.update({k for k, _ in passages if k})
        shingles.update(set().union(*(found for _, found in passages)))
    enough = least(len(documents))
    result: dict[str, list[int]] = {}
    for name, passages in unpacked.items():
        result[name] = []
        for k, found in passages:
            stands = exact[k] if k else 0
            if stands < enough:
                counts = [shingles[run] for run in found]
                near = len(counts) >= SHORTEST and (
                    sum(count >= enough for count in counts) >= NEAR * len(counts)
                )
                stands = int(statistics.median(counts)) if near else 0
            result[name].append(stands)
    return result
