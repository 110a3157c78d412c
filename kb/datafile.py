"""The data files under kb/data: tab-separated rows; blank lines and # comments skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, its tab-separated fields, each stripped) for every line that holds data."""
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, [field.strip() for field in line.split("\t")]


def options(field: str) -> tuple[str, ...]:
    """'a|b| c' -> ('a', 'b', 'c'): the alternatives one field lists."""
    return tuple(option.strip() for option in field.split("|") if option.strip())
