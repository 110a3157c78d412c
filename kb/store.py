"""The vector index: the only module that imports chromadb. Embedded by default, or a Chroma server."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import numpy as np

from kb.chunk import Chunk
from kb.errors import IndexMismatch, IndexMissing, KbError
from kb.settings import Settings

COLLECTION = "kb_chunks"
METADATA_FIELDS = (
    "document",
    "title",
    "agency",
    "section",
    "page",
    "page_end",
    "position",
    "sha256",
)
# A reindex writes a new generation and then points at it; searches read the generation pointed at.
GENERATIONS = (
    "generations"  # index/generations/<name>/: its Chroma store (embedded) and keyword index
)
POINTER = "CURRENT"  # index/CURRENT: the served generation's name, replaced in one rename
PREVIOUS = (
    "PREVIOUS"  # index/PREVIOUS: the generation served before it, kept for servers still on it
)
POINTER_COLLECTION = "kb_current"  # on a Chroma server, this collection's metadata is the pointer
COPY_PAGE = 1000  # rows copied from the served generation into a new one at a time
FILTERED_FIELDS = ("agency", "document")  # what searches filter on, in either way of searching


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
        return cls(
            str(metadata["kb_model"]), int(metadata["kb_dimension"]), str(metadata["kb_chunker"])
        )


def preload() -> None:
    """Import Chroma (most of a second), for a caller that has something else to do meanwhile."""
    import chromadb  # noqa: F401 - imported for its side: loaded once, later imports are free


def _chroma_settings(**more):
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False, **more)


def _server(chroma_url: str, create: bool = False):
    """A client of a Chroma server; the URL's path names a database on it (http://host:8000/lscp)."""
    import chromadb
    from chromadb.config import DEFAULT_DATABASE
    from chromadb.errors import NotFoundError

    url = urlparse(chroma_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise KbError(
            f"KB_CHROMA_URL must look like http://host:port or http://host:port/database, not {chroma_url!r}"
        )
    database = url.path.strip("/") or DEFAULT_DATABASE
    address = {
        "host": url.hostname,
        "port": url.port or (443 if url.scheme == "https" else 8000),
        "ssl": url.scheme == "https",
    }
    try:
        try:
            return chromadb.HttpClient(**address, database=database, settings=_chroma_settings())
        except NotFoundError:
            if not create:
                raise IndexMissing(
                    f"no index at {chroma_url} (no database {database!r}): run `kb reindex`"
                ) from None
            admin = chromadb.AdminClient(
                _chroma_settings(
                    chroma_api_impl="chromadb.api.fastapi.FastAPI",
                    chroma_server_host=address["host"],
                    chroma_server_http_port=address["port"],
                    chroma_server_ssl_enabled=address["ssl"],
                )
            )
            admin.create_database(database)
            return chromadb.HttpClient(**address, database=database, settings=_chroma_settings())
    except KbError:
        raise
    except Exception as error:
        raise KbError(f"cannot reach the Chroma server at {chroma_url}: {error}") from None


def _embedded(path: Path):
    import chromadb

    return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())


def _get_collection(client, name: str):
    from chromadb.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None)
    except (NotFoundError, ValueError):
        return None


def current_generation(index_dir: Path, chroma_url: str = "") -> str | None:
    """The name of the generation searches read, or None before the first reindex. Cheap: call it often."""
    return _pointer(index_dir, chroma_url, "generation", POINTER)


def previous_generation(index_dir: Path, chroma_url: str = "") -> str | None:
    """The generation served before the current one, kept until the next is published; None if none."""
    return _pointer(index_dir, chroma_url, "previous", PREVIOUS)


def _pointer(index_dir: Path, chroma_url: str, key: str, file_name: str) -> str | None:
    """A generation's name: on a Chroma server, from the pointer collection's metadata; else from a file."""
    if chroma_url:
        try:
            pointer = _get_collection(_pointer_reader(chroma_url), POINTER_COLLECTION)
        except IndexMissing:
            return None
        return ((pointer.metadata or {}).get(key) or None) if pointer is not None else None
    try:
        return (Path(index_dir) / file_name).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def prune(index_dir: Path, chroma_url: str = "", client=None) -> None:
    """Delete every generation but the served one and the one before it: a killed reindex's and
    older ones. The caller holds the writer lock, so no other generation is being written."""
    index_dir = Path(index_dir)
    keep = {
        current_generation(index_dir, chroma_url),
        previous_generation(index_dir, chroma_url),
    } - {None}
    folder = index_dir / GENERATIONS
    if folder.is_dir():
        for old in folder.iterdir():
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
    if chroma_url:
        try:
            client = client or _server(chroma_url)
        except IndexMissing:  # no database on the server yet: nothing to delete
            return
        for collection in client.list_collections():
            name = getattr(collection, "name", collection)
            if (
                name.startswith(f"{COLLECTION}_")
                and name.removeprefix(f"{COLLECTION}_") not in keep
            ):
                client.delete_collection(name)
    elif (index_dir / POINTER).is_file():
        # The layout before generations: one store at index/chroma. Its replacement is complete.
        shutil.rmtree(index_dir / "chroma", ignore_errors=True)
        (index_dir / "keyword.sqlite").unlink(missing_ok=True)


def forget_older(index_dir: Path, chroma_url: str, serving: str) -> None:
    """After a server moves onto a generation, delete this machine's folders of generations older
    than the one before it: with a Chroma server, each holds a keyword index that this machine built
    and no reindex here deletes. A newer folder may be a reindex's being written, and is left alone
    (names begin with their time of making)."""
    oldest_kept = min(serving, previous_generation(index_dir, chroma_url) or serving)
    folder = Path(index_dir) / GENERATIONS
    if folder.is_dir():
        for old in folder.iterdir():
            if old.name < oldest_kept:
                shutil.rmtree(old, ignore_errors=True)


@lru_cache(maxsize=8)
def _pointer_reader(chroma_url: str):
    """One client per server for reading the pointer: making a client costs 40 ms, a read with one 0.4 ms."""
    return _server(chroma_url)


def _new_generation_name() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class _Vectors(NamedTuple):
    ids: list[str]
    matrix: np.ndarray  # one unit vector a row, in the order of ids
    columns: dict[str, np.ndarray]  # FILTERED_FIELDS, in the order of ids
    position: dict[str, int]  # chunk id -> its row


class Store:
    """Chunks with their vectors and citations: one generation of the index, in one Chroma collection.

    Store(index_dir) reads the generation being served. A reindex never writes to it: it calls
    Store.begin() for a new generation holding a copy of the served one's passages, changes that,
    and publish() points searches at it in one step. A reindex killed half-way leaves an
    unpublished generation, which the next reindex deletes.
    """

    def __init__(
        self,
        index_dir: Path,
        chroma_url: str = "",
        generation: str | None = None,
        exact_up_to: int = Settings.exact_search_up_to,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.chroma_url = chroma_url
        self.location = chroma_url or str(self.index_dir)
        self.generation = generation or current_generation(self.index_dir, chroma_url)
        self.exact_up_to = exact_up_to
        self._writable, self._published_rows, self._published_vectors = False, None, None
        if self.generation is None:
            raise IndexMissing(f"no index at {self.location}: run `kb reindex` first")
        self._client, self._collection = self._open()
        if self._collection is None:
            raise IndexMissing(
                f"the index at {self.location} has lost generation {self.generation}: run `kb reindex`"
            )

    @property
    def home(self) -> Path:
        """This generation's folder on this machine: its keyword index, and its Chroma store if embedded."""
        return self.index_dir / GENERATIONS / self.generation

    @property
    def _collection_name(self) -> str:
        # Embedded, each generation has a store of its own; on a server, a collection of its own.
        return f"{COLLECTION}_{self.generation}" if self.chroma_url else COLLECTION

    def _open(self, manifest: Manifest | None = None):
        if self.chroma_url:
            client = _server(self.chroma_url, create=manifest is not None)
        elif manifest is None and not (self.home / "chroma").is_dir():
            return None, None
        else:
            client = _embedded(self.home / "chroma")
        if manifest is None:
            return client, _get_collection(client, self._collection_name)
        collection = client.create_collection(
            self._collection_name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=manifest.as_metadata(),
            embedding_function=None,
        )
        return client, collection

    @classmethod
    def begin(
        cls, index_dir: Path, chroma_url: str, manifest: Manifest, copy_of: Store | None = None
    ) -> Store:
        """A new, unpublished generation to write: empty, or holding copy_of's passages and vectors.

        Copying the served generation lets a reindex embed only what changed. The caller holds the
        writer lock, and has deleted what a killed reindex left (kb.reindex prunes as it starts).
        """
        store = cls.__new__(cls)
        store.index_dir, store.chroma_url = Path(index_dir), chroma_url
        store.location = chroma_url or str(store.index_dir)
        store.generation = _new_generation_name()
        store.exact_up_to = 0
        store._writable, store._published_rows, store._published_vectors = True, None, None
        store.home.mkdir(parents=True, exist_ok=True)
        store._client, store._collection = store._open(manifest)
        if copy_of is not None:
            saved = (
                copy_of._published()
            )  # its text and citations, read once already; only the vectors are fetched
            for got in copy_of._rows(["embeddings"], page=COPY_PAGE):
                if len(got["ids"]):
                    store._collection.add(
                        ids=got["ids"],
                        embeddings=got["embeddings"],
                        documents=[saved[chunk_id][0] for chunk_id in got["ids"]],
                        metadatas=[saved[chunk_id][1] for chunk_id in got["ids"]],
                    )
        return store

    def publish(self, expected_chunks: int) -> None:
        """Check this generation, then point searches at it; the one it replaces is kept for readers still on it."""
        found = self.count()
        if found != expected_chunks:
            raise KbError(
                f"the new index holds {found} passages where {expected_chunks} were written; "
                "the index being served is unchanged"
            )
        if found:
            probe = self.collection.get(limit=1, include=["embeddings"])
            if not self.collection.query(query_embeddings=[probe["embeddings"][0]], n_results=1)[
                "ids"
            ][0]:
                raise KbError(
                    "the new index does not answer a query; the index being served is unchanged"
                )
        previous = current_generation(self.index_dir, self.chroma_url)
        if self.chroma_url:
            pointer = self._client.get_or_create_collection(
                POINTER_COLLECTION, embedding_function=None
            )
            pointer.modify(metadata={"generation": self.generation, "previous": previous or ""})
        else:
            if previous:
                _replace_file(self.index_dir / PREVIOUS, previous + "\n")
            _replace_file(self.index_dir / POINTER, self.generation + "\n")
        prune(self.index_dir, self.chroma_url, client=self._client if self.chroma_url else None)

    @property
    def manifest(self) -> Manifest | None:
        if self._collection is None:
            return None
        return Manifest.from_metadata(self._collection.metadata)

    def check(self, expected: Manifest) -> None:
        """Refuse an index built with another model or chunker."""
        found = self.manifest
        if found != expected:
            built = (
                f"{found.model}, {found.dimension} dimensions, chunker {found.chunker}"
                if found
                else "an unknown build"
            )
            raise IndexMismatch(
                f"the index at {self.location} was built with {built}; this kb uses {expected.model}, "
                f"{expected.dimension} dimensions, chunker {expected.chunker}: run `kb reindex`"
            )

    @property
    def collection(self):
        if self._collection is None:
            raise IndexMissing(f"no index at {self.location}: run `kb reindex` first")
        return self._collection

    def close(self) -> None:
        """Release the Chroma client (an embedded store's files, a server's connections)."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def count(self) -> int:
        if not self._writable:
            return len(self._published())
        return self.collection.count()

    def _rows(self, include: list[str], where: dict | None = None, page: int = 5000):
        """Every stored row (or those matching where), a page at a time: (ids, documents, metadatas) per page."""
        offset = 0
        while True:
            got = self.collection.get(where=where, include=include, limit=page, offset=offset)
            yield got
            if len(got["ids"]) < page:
                return
            offset += page

    def metadata(self) -> list[tuple[str, dict]]:
        """(chunk id, citation metadata) for every chunk."""
        if not self._writable:
            return [(chunk_id, metadata) for chunk_id, (_, metadata) in self._published().items()]
        return [
            (chunk_id, metadata)
            for got in self._rows(["metadatas"])
            for chunk_id, metadata in zip(got["ids"], got["metadatas"] or [])
        ]

    def _published(self) -> dict[str, tuple[str, dict]]:
        """{chunk id: (text, metadata)}: a published generation never changes, so it is read once and
        then served from memory (about 1.3 ms less per search; some 40 MB at 20,000 passages)."""
        if self._published_rows is None:
            self._published_rows = {
                chunk_id: (text, metadata)
                for got in self._rows(["documents", "metadatas"], page=1000)
                for chunk_id, text, metadata in zip(
                    got["ids"], got["documents"], got["metadatas"] or []
                )
            }
        return self._published_rows

    @property
    def _scanned(self) -> bool:
        """Searched in memory: a published generation of no more than exact_up_to passages."""
        return not self._writable and self.count() <= self.exact_up_to

    def _scan(self, vector: np.ndarray, k: int, where: dict | None) -> list[tuple[str, float]]:
        ids, matrix, columns, _ = self._vectors()
        if not ids:
            return []
        vector = np.asarray(vector, dtype=np.float32)
        if len(ids) >= SPLIT_SCAN_AT:  # half on another core: 0.9 ms -> 0.6 ms at 20,000 passages
            half = len(ids) // 2
            other_half = _scan_helper().submit(np.matmul, matrix[half:], vector)
            similarity = np.concatenate([matrix[:half] @ vector, other_half.result()])
        else:
            similarity = matrix @ vector
        if where is not None:
            similarity[~_mask(columns, where)] = -np.inf
        k = min(k, len(ids))
        best = np.argpartition(-similarity, k - 1)[:k]
        best = best[np.argsort(-similarity[best], kind="stable")]
        return [(ids[at], float(similarity[at])) for at in best if similarity[at] > -np.inf]

    def _vectors(self) -> _Vectors:
        """The published generation's ids, unit vectors (1.5 KB a passage) and the fields filters
        name, in the same order; read once."""
        if self._published_vectors is None:
            _one_blas_thread()
            rows = self._published()
            ids: list[str] = []
            pages: list[np.ndarray] = []
            for got in self._rows(["embeddings"], page=COPY_PAGE):
                ids.extend(got["ids"])
                if len(got["ids"]):
                    pages.append(np.asarray(got["embeddings"], dtype=np.float32))
            matrix = np.vstack(pages) if pages else np.zeros((0, 0), dtype=np.float32)
            matrix /= np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)
            columns = {
                name: np.array([rows[chunk_id][1].get(name, "") for chunk_id in ids], dtype=object)
                for name in FILTERED_FIELDS
            }
            self._published_vectors = _Vectors(
                ids, matrix, columns, {chunk_id: at for at, chunk_id in enumerate(ids)}
            )
        return self._published_vectors

    def _all_metadata(self) -> list[dict]:
        return [metadata for _, metadata in self.metadata()]

    def fingerprint_rows(self) -> list[tuple[str, str]]:
        """(chunk id, document hash) for every chunk: what derived indexes are checked against."""
        return [(chunk_id, metadata.get("sha256", "")) for chunk_id, metadata in self.metadata()]

    def documents(self) -> dict[str, str]:
        """{document name: content hash} for every document in the index."""
        return {m["document"]: m.get("sha256", "") for m in self._all_metadata()}

    def catalogue(self) -> list[dict]:
        """One row per document, by name: title, agency (the one most of it is from), agencies, pages, chunks."""
        rows: dict[str, dict] = {}
        for m in self._all_metadata():
            row = rows.setdefault(
                m["document"],
                {
                    "document": m["document"],
                    "title": m.get("title", ""),
                    "agencies": Counter(),
                    "pages": 0,
                    "chunks": 0,
                },
            )
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

    def query(
        self, vector: np.ndarray, k: int, where: dict | None = None
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine similarity, best first, with their text and citations."""
        found = self.nearest(vector, k, where)
        chunks = self.get([chunk_id for chunk_id, _ in found])
        return [
            (chunks[chunk_id], similarity) for chunk_id, similarity in found if chunk_id in chunks
        ]

    def nearest(
        self, vector: np.ndarray, k: int, where: dict | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks, best first.

        A published generation no larger than exact_up_to is scanned in memory: exact, and faster
        than a query through Chroma at that size (at 20,000 passages 0.6 ms against 1.1 ms; at
        100,000 the scan takes 3.3 ms). Otherwise Chroma's graph index answers, fetching ids alone.
        """
        k = max(1, min(k, self.count()))
        if self._scanned:
            return self._scan(vector, k, where)
        result = self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=k,
            where=where,
            include=["distances"],
        )
        return [
            (chunk_id, 1.0 - float(distance))
            for chunk_id, distance in zip(result["ids"][0], result["distances"][0])
        ]

    def similarities(self, vector: np.ndarray, ids: Sequence[str]) -> list[float]:
        """The cosine similarity of each chunk named to the vector (0 for one the index does not hold)."""
        vector = np.asarray(vector, dtype=np.float32)
        if self._scanned:
            _, matrix, _, position = self._vectors()
            rows = [position.get(chunk_id, -1) for chunk_id in ids]
            found = matrix[[row for row in rows if row >= 0]] @ vector
            known = iter(found.tolist())
            return [next(known) if row >= 0 else 0.0 for row in rows]
        got = (
            self.collection.get(ids=list(ids), include=["embeddings"])
            if ids
            else {"ids": [], "embeddings": []}
        )
        stored = {
            chunk_id: np.asarray(embedding, dtype=np.float32)
            for chunk_id, embedding in zip(got["ids"], got["embeddings"])
        }
        return [
            float(stored[chunk_id] @ vector / max(np.linalg.norm(stored[chunk_id]), 1e-12))
            if chunk_id in stored
            else 0.0
            for chunk_id in ids
        ]

    def get(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """{id: chunk} for the ids that exist."""
        if not ids:
            return {}
        if not self._writable:
            rows = self._published()
            return {
                chunk_id: _chunk(chunk_id, *rows[chunk_id]) for chunk_id in ids if chunk_id in rows
            }
        got = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        return {row[0]: _chunk(*row) for row in zip(got["ids"], got["documents"], got["metadatas"])}

    def chunks(self, document: str | None = None) -> Iterable[Chunk]:
        """Every stored chunk, or one document's (the keyword index is derived from these)."""
        if not self._writable:
            for chunk_id, (text, metadata) in self._published().items():
                if document is None or metadata.get("document") == document:
                    yield _chunk(chunk_id, text, metadata)
            return
        for got in self._rows(
            ["documents", "metadatas"], {"document": document} if document else None
        ):
            yield from (_chunk(*row) for row in zip(got["ids"], got["documents"], got["metadatas"]))

    def vector(self, chunk_id: str) -> np.ndarray | None:
        """The stored vector of one chunk, or None if the index does not hold it ("more like this" starts here)."""
        if self._scanned:
            _, matrix, _, position = self._vectors()
            return matrix[position[chunk_id]].copy() if chunk_id in position else None
        got = self.collection.get(ids=[chunk_id], include=["embeddings"])
        if not len(got["ids"]):
            return None
        return np.asarray(got["embeddings"][0], dtype=np.float32)


def _replace_file(path: Path, text: str) -> None:
    """Write a file so that a reader, or a crash, sees the old content or the new, never a part."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


SPLIT_SCAN_AT = 8192  # passages from which the scan is shared between two threads


@lru_cache(maxsize=1)
def _scan_helper() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-scan")


def _one_blas_thread() -> None:
    """The scan is one matrix-vector product, bound by memory, not arithmetic. OpenBLAS would run it on
    every core and leave its threads spinning afterwards, taking the cores the model and SQLite need
    next: one thread took a query's p50 from 4.8 to 4.1 ms at 548 passages, 8.8 to 6.2 ms at 20,000."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _mask(columns: dict[str, np.ndarray], where: dict) -> np.ndarray:
    """Which rows pass a Chroma where filter of the kinds kb writes (equality, $in, $ne, $and), over columns of metadata."""
    ((name, condition),) = where.items()
    if name == "$and":
        return np.logical_and.reduce([_mask(columns, part) for part in condition])
    if name not in columns:
        raise ValueError(f"kb does not filter on {name!r}")
    if isinstance(condition, dict):
        ((operator, operand),) = condition.items()
        if operator == "$in":
            return np.isin(columns[name], list(operand))
        if operator == "$ne":
            return columns[name] != operand
        raise ValueError(f"kb does not filter with {operator!r}")
    return columns[name] == condition


def _metadata(chunk: Chunk) -> dict:
    return {name: getattr(chunk, name) for name in METADATA_FIELDS}


def _chunk(chunk_id: str, text: str, metadata: dict) -> Chunk:
    fields = {name: metadata.get(name, "") for name in METADATA_FIELDS}
    for name in ("page", "page_end", "position"):
        fields[name] = int(fields[name] or 0)
    return Chunk(id=chunk_id, text=text or "", **fields)
