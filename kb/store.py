"""The vector index: the only module that imports chromadb. Embedded by default, or a Chroma server."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from kb.chunk import Chunk
from kb.errors import IndexMismatch, IndexMissing, KbError

COLLECTION = "kb_chunks"
METADATA_FIELDS = ("document", "title", "agency", "section", "page", "page_end", "position", "sha256")


@dataclass(frozen=True)
class Manifest:
    """How an index was built; searching it with anything else would answer wrongly."""

    model: str
    dimension: int
    chunker: str

    def as_metadata(self) -> dict:
        return {f"kb_{key}": value for key, value in asdict(self).items()}

    @classmethod
    def from_metadata(cls, metadata: dict | None) -> Manifest | None:
        metadata = metadata or {}
        if "kb_model" not in metadata:
            return None
        return cls(str(metadata["kb_model"]), int(metadata["kb_dimension"]), str(metadata["kb_chunker"]))


def _client(index_dir: Path, chroma_url: str = ""):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if chroma_url:
        url = urlparse(chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise KbError(f"KB_CHROMA_URL must look like http://host:port, not {chroma_url!r}")
        try:
            return chromadb.HttpClient(
                host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https", settings=chroma_settings,
            )
        except Exception as error:  # noqa: BLE001 - connection errors come in many types
            raise KbError(f"cannot reach the Chroma server at {chroma_url}: {error}") from None
    return chromadb.PersistentClient(path=str(Path(index_dir) / "chroma"), settings=chroma_settings)


class Store:
    """Chunks with their vectors and citations, in one Chroma collection with a manifest."""

    def __init__(self, index_dir: Path, chroma_url: str = "", create: bool = False) -> None:
        self.index_dir = Path(index_dir)
        self.location = chroma_url or str(self.index_dir)
        if not chroma_url and not create and not (self.index_dir / "chroma").is_dir():
            raise IndexMissing(f"no index at {self.index_dir}: run `kb reindex` first")
        self._client = _client(self.index_dir, chroma_url)
        self._collection = self._existing()
        if self._collection is None and not create:
            raise IndexMissing(f"no index at {self.location}: run `kb reindex` first")

    def _existing(self):
        from chromadb.errors import NotFoundError

        try:
            return self._client.get_collection(COLLECTION, embedding_function=None)
        except (NotFoundError, ValueError):
            return None

    @property
    def manifest(self) -> Manifest | None:
        if self._collection is None:
            return None
        return Manifest.from_metadata(self._collection.metadata)

    def check(self, expected: Manifest) -> None:
        """Refuse an index built with another model or chunker."""
        found = self.manifest
        if found != expected:
            built = f"{found.model}, {found.dimension} dimensions, chunker {found.chunker}" if found else "an unknown build"
            raise IndexMismatch(
                f"the index at {self.location} was built with {built}; this kb uses {expected.model}, "
                f"{expected.dimension} dimensions, chunker {expected.chunker}: run `kb reindex`"
            )

    def open_for_writing(self, manifest: Manifest) -> bool:
        """Open the collection to write; rebuild it empty if it was built differently. True if rebuilt."""
        rebuilt = False
        if self._collection is not None and self.manifest != manifest:
            self._client.delete_collection(COLLECTION)
            rebuilt = True
        self._collection = self._client.get_or_create_collection(
            COLLECTION,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=manifest.as_metadata(),
            embedding_function=None,
        )
        return rebuilt

    @property
    def collection(self):
        if self._collection is None:
            raise IndexMissing(f"no index at {self.location}: run `kb reindex` first")
        return self._collection

    def count(self) -> int:
        return self.collection.count()

    def _rows(self, include: list[str], where: dict | None = None):
        """Every stored row (or those matching where), a page at a time: (ids, documents, metadatas) per page."""
        offset, page = 0, 5000
        while True:
            got = self.collection.get(where=where, include=include, limit=page, offset=offset)
            yield got
            if len(got["ids"]) < page:
                return
            offset += page

    def _all_metadata(self) -> list[dict]:
        return [m for got in self._rows(["metadatas"]) for m in got["metadatas"] or []]

    def fingerprint_rows(self) -> list[tuple[str, str]]:
        """(chunk id, document hash) for every chunk: what derived indexes are checked against."""
        return [
            (chunk_id, metadata.get("sha256", ""))
            for got in self._rows(["metadatas"])
            for chunk_id, metadata in zip(got["ids"], got["metadatas"] or [])
        ]

    def documents(self) -> dict[str, str]:
        """{document name: content hash} for every document in the index."""
        return {m["document"]: m.get("sha256", "") for m in self._all_metadata()}

    def catalogue(self) -> list[dict]:
        """One row per document, by name: title, agency (the one most of it is from), agencies, pages, chunks."""
        rows: dict[str, dict] = {}
        for m in self._all_metadata():
            row = rows.setdefault(m["document"], {"document": m["document"], "title": m.get("title", ""),
                                                  "agencies": Counter(), "pages": 0, "chunks": 0})
            row["chunks"] += 1
            row["pages"] = max(row["pages"], int(m.get("page_end") or m.get("page") or 0))
            if m.get("agency"):
                row["agencies"][m["agency"]] += 1
        for row in rows.values():
            counts = row.pop("agencies")
            row["agency"] = counts.most_common(1)[0][0] if counts else ""
            row["agencies"] = sorted(counts)
        return [rows[name] for name in sorted(rows)]

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Write chunks in batches below the client's maximum batch size."""
        limit = max(1, min(self._client.get_max_batch_size(), 1000))
        for start in range(0, len(chunks), limit):
            batch = chunks[start : start + limit]
            self.collection.upsert(
                ids=[chunk.id for chunk in batch],
                embeddings=vectors[start : start + limit].astype(np.float32).tolist(),
                documents=[chunk.text for chunk in batch],
                metadatas=[_metadata(chunk) for chunk in batch],
            )

    def delete_document(self, document: str) -> None:
        self.collection.delete(where={"document": document})

    def replace_document(self, document: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """A changed file's old chunks go; its new ones come in."""
        keep = {chunk.id for chunk in chunks}
        old = self.collection.get(where={"document": document}, include=[])["ids"]
        self.add(chunks, vectors)
        stale = [chunk_id for chunk_id in old if chunk_id not in keep]
        for start in range(0, len(stale), 1000):
            self.collection.delete(ids=stale[start : start + 1000])

    def query(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine similarity, best first."""
        k = max(1, min(k, self.count()))
        result = self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=k, where=where, include=["documents", "metadatas", "distances"],
        )
        return [
            (_chunk(chunk_id, text, metadata), 1.0 - float(distance))
            for chunk_id, text, metadata, distance in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
            )
        ]

    def get(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """{id: chunk} for the ids that exist."""
        if not ids:
            return {}
        got = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        return {row[0]: _chunk(*row) for row in zip(got["ids"], got["documents"], got["metadatas"])}

    def chunks(self, document: str | None = None) -> Iterable[Chunk]:
        """Every stored chunk, or one document's (the keyword index is derived from these)."""
        for got in self._rows(["documents", "metadatas"], {"document": document} if document else None):
            yield from (_chunk(*row) for row in zip(got["ids"], got["documents"], got["metadatas"]))


def _metadata(chunk: Chunk) -> dict:
    return {name: getattr(chunk, name) for name in METADATA_FIELDS}


def _chunk(chunk_id: str, text: str, metadata: dict) -> Chunk:
    fields = {name: metadata.get(name, "") for name in METADATA_FIELDS}
    for name in ("page", "page_end", "position"):
        fields[name] = int(fields[name] or 0)
    return Chunk(id=chunk_id, text=text or "", **fields)
