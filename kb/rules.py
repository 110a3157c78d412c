"""Questions of rule: a query that asks what must or may be done favours the documents that set
rules.

"How often must the PA visit…", "can they skip stage one…", "is B&B ever ok for…", "deadline for
referring…" ask what must or may be done, and are answered by a document that sets rules (statutory
guidance), not by the hundreds of reports of what one authority did, which use the same words. A
document sets rules when at least RULE_SHARE of its passages say "must": in the real library
(bench/library.py) 7 of its 8 guidance documents do (0.08 to 0.36 of their passages), and none of
its 461 inspections (a median of none, 0.06 at most) nor the founding partnership report (none).
Which documents those are is read from the index itself; none is named here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kb.keyword import KeywordIndex

# Asking what must, may or need be done, by whom, how soon or how often.
QUESTION = re.compile(
    r"\b(?:must|ha(?:ve|s) to|needs? to|required|requirements?|statutory|dut(?:y|ies)|allowed|"
    r"permitted|ever ok(?:ay)?|is it ok(?:ay)?|how (?:long|often|quickly|soon)|deadline|"
    r"timescales?|within how|who (?:is responsible|holds|decides|signs|pays|should|must)|"
    r"whose (?:job|responsibility)|can (?:we|they|i|you|a|an|the|schools?|foster carers?))\b",
    re.IGNORECASE,
)
MARKERS = ("must",)
RULE_SHARE = 0.075  # of a document's passages saying "must", for it to set rules
# What a question of rule weighs for those documents: twice what naming a kind of agency ("the
# hospital") does, two thirds of naming an organisation (README, "How a query is ranked", has 1, 2
# and 3 measured).
WEIGHT = 2.0


def asks_a_rule(query: str) -> bool:
    return QUESTION.search(query) is not None


class RulePrior:
    """The documents that set rules, and the weight a query gives them."""

    def __init__(self, rule_setting: Iterable[str]) -> None:
        self.documents = frozenset(rule_setting)

    @classmethod
    def from_index(cls, keyword: KeywordIndex) -> RulePrior:
        sizes = keyword.document_counts()
        saying = keyword.document_counts(MARKERS)
        return cls(
            document
            for document, size in sizes.items()
            if size and saying.get(document, 0) >= RULE_SHARE * size
        )

    def weights(self, query: str) -> dict[str, float]:
        """{document: weight}: the documents that set rules, for a question of rule; else none."""
        return dict.fromkeys(self.documents, WEIGHT) if asks_a_rule(query) else {}
