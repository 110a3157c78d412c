"""How many of an index's passages are cited under a section that misreads the report's headings.

    .venv/bin/python bench/sections.py [--index /tmp/kb-library/index]

Counts, over every passage the index holds, the three misreadings chunker 15 mends (README,
"Sections"):
- a grade alone: the last heading is "good", "outstanding", "inadequate" or "requires improvement
  to be good", its topic ("The impact of leaders on…:") left in the text above it;
- siblings nested: two "topic: value" headings that open with the same four words, one under the
  other ("…help and protection: inadequate › The experiences and progress of children in care…");
- two headings read as one: a heading that runs on into "Executive summary".
Prints JSON: passages, and for each misreading its passages, documents and one example section.
Run it on an index built by the chunker before (or by the release before) to compare.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path

from kb.chunk import _siblings
from kb.store.published import Published

GRADES = {"good", "outstanding", "inadequate", "requires improvement to be good"}


def grade_alone(parts: list[str]) -> bool:
    return parts[-1].casefold() in GRADES


def siblings_nested(parts: list[str]) -> bool:
    """Two "topic: value" headings that open alike, one under the other (as kb.chunk tells them)."""
    return any(_siblings(above, below) for above, below in zip(parts, parts[1:]))


def run_on(parts: list[str]) -> bool:
    return any(re.search(r"\S\s+executive summary$", part, re.IGNORECASE) for part in parts)


MISREADINGS: dict[str, Callable[[list[str]], bool]] = {
    "a grade alone": grade_alone,
    "siblings nested": siblings_nested,
    "two headings read as one": run_on,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=Path("/tmp/kb-library/index"))
    args = parser.parse_args()
    store = Published.open(args.index)
    found: dict[str, list[tuple[str, str]]] = {name: [] for name in MISREADINGS}
    passages = 0
    for _, metadata in store.metadata():
        passages += 1
        section = metadata.get("section", "")
        parts = [part.strip() for part in section.split(" › ") if part.strip()]
        if not parts:
            continue
        for name, misread in MISREADINGS.items():
            if misread(parts):
                found[name].append((metadata.get("document", ""), section))
    store.close()
    report: dict[str, object] = {"passages": passages}
    for name, hits in found.items():
        report[name] = {
            "passages": len(hits),
            "documents": len({document for document, _ in hits}),
            "example": hits[0][1] if hits else "",
        }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
