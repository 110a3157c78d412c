"""The search request as the URL holds it: q, k, agency, document, year, collection. Shared by the
page and the API."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kb.errors import UsageError
from kb.search import MAX_K  # one limit for the searcher, the page and the API


class BadK(UsageError):
    """k is not a whole number from 1 to MAX_K."""


class BadYear(UsageError):
    """year is not a year."""


ALL_COLLECTIONS = "all"  # collection=all searches every collection, whatever KB_COLLECTIONS says


@dataclass(frozen=True)
class SearchParams:
    q: str = ""
    k: int = 10
    agency: str = ""
    document: str = ""
    year: str = ""
    collection: str = ""
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
            year=args.get("year", "").strip(),
            collection=args.get("collection", "").strip(),
            default_k=default_k,
        )

    def without(self, name: str) -> SearchParams:
        """The same search without one of its filters (agency, document, year, collection)."""
        if name not in ("agency", "document", "year", "collection"):
            raise ValueError(f"no filter is called {name!r}")
        return replace(
            self,
            agency="" if name == "agency" else self.agency,
            document="" if name == "document" else self.document,
            year="" if name == "year" else self.year,
            collection="" if name == "collection" else self.collection,
        )

    def filters(self) -> dict[str, Any]:
        """The search's filters as Searcher.search takes them; a year that is not one is refused."""
        if self.year and not re.fullmatch(r"(19|20|21)\d\d", self.year):
            raise BadYear(f"year must be a year such as 2024, not {self.year[:20]!r}")
        collections: list[str] | None = None
        if self.collection:
            collections = [] if self.collection == ALL_COLLECTIONS else [self.collection]
        return {
            "agency": self.agency or None,
            "document": self.document or None,
            "years": (int(self.year),) if self.year else (),
            "collections": collections,
        }

    def url_args(self, **changes) -> dict[str, str | int]:
        """URL arguments for this search with some changed; empty ones and the default k are left
        out."""
        changed = replace(self, **changes)
        args: dict[str, str | int] = {
            "q": changed.q,
            "agency": changed.agency,
            "document": changed.document,
            "year": changed.year,
            "collection": changed.collection,
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
