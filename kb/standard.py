"""Standard text: wording that many documents repeat word for word.

Every Ofsted inspection ends on the same back page ("The Office for Standards in Education,
Children's Services and Skills (Ofsted) regulates and inspects…", "To view this licence,
visit…"); every report of a series repeats its framework and its judgement scale. Such a passage
answers "what did Dorset's inspection find?" in the words of the 460 others, and would outrank
the report's own findings. It is recognised from the corpus itself, at reindex: a passage whose
words (numbers and punctuation aside) stand in MIN_DOCUMENTS documents or more, and in at least
SHARE of them, is standard text. It stays in the index and stays findable: its score is
multiplied by WEIGHT, and a result list shows one copy of it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping

MIN_DOCUMENTS = 3  # fewer repeats are a document quoting another, or two editions of one
SHARE = 0.02  # and at least this share of the corpus's documents
WEIGHT = 0.5  # what a standard passage's score is multiplied by: it never outranks a finding

_NOT_WORDS = re.compile(r"[^a-z]+")


def key(text: str) -> str:
    """What two copies of a passage share: its letters, in lower case, word by word (dates,
    numbers and punctuation differ between copies of a back page)."""
    words = _NOT_WORDS.sub(" ", text.casefold()).split()
    return hashlib.sha1(" ".join(words).encode()).hexdigest()[:16] if words else ""


def least(documents: int) -> int:
    """In how many documents a passage must stand to be standard text, in a corpus of this many."""
    return max(MIN_DOCUMENTS, math.ceil(SHARE * documents))


def standing(keys: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """{key: documents it stands in} for the keys standard in this corpus ({document: its keys})."""
    counted: Counter[str] = Counter()
    for document_keys in keys.values():
        counted.update({k for k in document_keys if k})
    enough = least(len(keys))
    return {k: n for k, n in counted.items() if n >= enough}
