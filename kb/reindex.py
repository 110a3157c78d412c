"""Bring the index in step with the corpus: add new files, replace changed ones, drop deleted ones."""

from __future__ import annotations

import fcntl
import fnmatch
import os
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from kb.chunk import CHUNKER_VERSION, Chunk, chunk_document
from kb.embed import Embedder
from kb.errors import IndexLocked, IndexMissing, KbError, UnreadableDocument
from kb.ingest import SUFFIXES, Limits, file_sha256, read_document
from kb.keyword import sync as sync_keyword
from kb.settings import Settings
from kb.store import Manifest, Store
from kb.store import preload as preload_store
from kb.store import prune as prune_generations


@dataclass
class Summary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    rebuilt: bool = False
    keyword_rebuilt: bool = False

    def line(self) -> str:
        counts = ", ".join(
            f"{len(getattr(self, name))} {name}"
            for name in ("added", "updated", "removed", "unchanged", "failed")
        )
        passages = "passage" if self.chunks_embedded == 1 else "passages"
        return f"{counts}; {self.chunks_embedded} {passages} embedded"


def corpus_files(
    corpus_dir: Path, ignore: tuple[str, ...] = ()
) -> tuple[dict[str, Path], list[str]]:
    """({document name: path}, [folders that could not be listed]): the reports under corpus_dir,
    named by their path relative to it."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise KbError(f"corpus folder {corpus_dir} does not exist")
    found: dict[str, Path] = {}
    unlisted: list[str] = []

    def ignored(relative: Path) -> bool:
        return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in ignore)

    def cannot_list(error: OSError) -> None:
        unlisted.append(Path(error.filename).relative_to(corpus_dir).as_posix())

    for folder, subfolders, names in os.walk(corpus_dir, onerror=cannot_list):
        subfolders[:] = [
            name for name in subfolders if not ignored(Path(folder, name).relative_to(corpus_dir))
        ]
        for name in names:
            path = Path(folder, name)
            relative = path.relative_to(corpus_dir)
            if not ignored(relative) and path.suffix.lower() in SUFFIXES and path.is_file():
                found[relative.as_posix()] = path
    return dict(sorted(found.items())), sorted(unlisted)


def _within(name: str, folders: list[str]) -> bool:
    return any(folder == "." or name.startswith(f"{folder}/") for folder in folders)


def reindex(
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    count_tokens: Callable[[str], int],
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Summary:
    """Index what changed. The model is loaded only if something needs embedding."""
    with writer_lock(settings.index_dir):
        return _reindex(settings, embedder_factory, count_tokens, progress, on_start)


LOCK_FILE = "reindex.lock"


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time: hold an flock on index/reindex.lock, which says who holds it.

    The kernel drops the lock when its process dies, so a killed reindex never blocks the next.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    handle = open(
        index_dir / LOCK_FILE, "a+", encoding="utf-8"
    )  # "a+": never empties the holder's note
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process that has not yet written its name"
        handle.close()
        raise IndexLocked(
            f"another kb reindex is writing {index_dir} ({holder}); run it again when that one has finished"
        ) from None
    try:
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n")
        handle.flush()
        yield
    finally:
        handle.truncate(0)
        handle.close()


PARSERS = 2  # files parsed at once: one per core

EMBED_SLICE = (
    256  # passages per call to the model: large enough for full batches, small enough for progress
)


def _load(embedder_factory: Callable[[], Embedder]) -> Embedder:
    preload_store()
    return embedder_factory()


def _embed(
    chunks: list[Chunk],
    embedder: Embedder | None,
    batch_size: int,
    progress: Callable[[int], None] | None,
    on_start: Callable[[int], None] | None,
) -> np.ndarray:
    """Vectors for every changed passage, in their order. Passages of like length (in characters, as
    the model's encode orders them) are embedded together across documents, so batches carry little padding."""
    if on_start:
        on_start(len(chunks))
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    texts = [chunk.embedding_text() for chunk in chunks]
    order = sorted(range(len(texts)), key=lambda at: len(texts[at]))
    vectors: np.ndarray | None = None
    for start in range(0, len(order), EMBED_SLICE):
        positions = order[start : start + EMBED_SLICE]
        encoded = embedder.encode([texts[at] for at in positions], batch_size=batch_size)
        if vectors is None:
            vectors = np.zeros((len(texts), encoded.shape[1]), dtype=np.float32)
        vectors[positions] = encoded
        if progress:
            progress(len(positions))
    return vectors


def _reindex(
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    count_tokens: Callable[[str], int],
    progress: Callable[[int], None] | None,
    on_start: Callable[[int], None] | None,
) -> Summary:
    files, unlisted = corpus_files(settings.corpus_dir, settings.ignore)
    prune_generations(
        settings.index_dir, settings.chroma_url
    )  # what a killed reindex left, even if nothing changed
    try:
        served: Store | None = Store(settings.index_dir, settings.chroma_url)
    except IndexMissing:
        served = None
    summary = Summary()
    # An index built by this model and chunker keeps its passages; one built otherwise is rebuilt.
    manifest = served.manifest if served else None
    kept = manifest is not None and (manifest.model, manifest.chunker) == (
        settings.model,
        CHUNKER_VERSION,
    )
    indexed = served.documents() if kept else {}
    summary.rebuilt = served is not None and not kept
    # A report is removed when its file has gone, not when its folder could not be listed.
    summary.removed = sorted(
        name for name in set(indexed) - set(files) if not _within(name, unlisted)
    )
    kept_from_it = (
        "what was indexed from it stays"
        if kept
        else "its reports are left out of the rebuilt index"
    )
    summary.failed.extend(
        (f"{folder}/", f"cannot list this folder (permissions?); {kept_from_it}")
        for folder in unlisted
    )
    if not files and not unlisted and served is not None and served.count():
        raise KbError(
            f"the corpus folder {settings.corpus_dir} holds no reports, so the index is left as it is: is it the "
            "right folder, and mounted? To empty the index, run `make clean-index` (it keeps the trainers' packs)"
        )

    hashes: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for name, path in files.items():
        try:
            hashes[name], sizes[name] = file_sha256(path), path.stat().st_size
        except OSError as error:
            summary.failed.append((name, f"cannot read the file ({error.strerror})"))
    summary.unchanged = [name for name, sha in hashes.items() if indexed.get(name) == sha]
    to_read = [name for name in hashes if indexed.get(name) != hashes[name]]

    limits = Limits(settings.pdf_timeout, settings.pdf_memory_mb)
    with ThreadPoolExecutor(max_workers=1 + PARSERS, thread_name_prefix="kb-reindex") as background:
        # While the files are parsed, PARSERS at a time (a PDF in a child process of its own), the
        # model and the vector store load. Nothing to read: the model is never loaded.
        loading = background.submit(_load, embedder_factory) if to_read else None
        # Largest files first, so the last to finish is a small one; each is chunked as soon as it is read.
        largest_first = sorted(to_read, key=lambda name: -sizes[name])
        parsed = {
            background.submit(read_document, files[name], name, hashes[name], limits): name
            for name in largest_first
        }
        todo: list[tuple[str, list[Chunk]]] = []
        for done in as_completed(parsed):
            name = parsed[done]
            try:
                chunks = chunk_document(done.result(), count_tokens)
            except UnreadableDocument as error:
                summary.failed.append((name, str(error)))  # what was indexed of it before stays
                continue
            if not chunks:
                summary.failed.append((name, "no passages found in it"))
                continue
            todo.append((name, chunks))
        todo.sort(key=lambda item: item[0])
        summary.failed.sort()

        if served is not None and not (summary.rebuilt or summary.removed or todo):
            # Nothing to change: the served generation stays, with its keyword index brought up to date.
            keyword, summary.keyword_rebuilt = sync_keyword(served, served.home)
            keyword.close()
            return summary
        embedder = loading.result() if loading else None
        if not kept:
            if embedder is None:  # a rebuild with nothing readable still records how it was built
                embedder = embedder_factory()
            manifest = Manifest(settings.model, embedder.dimension, CHUNKER_VERSION)

    # The served generation is never written to: the changes go into a copy, published when complete.
    store = Store.begin(settings.index_dir, settings.chroma_url, manifest, served if kept else None)
    chunks_before = {row["document"]: row["chunks"] for row in served.catalogue()} if kept else {}
    changed = {name for name, _ in todo} | set(summary.removed)
    expected = sum(count for name, count in chunks_before.items() if name not in changed)
    for name in summary.removed:
        store.delete_document(name)
    vectors = _embed(
        [chunk for _, chunks in todo for chunk in chunks],
        embedder,
        settings.batch_size,
        progress,
        on_start,
    )
    offset = 0
    for name, chunks in todo:
        store.replace_document(name, chunks, vectors[offset : offset + len(chunks)])
        offset += len(chunks)
        expected += len(chunks)
        summary.chunks_embedded += len(chunks)
        (summary.updated if name in indexed else summary.added).append(name)
    # The keyword index and learned acronyms are derived from what the new generation holds.
    keyword, summary.keyword_rebuilt = sync_keyword(store, store.home)
    keyword.close()
    store.publish(expected)
    return summary
