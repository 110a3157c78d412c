"""Bring the index in step with the corpus: add new files, replace changed ones, drop deleted ones.

A reindex is three steps: a plan (which files are new, changed, gone or unreadable, read from the
corpus folder and the served generation alone), then parsing what changed, then writing a new
generation with only those files embedded, and publishing it.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.chunk import CHUNKER_VERSION, agency_doubt, chunk_document
from kb.embed import Embedder
from kb.errors import IndexMissing, KbError, UnreadableDocument
from kb.ingest import SUFFIXES, Limits, file_sha256, read_document
from kb.keyword import sync as sync_keyword
from kb.organisations import Organisations
from kb.passage import Chunk
from kb.settings import Settings
from kb.store import Manifest, Published, Writer, prune, writer_lock
from kb.store.chroma import preload as preload_store

PARSERS = 2  # files parsed at once: one per core
EMBED_SLICE = (
    256  # passages per call to the model: large enough for full batches, small enough for progress
)

Progress = Callable[[int], None]


@dataclass
class Summary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    # (document, the one agency all its passages went to, headings that look like organisations')
    doubts: list[tuple[str, str, list[str]]] = field(default_factory=list)
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
    progress: Progress | None = None,
    on_start: Progress | None = None,
) -> Summary:
    """Index what changed. The model is loaded only if something needs embedding."""
    with writer_lock(settings.index_dir):
        prune(
            settings.index_dir, settings.chroma_url
        )  # what a killed reindex left, even if nothing changes
        try:
            served: Published | None = Published.open(settings.index_dir, settings.chroma_url)
        except IndexMissing:
            served = None
        try:
            work = plan(settings, served)
            parsed = parse(settings, work, embedder_factory, count_tokens)
            if served is not None and not (
                work.summary.rebuilt or work.summary.removed or parsed.todo
            ):
                # Nothing to change: the served generation stays, its keyword index brought up to
                # date.
                keyword, work.summary.keyword_rebuilt = sync_keyword(served, served.home)
                keyword.close()
                return work.summary
            write(settings, work, parsed, embedder_factory, progress, on_start)
            return work.summary
        finally:
            if served is not None:
                served.close()


@dataclass
class Plan:
    """What a reindex has to do, known before any file is parsed."""

    files: dict[str, Path]  # every report in the corpus, by name
    hashes: dict[str, str]  # each readable report's content hash
    to_read: list[str]  # new and changed reports, largest first
    served: Published | None
    kept: bool  # the served generation's passages are kept (same model and chunker)
    manifest: Manifest | None  # the served generation's, when kept
    indexed: dict[str, str]  # {document: hash} of what is kept
    summary: Summary


def plan(settings: Settings, served: Published | None) -> Plan:
    """Which reports are new, changed, unchanged, gone, or cannot be listed or read."""
    files, unlisted = corpus_files(settings.corpus_dir, settings.ignore)
    summary = Summary()
    # An index built by this model and chunker keeps its passages; one built otherwise is rebuilt.
    manifest = served.manifest if served else None
    kept = manifest is not None and (manifest.model, manifest.chunker) == (
        settings.model,
        CHUNKER_VERSION,
    )
    indexed = served.document_hashes() if served is not None and kept else {}
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
            f"the corpus folder {settings.corpus_dir} holds no reports, so the index is left as it "
            "is: is it the right folder, and mounted? To empty the index, run `make clean-index` "
            "(it keeps the trainers' packs)"
        )
    hashes: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for name, path in files.items():
        try:
            hashes[name], sizes[name] = file_sha256(path), path.stat().st_size
        except OSError as error:
            summary.failed.append((name, f"cannot read the file ({error.strerror})"))
    summary.unchanged = [name for name, sha in hashes.items() if indexed.get(name) == sha]
    # Largest first, so that the last file to finish parsing is a small one.
    to_read = sorted(
        (name for name in hashes if indexed.get(name) != hashes[name]),
        key=lambda name: -sizes[name],
    )
    return Plan(files, hashes, to_read, served, kept, manifest if kept else None, indexed, summary)


@dataclass
class Parsed:
    todo: list[tuple[str, list[Chunk]]]  # (document, its chunks), by name
    loading: Future[Embedder] | None  # the model, loading while the files were parsed


def parse(
    settings: Settings,
    work: Plan,
    embedder_factory: Callable[[], Embedder],
    count_tokens: Callable[[str], int],
) -> Parsed:
    """Read and chunk the new and changed reports, PARSERS at a time (a PDF in a child process of
    its own), while the model and the vector store load. Nothing to read: the model is never
    loaded."""
    limits = Limits(settings.pdf_timeout, settings.pdf_memory_mb)
    # The organisations the index already names: a new report's variant of one is cited by it.
    served = work.served if work.kept else None
    known = [name for entry in served.catalogue() for name in entry.agencies] if served else []
    organisations = Organisations.default(known=known)
    todo: list[tuple[str, list[Chunk]]] = []
    with ThreadPoolExecutor(max_workers=1 + PARSERS, thread_name_prefix="kb-reindex") as background:
        loading = background.submit(_load, embedder_factory) if work.to_read else None
        reading = {
            background.submit(
                read_document, work.files[name], name, work.hashes[name], limits
            ): name
            for name in work.to_read
        }
        for done in as_completed(reading):  # each file is chunked as soon as it is read
            name = reading[done]
            try:
                document = done.result()
                chunks = chunk_document(document, count_tokens, organisations=organisations)
            except UnreadableDocument as error:
                work.summary.failed.append(
                    (name, str(error))
                )  # what was indexed of it before stays
                continue
            if not chunks:
                work.summary.failed.append((name, "no passages found in it"))
                continue
            todo.append((name, chunks))
            looks_like = agency_doubt(document, chunks, organisations)
            if looks_like:
                work.summary.doubts.append((name, chunks[0].agency, looks_like))
    todo.sort(key=lambda item: item[0])
    work.summary.failed.sort()
    work.summary.doubts.sort()
    return Parsed(todo, loading)


def write(
    settings: Settings,
    work: Plan,
    parsed: Parsed,
    embedder_factory: Callable[[], Embedder],
    progress: Progress | None,
    on_start: Progress | None,
) -> None:
    """A new generation: the served one's passages (if kept) with the changes made, published."""
    summary = work.summary
    embedder = parsed.loading.result() if parsed.loading else None
    manifest = work.manifest
    if manifest is None:
        if embedder is None:  # a rebuild with nothing readable still records how it was built
            embedder = embedder_factory()
        manifest = Manifest(settings.model, embedder.dimension, CHUNKER_VERSION)
    # The served generation is never written to: the changes go into a copy, published when
    # complete.
    copy_of = work.served if work.kept else None
    writer = Writer.begin(settings.index_dir, settings.chroma_url, manifest, copy_of)
    try:
        before = {entry.document: entry.chunks for entry in copy_of.catalogue()} if copy_of else {}
        changed = {name for name, _ in parsed.todo} | set(summary.removed)
        expected = sum(count for name, count in before.items() if name not in changed)
        for name in summary.removed:
            writer.delete_document(name)
        vectors = _embed(
            [chunk for _, chunks in parsed.todo for chunk in chunks],
            embedder,
            settings.batch_size,
            progress,
            on_start,
        )
        offset = 0
        for name, chunks in parsed.todo:
            writer.replace_document(name, chunks, vectors[offset : offset + len(chunks)])
            offset += len(chunks)
            expected += len(chunks)
            summary.chunks_embedded += len(chunks)
            (summary.updated if name in work.indexed else summary.added).append(name)
        # The keyword index and learned acronyms are derived from what the new generation holds.
        keyword, summary.keyword_rebuilt = sync_keyword(writer, writer.home)
        keyword.close()
        writer.publish(expected)
    finally:
        writer.close()


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
    the model's encode orders them) are embedded together across documents, so batches carry little
    padding."""
    if on_start:
        on_start(len(chunks))
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    assert embedder is not None  # the model is loaded whenever there is something to read
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
    assert vectors is not None  # there was at least one slice
    return vectors
