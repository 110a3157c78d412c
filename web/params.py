"""The search request as the URL holds it: q, k, agency, document. Shared by the page and the
API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from kb.errors import UsageError
from kb.search import MAX_K  # one limit for the searcher, the page and the API


class BadK(UsageError):
    """k is not a whole number from 1 to MAX_K."""


@dataclass(frozen=True)
class SearchParams:
    q: str = ""
    k: int = 10
    agency: str = ""
    document: str = ""
    default_k: int = 10

    @classmethod
    def from_args(cls, args: Mapping[str, str], default_k: int) -> SearchParams:
        """The request's arguments; a k that is not a whole number from 1 to 100 is refused."""
        return replace(cls.as_typed(args, default_k), k=parse_k(args.get("k"), default_k))

    @classmethod
    def as_typed(cls, args: Mapping[str, str], default_k: int) -> SearchParams:
        """The request's arguments with k left at its default: what a page shows again when k is
        refused."""
        return cls(
            q=args.get("q", ""),
            k=default_k,
            agency=args.get("agency", "").strip(),
            document=args.get("document", "").strip(),
            default_k=default_k,
        )

    def url_args(self, **changes) -> dict[str, str | int]:
        """URL arguments for this search with some changed; empty ones and the default k are left
        out."""
        changed = replace(self, **changes)
        args: dict[str, str | int] = {
            "q": changed.q,
            "agency": changed.agency,
            "document": changed.document,
        }
        args = {name: value for name, value in args.items() if value}
        if changed.k != self.default_k:
            args["k"] = changed.k
        return args


def parse_k(raw: str | None, default: int) -> int:
    """How many passages were asked for."""
    if raw is None or raw.strip() == "":
        return default
    try:
        # 7, and 7.0 or 7e0 too: JSON Schema's "integer" (web/openapi.py) allows them
        number = float(raw)
    except ValueError:
        number = 0.0
    k = int(number) if number.is_integer() else 0
    if not 1 <= k <= MAX_K:
        raise BadK(f"k must be a whole number from 1 to {MAX_K}, not {raw[:20]!r}")
    return k
