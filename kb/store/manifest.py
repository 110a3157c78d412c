"""How an index was built, kept with it: searching it with another model or chunker would answer
wrongly."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kb.errors import IndexMismatch


@dataclass(frozen=True)
class Manifest:
    model: str
    dimension: int
    chunker: str

    def as_metadata(self) -> dict[str, Any]:
        return {f"kb_{key}": value for key, value in asdict(self).items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None) -> Manifest | None:
        metadata = metadata or {}
        if "kb_model" not in metadata:
            return None
        return cls(
            str(metadata["kb_model"]), int(metadata["kb_dimension"]), str(metadata["kb_chunker"])
        )

    def describe(self) -> str:
        return f"{self.model}, {self.dimension} dimensions, chunker {self.chunker}"


def check(found: Manifest | None, expected: Manifest, location: str) -> None:
    """Refuse an index built with another model or chunker."""
    if found != expected:
        built = found.describe() if found else "an unknown build"
        raise IndexMismatch(
            f"the index at {location} was built with {built}; this kb uses "
            f"{expected.describe()}: run `kb reindex`"
        )
