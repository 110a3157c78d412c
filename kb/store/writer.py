"""Writing a new generation: a copy of the served one's passages, changed, checked, then
published."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import KbError
from kb.passage import Chunk
from kb.store import chroma, generations
from kb.store.manifest import Manifest
from kb.store.published import Published


class Writer:
    """A new, unpublished generation. The caller holds the writer lock (generations.writer_lock),
    and has deleted what a killed reindex left (generations.prune); publish() points searches at
    it."""

    def __init__(self, index_dir: Path, chroma_url: str, manifest: Manifest) -> None:
        self.index_dir = Path(index_dir)
        self.chroma_url = chroma_url
        self.generation = generations.new_name()
        self.home.mkdir(parents=True, exist_ok=True)
        self._client = (
            chroma.server(chroma_url, create=True)
            if chroma_url
            else chroma.embedded(self.home / "chroma")
        )
        self.collection = chroma.create_collection(
            self._client,
            generations.collection_name(self.generation, chroma_url),
            manifest.as_metadata(),
        )

    @classmethod
    def begin(
        cls, index_dir: Path, chroma_url: str, manifest: Manifest, copy_of: Published | None = None
    ) -> Writer:
        """A new generation: empty, or holding copy_of's passages and vectors, so that a reindex
        embeds only what changed."""
        writer = cls(index_dir, chroma_url, manifest)
        if copy_of is not None:
            texts = {
                chunk.id: chunk for chunk in copy_of.chunks()
            }  # read already; only vectors are fetched
            for got in chroma.rows(copy_of.collection, ["embeddings"]):
                if len(got["ids"]):
                    writer.collection.add(
                        ids=got["ids"],
                        embeddings=got["embeddings"],
                        documents=[texts[chunk_id].text for chunk_id in got["ids"]],
                        metadatas=[chroma.metadata(texts[chunk_id]) for chunk_id in got["ids"]],
                    )
        return writer

    @property
    def home(self) -> Path:
        return generations.home(self.index_dir, self.generation)

    def count(self) -> int:
        return int(self.collection.count())

    def add(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Write chunks in batches below the client's maximum batch size."""
        limit = max(1, min(self._client.get_max_batch_size(), chroma.PAGE))
        for start in range(0, len(chunks), limit):
            batch = chunks[start : start + limit]
            self.collection.upsert(
                ids=[chunk.id for chunk in batch],
                embeddings=vectors[start : start + limit].astype(np.float32).tolist(),
                documents=[chunk.text for chunk in batch],
                metadatas=[chroma.metadata(chunk) for chunk in batch],
            )

    def delete_document(self, document: str) -> None:
        self.collection.delete(where={"document": document})

    def replace_document(self, document: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """A changed file's old chunks go; its new ones come in."""
        keep = {chunk.id for chunk in chunks}
        old = self.collection.get(where={"document": document}, include=[])["ids"]
        self.add(chunks, vectors)
        stale = [chunk_id for chunk_id in old if chunk_id not in keep]
        for start in range(0, len(stale), chroma.PAGE):
            self.collection.delete(ids=stale[start : start + chroma.PAGE])

    def chunks(self) -> Iterator[Chunk]:
        """Every chunk written (the keyword index is derived from these)."""
        for got in chroma.rows(self.collection, ["documents", "metadatas"]):
            for row in zip(got["ids"], got["documents"], got["metadatas"]):
                yield chroma.chunk(*row)

    def fingerprint_rows(self) -> list[tuple[str, str]]:
        """(chunk id, document hash) for every chunk: what derived indexes are checked against."""
        return [
            (chunk_id, str((metadata or {}).get("sha256", "")))
            for got in chroma.rows(self.collection, ["metadatas"])
            for chunk_id, metadata in zip(got["ids"], got["metadatas"] or [])
        ]

    def publish(self, expected_chunks: int) -> None:
        """Check this generation, then point searches at it; the one it replaces is kept for readers
        still on it, and older ones are deleted."""
        found = self.count()
        if found != expected_chunks:
            raise KbError(
                f"the new index holds {found} passages where {expected_chunks} were written; "
                "the index being served is unchanged"
            )
        if found:
            probe = self.collection.get(limit=1, include=["embeddings"])
            answered = self.collection.query(query_embeddings=[probe["embeddings"][0]], n_results=1)
            if not answered["ids"][0]:
                raise KbError(
                    "the new index does not answer a query; the index being served is unchanged"
                )
        client: Any = self._client if self.chroma_url else None
        generations.point_at(self.index_dir, self.chroma_url, self.generation, client)
        generations.prune(self.index_dir, self.chroma_url, client=client)

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()
