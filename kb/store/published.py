"""Reading a published generation: its passages and citations, read once, and its vectors
searched."""

from __future__ import annotations

import json
import os
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from kb.errors import IndexMissing
from kb.passage import FILTERED, Chunk, Filter, IndexedDocument
from kb.settings import Settings
from kb.store import chroma, generations
from kb.store.manifest import Manifest
from kb.store.manifest import check as check_manifest
from kb.store.scan import Scan


class Published:
    """One published generation. It never changes, so its passages are read once, when it opens, and
    served from memory (about 1.3 ms less per search; some 40 MB at 20,000 passages). One of no more
    than exact_up_to passages is searched in memory too; a larger one through Chroma's graph
    index."""

    def __init__(
        self,
        index_dir: Path,
        chroma_url: str,
        generation: str,
        client: Any,
        collection: Any,
        exact_up_to: int,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.chroma_url = chroma_url
        self.generation = generation
        self.location = chroma_url or str(self.index_dir)
        self.collection = collection
        self._client = client
        kept = _Kept(self.home, generation)
        rows = kept.rows(collection)
        if rows is None:
            rows = {
                chunk_id: (text, metadata)
                for got in chroma.rows(collection, ["documents", "metadatas"])
                for chunk_id, text, metadata in zip(
                    got["ids"], got["documents"], got["metadatas"] or []
                )
            }
            kept.keep_rows(rows)
        self._rows: dict[str, tuple[str, dict[str, Any]]] = rows
        self._scan = self._read_vectors(kept) if len(self._rows) <= exact_up_to else None
        self._catalogue: list[IndexedDocument] | None = None

    @classmethod
    def open(
        cls,
        index_dir: Path,
        chroma_url: str = "",
        generation: str | None = None,
        exact_up_to: int = Settings.exact_search_up_to,
    ) -> Published:
        """The generation named, or the one being served; IndexMissing if there is none."""
        location = chroma_url or str(index_dir)
        generation = generation or generations.current(index_dir, chroma_url)
        if generation is None:
            raise IndexMissing(f"no index at {location}: run `kb reindex` first")
        lost = IndexMissing(
            f"the index at {location} has lost generation {generation}: run `kb reindex`"
        )
        if chroma_url:
            client = chroma.server(chroma_url)
        elif (generations.home(index_dir, generation) / "chroma").is_dir():
            client = chroma.embedded(generations.home(index_dir, generation) / "chroma")
        else:
            raise lost
        collection = chroma.get_collection(
            client, generations.collection_name(generation, chroma_url)
        )
        if collection is None:
            raise lost
        return cls(index_dir, chroma_url, generation, client, collection, exact_up_to)

    def _read_vectors(self, kept: _Kept) -> Scan:
        """Every vector, in the order of the rows: as kept beside the generation, else read from
        the store (and kept)."""
        ids = list(self._rows)
        matrix = kept.vectors()
        if matrix is None:
            row = {chunk_id: at for at, chunk_id in enumerate(ids)}
            matrix = np.zeros((len(ids), 0), dtype=np.float32)
            for got in chroma.rows(self.collection, ["embeddings"]):
                if not len(got["ids"]):
                    continue
                page = np.asarray(got["embeddings"], dtype=np.float32)
                if not matrix.shape[1]:
                    matrix = np.zeros((len(ids), page.shape[1]), dtype=np.float32)
                matrix[[row[chunk_id] for chunk_id in got["ids"]]] = page
            kept.keep_vectors(matrix)
        columns = {
            name: np.array(
                [self._rows[chunk_id][1].get(name, "") for chunk_id in ids], dtype=object
            )
            for name in FILTERED
        }
        return Scan(ids, matrix, columns)

    def summarise(self) -> None:
        """Make what spares a search most of the reading at library scale (Scan.summarise): a
        server does it as it warms up; a one-off search reads every vector instead."""
        if self._scan is not None:
            self._scan.summarise()

    @property
    def home(self) -> Path:
        """This generation's folder on this machine: its keyword index, and its Chroma store if
        embedded."""
        return generations.home(self.index_dir, self.generation)

    @property
    def manifest(self) -> Manifest | None:
        return Manifest.from_metadata(self.collection.metadata)

    def check(self, expected: Manifest) -> None:
        """Refuse a generation built with another model or chunker."""
        check_manifest(self.manifest, expected, self.location)

    def close(self) -> None:
        """Release the Chroma client (an embedded store's files, a server's connections)."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def count(self) -> int:
        return len(self._rows)

    def stored_count(self) -> int:
        """The passages the store itself holds now, asked of it, not of memory: a health check."""
        return int(self.collection.count())

    def passages(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """{id: chunk} for the ids that exist."""
        rows = self._rows
        return {
            chunk_id: chroma.chunk(chunk_id, *rows[chunk_id])
            for chunk_id in ids
            if chunk_id in rows
        }

    def chunks(self, document: str | None = None) -> Iterator[Chunk]:
        """Every chunk, or one document's, in the order stored (the keyword index is derived from
        these)."""
        for chunk_id, (text, metadata) in self._rows.items():
            if document is None or metadata.get("document") == document:
                yield chroma.chunk(chunk_id, text, metadata)

    def metadata(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(chunk id, citation metadata) for every chunk."""
        return ((chunk_id, metadata) for chunk_id, (_, metadata) in self._rows.items())

    def fingerprint_rows(self) -> list[tuple[str, str, int]]:
        """(document, its hash, its passages) for every document: what derived indexes are
        checked against."""
        return fingerprint_rows(metadata for _, metadata in self.metadata())

    def document_hashes(self) -> dict[str, str]:
        """{document name: content hash} for every document in the index."""
        return {metadata["document"]: metadata.get("sha256", "") for _, metadata in self.metadata()}

    def catalogue(self) -> list[IndexedDocument]:
        """One entry per document, by name; made once, since a generation's rows never change (80
        ms at 40,000 passages)."""
        if self._catalogue is None:
            self._catalogue = catalogue(metadata for _, metadata in self.metadata())
        return list(self._catalogue)

    def nearest(
        self, vector: np.ndarray, k: int, passages: Filter = Filter()
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks that pass the filter, best
        first."""
        k = max(1, min(k, self.count()))
        if self._scan is not None:
            return self._scan.nearest(vector, k, passages)
        result = self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=k,
            where=chroma.where(passages),
            include=["distances"],
        )
        found = zip(result["ids"][0], result["distances"][0])
        return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in found]

    def query(
        self, vector: np.ndarray, k: int, passages: Filter = Filter()
    ) -> list[tuple[Chunk, float]]:
        """The k nearest chunks with their similarities, best first."""
        found = self.nearest(vector, k, passages)
        chunks = self.passages([chunk_id for chunk_id, _ in found])
        return [
            (chunks[chunk_id], similarity) for chunk_id, similarity in found if chunk_id in chunks
        ]

    def similarities(self, vector: np.ndarray, ids: Sequence[str]) -> list[float]:
        """The cosine similarity of each chunk named to the vector (0 for one the index does not
        hold)."""
        if self._scan is not None:
            return self._scan.similarities(vector, ids)
        got = self.collection.get(ids=list(ids), include=["embeddings"]) if ids else {"ids": []}
        vector = np.asarray(vector, dtype=np.float32)
        stored = {
            chunk_id: np.asarray(embedding, dtype=np.float32)
            for chunk_id, embedding in zip(got["ids"], got.get("embeddings", []))
        }
        return [
            float(stored[chunk_id] @ vector / max(np.linalg.norm(stored[chunk_id]), 1e-12))
            if chunk_id in stored
            else 0.0
            for chunk_id in ids
        ]

    def vector(self, chunk_id: str) -> np.ndarray | None:
        """The stored vector of one chunk, or None if the index does not hold it."""
        if self._scan is not None:
            return self._scan.vector(chunk_id)
        got = self.collection.get(ids=[chunk_id], include=["embeddings"])
        if not len(got["ids"]):
            return None
        return np.asarray(got["embeddings"][0], dtype=np.float32)


def fingerprint_rows(metadatas: Iterable[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(document, its hash, its passages), from every passage's metadata."""
    counted: Counter[tuple[str, str]] = Counter(
        (str(metadata.get("document", "")), str(metadata.get("sha256", "")))
        for metadata in metadatas
    )
    return [(document, sha, count) for (document, sha), count in sorted(counted.items())]


def catalogue(metadatas: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> list[IndexedDocument]:
    """One entry per document, by name: title, main agency (the one most of it is from), agencies,
    pages, chunks."""
    found: dict[str, dict[str, Any]] = {}
    for metadata in metadatas:
        entry = found.setdefault(
            metadata["document"],
            {
                "title": metadata.get("title", ""),
                "agencies": Counter(),
                "pages": 0,
                "chunks": 0,
                "date": metadata.get("date", ""),
                "collection": metadata.get("collection", ""),
            },
        )
        entry["chunks"] += 1
        entry["pages"] = max(
            entry["pages"], int(metadata.get("page_end") or metadata.get("page") or 0)
        )
        if metadata.get("agency"):
            entry["agencies"][metadata["agency"]] += 1
    return [
        IndexedDocument(
            document=name,
            title=found[name]["title"],
            agency=found[name]["agencies"].most_common(1)[0][0] if found[name]["agencies"] else "",
            agencies=tuple(sorted(found[name]["agencies"])),
            pages=found[name]["pages"],
            chunks=found[name]["chunks"],
            date=found[name]["date"],
            collection=found[name]["collection"],
        )
        for name in sorted(found)
    ]


class _Kept:
    """A published generation's rows and vectors as first read from its store, kept in its folder
    on this machine: a generation never changes once published, and reading 40,000 passages from
    Chroma takes about 6 s at every start (a `kb search`, a server, a server's move to a new
    generation), against 0.4 s from these files. They are checked against the generation's name and
    the store's count, and read again from the store if missing, damaged or not this generation's;
    a folder that cannot be written to keeps nothing (the store is read at each start, as before).
    """

    ROWS = "passages.json"
    VECTORS = "vectors.npz"

    def __init__(self, home: Path, generation: str) -> None:
        self.home = home
        self.generation = generation
        # How many rows were read from the file, None if they were read from the store: vectors
        # are kept in the order of the rows kept, and the store may give its rows in another.
        self.rows_kept: int | None = None

    def rows(self, collection: Any) -> dict[str, tuple[str, dict[str, Any]]] | None:
        """The rows kept, if they are this generation's and as many as the store holds."""
        try:
            kept = json.loads((self.home / self.ROWS).read_text(encoding="utf-8"))
            if kept["generation"] != self.generation or len(kept["ids"]) != collection.count():
                return None
            rows = {
                chunk_id: (text, metadata)
                for chunk_id, text, metadata in zip(
                    kept["ids"], kept["texts"], kept["metadatas"], strict=True
                )
            }
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.rows_kept = len(rows)
        return rows

    def keep_rows(self, rows: dict[str, tuple[str, dict[str, Any]]]) -> None:
        kept = {
            "generation": self.generation,
            "ids": list(rows),
            "texts": [text for text, _ in rows.values()],
            "metadatas": [metadata for _, metadata in rows.values()],
        }
        self._write(self.ROWS, lambda out: out.write(json.dumps(kept).encode("utf-8")))

    def vectors(self) -> np.ndarray | None:
        """The vectors kept, one a row in the order of the rows kept, if they are this
        generation's."""
        if self.rows_kept is None:
            return None
        try:
            with np.load(self.home / self.VECTORS, allow_pickle=False) as kept:
                if str(kept["generation"]) != self.generation:
                    return None
                matrix = kept["vectors"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        if matrix.ndim != 2 or matrix.shape[0] != self.rows_kept or matrix.dtype != np.float32:
            return None
        return matrix

    def keep_vectors(self, matrix: np.ndarray) -> None:
        """Keep the vectors, one a row in the order of the rows just kept."""
        self._write(
            self.VECTORS,
            lambda out: np.savez(out, generation=np.array(self.generation), vectors=matrix),
        )

    def _write(self, name: str, write: Callable[[BinaryIO], Any]) -> None:
        """Written whole or not at all: to a file of its own, then renamed into place."""
        if not self.home.is_dir():
            return
        partial = self.home / f".{name}.{os.getpid()}.{threading.get_ident()}"
        try:
            with partial.open("wb") as out:
                write(out)
            os.replace(partial, self.home / name)
        except OSError:
            partial.unlink(missing_ok=True)
