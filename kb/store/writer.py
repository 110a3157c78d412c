"""Writing a new generation: a copy of the served one's passages, changed, checked, then
published."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import KbError
from kb.passage import Chunk
from kb.store import chroma, generations
from kb.store.manifest import Manifest
from kb.store.published import Published, fingerprint_rows


class Writer:
    """A new, unpublished generation. The caller holds the writer lock (generations.writer_lock),
    and has deleted what a killed reindex left (generations.prune); publish() points searches at
    it."""

    def __init__(
        self, index_dir: Path, chroma_url: str, generation: str, client: Any, collection: Any
    ) -> None:
        self.index_dir = Path(index_dir)
        self.chroma_url = chroma_url
        self.generation = generation
        self._client = client
        self.collection = collection
        self.published = False
        self._closed = False

    @classmethod
    def begin(
        cls, index_dir: Path, chroma_url: str, manifest: Manifest, copy_of: str | None = None
    ) -> Writer:
        """A new generation: empty, or holding generation copy_of's passages and vectors, so that
        a reindex embeds only what changed. On this machine the copy is of the store's files (a
        published generation is never written to, so they are whole): seconds for 40,000
        passages. On a Chroma server, whose collections cannot be copied there, the rows are read
        and written again."""
        generation = generations.new_name()
        home = generations.home(index_dir, generation)
        home.mkdir(parents=True, exist_ok=True)
        try:
            return cls._begin(index_dir, chroma_url, manifest, copy_of, generation)
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)  # a copy cut short by a full disk, say
            raise

    @classmethod
    def _begin(
        cls,
        index_dir: Path,
        chroma_url: str,
        manifest: Manifest,
        copy_of: str | None,
        generation: str,
    ) -> Writer:
        home = generations.home(index_dir, generation)
        name = generations.collection_name(generation, chroma_url)
        if copy_of is not None and not chroma_url:
            shutil.copytree(generations.home(index_dir, copy_of) / "chroma", home / "chroma")
            client = chroma.embedded(home / "chroma")
            collection = chroma.get_collection(client, name)
            if collection is None:
                raise KbError(
                    f"generation {copy_of} has no passages to copy: run `kb reindex` again"
                )
            return cls(index_dir, chroma_url, generation, client, collection)
        client = (
            chroma.server(chroma_url, create=True)
            if chroma_url
            else chroma.embedded(home / "chroma")
        )
        collection = chroma.create_collection(client, name, manifest.as_metadata())
        writer = cls(index_dir, chroma_url, generation, client, collection)
        if copy_of is not None:
            writer.copy_rows(Published.open(index_dir, chroma_url, copy_of, exact_up_to=0))
        return writer

    def copy_rows(self, source: Published) -> None:
        """Write every passage and vector of a published generation into this one; closes it."""
        try:
            texts = {chunk.id: chunk for chunk in source.chunks()}  # read already; vectors fetched
            for got in chroma.rows(source.collection, ["embeddings"]):
                if len(got["ids"]):
                    self.collection.add(
                        ids=got["ids"],
                        embeddings=got["embeddings"],
                        documents=[texts[chunk_id].text for chunk_id in got["ids"]],
                        metadatas=[chroma.metadata(texts[chunk_id]) for chunk_id in got["ids"]],
                    )
        finally:
            source.close()

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

    def set_standard(self, standing: Mapping[str, int]) -> None:
        """Mark passages as standard text (in how many documents their words stand) or not (0)."""
        ids = list(standing)
        for start in range(0, len(ids), chroma.PAGE):
            batch = ids[start : start + chroma.PAGE]
            self.collection.update(ids=batch, metadatas=[{"standard": standing[i]} for i in batch])

    def chunks(self) -> Iterator[Chunk]:
        """Every chunk written (the keyword index is derived from these)."""
        for got in chroma.rows(self.collection, ["documents", "metadatas"]):
            for row in zip(got["ids"], got["documents"], got["metadatas"]):
                yield chroma.chunk(*row)

    def fingerprint_rows(self) -> list[tuple[str, str, int]]:
        """(document, its hash, its passages) for every document written."""
        return fingerprint_rows(
            metadata or {}
            for got in chroma.rows(self.collection, ["metadatas"])
            for metadata in got["metadatas"] or []
        )

    def publish(self, expected_chunks: int, catalogue: Mapping[str, Any] | None = None) -> None:
        """Check this generation, then point searches at it; the one it replaces is kept for readers
        still on it, and older ones are deleted. catalogue: what the generation holds, by document
        (generations.write_catalogue), so that the next reindex need not read every row to know."""
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
        if catalogue is not None:
            generations.write_catalogue(self.home, catalogue)
        client: Any = self._client if self.chroma_url else None
        generations.point_at(self.index_dir, self.chroma_url, self.generation, client)
        self.published = True
        generations.prune(self.index_dir, self.chroma_url, client=client)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def discard(self) -> None:
        """Drop this generation, unpublished: after a failure, whatever state it is in, or when a
        reindex found nothing to change after all. A published one is left alone. Goes with it:
        its folder, and its collection on a Chroma server (if the server still answers; else the
        next reindex's prune deletes it)."""
        if self.published:
            return
        if self.chroma_url:
            # A server that is gone: the next reindex's prune deletes the collection.
            with contextlib.suppress(Exception):
                self._client.delete_collection(self.collection.name)
        try:
            self.close()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)
