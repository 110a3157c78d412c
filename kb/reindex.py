"""Bring the index in step with the corpus: add new files, replace changed ones, drop deleted ones."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kb.chunk import CHUNKER_VERSION, Chunk, chunk_document
from kb.embed import Embedder
from kb.errors import KbError, UnreadableDocument
from kb.ingest import SUFFIXES, file_sha256, read_document
from kb.keyword import sync as sync_keyword
from kb.settings import Settings
from kb.store import Manifest, Store


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
            f"{len(getattr(self, name))} {name}" for name in ("added", "updated", "removed", "unchanged", "failed")
        )
        return f"{counts}; {self.chunks_embedded} passages embedded"


def corpus_files(corpus_dir: Path, ignore: tuple[str, ...] = ()) -> dict[str, Path]:
    """{document name: path}: the reports under corpus_dir, named by their path relative to it."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise KbError(f"corpus folder {corpus_dir} does not exist")
    found = {}
    for path in sorted(corpus_dir.rglob("*")):
        relative = path.relative_to(corpus_dir)
        if any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in ignore):
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            found[relative.as_posix()] = path
    return found


def reindex(
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    count_tokens: Callable[[str], int],
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Summary:
    """Index what changed. The model is loaded only if something needs embedding."""
    files = corpus_files(settings.corpus_dir, settings.ignore)
    store = Store(settings.index_dir, settings.chroma_url, create=True)
    summary = Summary()
    embedder: Embedder | None = None

    def model() -> Embedder:
        nonlocal embedder
        if embedder is None:
            embedder = embedder_factory()
        return embedder

    # Only the model knows its vector size; an index it built already records it, so a no-op
    # reindex never loads the model.
    manifest = store.manifest
    if manifest is None or (manifest.model, manifest.chunker) != (settings.model, CHUNKER_VERSION):
        manifest = Manifest(settings.model, model().dimension, CHUNKER_VERSION)
    summary.rebuilt = store.open_for_writing(manifest)
    indexed = store.documents()

    for name in sorted(set(indexed) - set(files)):
        store.delete_document(name)
        summary.removed.append(name)

    todo: list[tuple[str, list[Chunk]]] = []
    for name, path in files.items():
        try:
            sha = file_sha256(path)
        except OSError as error:
            summary.failed.append((name, f"cannot read the file ({error.strerror})"))
            continue
        if indexed.get(name) == sha:
            summary.unchanged.append(name)
            continue
        try:
            document = read_document(path, name, sha)
            chunks = chunk_document(document, count_tokens)
        except UnreadableDocument as error:
            summary.failed.append((name, str(error)))  # what was indexed of it before stays
            continue
        if not chunks:
            summary.failed.append((name, "no passages found in it"))
            continue
        todo.append((name, chunks))

    if on_start:
        on_start(sum(len(chunks) for _, chunks in todo))
    for name, chunks in todo:
        vectors = model().encode([chunk.embedding_text() for chunk in chunks], batch_size=settings.batch_size)
        if progress:
            progress(len(chunks))
        store.replace_document(name, chunks, vectors)
        summary.chunks_embedded += len(chunks)
        (summary.updated if name in indexed else summary.added).append(name)
    # The keyword index and learned acronyms are derived from what the store now holds.
    keyword, summary.keyword_rebuilt = sync_keyword(store, settings.index_dir)
    keyword.close()
    return summary
