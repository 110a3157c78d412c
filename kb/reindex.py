"""Bring the index in step with the corpus: add new files, replace changed ones, drop deleted ones.

A reindex makes a plan (which files are new, changed, gone, duplicated or unreadable, read from the
corpus folder and the served generation's catalogue alone), then parses what changed while the
model loads and the served generation is copied, embedding each batch of passages as soon as its
files are parsed, and publishes the new generation.
"""

from __future__ import annotations

import fnmatch
import os
import queue
import stat
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb import corrections, grades, standard
from kb.chunk import CHUNKER_VERSION, agency_doubt, chunk_document
from kb.embed import Embedder
from kb.errors import IndexDamaged, IndexMissing, KbError, UnreadableDocument, store_failure
from kb.ingest import SUFFIXES, Limits, file_sha256, read_document
from kb.keyword import FILENAME as KEYWORD_FILE
from kb.keyword import KeywordIndex
from kb.keyword import build as build_keyword
from kb.keyword import fingerprint as keyword_fingerprint
from kb.keyword import sync as sync_keyword
from kb.organisations import Organisations
from kb.passage import Chunk
from kb.settings import Settings
from kb.store import Manifest, Published, Writer, prune, writer_lock
from kb.store.chroma import preload as preload_store
from kb.store.generations import current, home, read_catalogue, write_catalogue

PARSERS = 2  # files parsed at once: one per core
EMBED_SLICE = 256  # passages per call to the model: full batches, and progress between calls
EMBED_BATCH = 512  # parsed passages gathered before they are embedded, sorted by length together
# Reasons a file failed that depend on a limit the administrator may raise: tried again each time.
RETRIED = ("KB_PDF_TIMEOUT", "KB_PDF_MEMORY_MB", "KB_TEXT_MAX_MB", "cannot read the file")


class Progress:
    """What a reindex reports as it goes: the CLI draws it (bars on a terminal, lines elsewhere).
    Stages are "parsing" (files) and "embedding" (passages, whose total grows as files are
    parsed). This one reports nothing."""

    def start(self, stage: str, total: int, size: int = 0) -> None:
        """A stage begins with this much to do (and, for parsing, this many bytes to read)."""

    def grow(self, stage: str, more: int) -> None:
        """More to do in a stage than it began with."""

    def advance(self, stage: str, done: int = 1, size: int = 0) -> None:
        """Some of a stage is done (and, for parsing, this many bytes read)."""


@dataclass
class Summary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    # (a file or folder in the corpus that is not read, why): links, devices, names with controls
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # (a file, the file of the same content that is indexed in its place)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    # (document, the one agency all its passages went to, headings that look like organisations')
    doubts: list[tuple[str, str, list[str]]] = field(default_factory=list)
    unnamed: list[str] = field(default_factory=list)  # documents no organisation is known for
    uncorrected: list[str] = field(default_factory=list)  # documents.csv rows naming no file
    chunks_embedded: int = 0
    rebuilt: bool = False
    recovered: str = ""  # why the served generation could not be read, when it was rebuilt
    keyword_rebuilt: bool = False

    def line(self) -> str:
        counts = ", ".join(
            f"{len(getattr(self, name))} {name}"
            for name in ("added", "updated", "removed", "unchanged", "failed")
        )
        passages = "passage" if self.chunks_embedded == 1 else "passages"
        same = f"; {len(self.duplicates)} duplicate" if self.duplicates else ""
        same += "s" if len(self.duplicates) > 1 else ""
        return f"{counts}{same}; {self.chunks_embedded} {passages} embedded"

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt)


@dataclass
class Listing:
    """What the corpus folder holds: the reports, by name; folders that could not be listed; and
    entries skipped, each with its reason."""

    files: dict[str, Path]
    unlisted: list[str]
    skipped: list[tuple[str, str]]


LINK = (
    "a symbolic link, which kb does not follow: it indexes only regular files inside the corpus "
    "folder (copy or move the report itself there)"
)
NOT_REGULAR = "not a regular file (a device, pipe or socket)"
CONTROL_NAME = (
    "its name holds a control character (a line break or tab), which would garble citations and "
    "logs: rename it"
)


def corpus_files(corpus_dir: Path, ignore: tuple[str, ...] = ()) -> Listing:
    """The reports under corpus_dir, named by their path relative to it.

    Only regular files inside the folder are reports. A symbolic link (to a file or a folder, inside
    the folder or out of it) is never followed, so nothing outside the corpus can be indexed or
    served through one; links, and files whose names hold control characters, are named as skipped.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise KbError(f"corpus folder {corpus_dir} does not exist")
    found: dict[str, Path] = {}
    unlisted: list[str] = []
    skipped: list[tuple[str, str]] = []

    def ignored(relative: Path) -> bool:
        return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in ignore)

    def cannot_list(error: OSError) -> None:
        unlisted.append(Path(error.filename).relative_to(corpus_dir).as_posix())

    for folder, subfolders, names in os.walk(corpus_dir, onerror=cannot_list):
        kept = []
        for name in subfolders:
            relative = Path(folder, name).relative_to(corpus_dir)
            if ignored(relative):
                continue
            if Path(folder, name).is_symlink():
                skipped.append((relative.as_posix() + "/", LINK))
            elif _has_control(relative.as_posix()):
                skipped.append((relative.as_posix() + "/", CONTROL_NAME))
            else:
                kept.append(name)
        subfolders[:] = kept
        for name in names:
            path = Path(folder, name)
            relative = path.relative_to(corpus_dir)
            if ignored(relative) or path.suffix.lower() not in SUFFIXES:
                continue
            reason = _not_a_report(path, relative.as_posix())
            if reason:
                skipped.append((relative.as_posix(), reason))
            else:
                found[relative.as_posix()] = path
    return Listing(dict(sorted(found.items())), sorted(unlisted), sorted(skipped))


def _not_a_report(path: Path, name: str) -> str:
    """Why a file in the corpus is not read as a report, or "" if it is one."""
    try:
        mode = path.lstat().st_mode
    except OSError as error:
        return f"cannot read the file ({error.strerror})"
    if stat.S_ISLNK(mode):
        return LINK
    if not stat.S_ISREG(mode):
        return NOT_REGULAR
    if _has_control(name):
        return CONTROL_NAME
    return ""


def _has_control(text: str) -> bool:
    return any(unicodedata.category(character) == "Cc" for character in text)


def _within(name: str, folders: list[str]) -> bool:
    return any(folder == "." or name.startswith(f"{folder}/") for folder in folders)


@dataclass
class Served:
    """What the served generation holds, by document: from the catalogue its reindex wrote beside
    it, or, where there is none, read from the store."""

    generation: str
    manifest: Manifest | None
    # name -> {"sha256", "chunks", "agencies",
    #          "keys": [[chunk id, standard.key, standard, standard.fingerprint], …]}
    documents: dict[str, dict[str, Any]]
    failed: dict[str, list[str]] = field(default_factory=dict)  # name -> [sha256, reason]
    written: bool = True  # its catalogue is on disk

    def catalogue(self) -> dict[str, Any]:
        return {
            "manifest": asdict(self.manifest) if self.manifest else None,
            "documents": self.documents,
            "failed": self.failed,
            "fingerprints": standard.FINGERPRINT,
        }

    def fingerprint_rows(self) -> list[tuple[str, str, int]]:
        return _fingerprint_rows(self.documents)


def _fingerprint_rows(documents: dict[str, dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(document, its hash, its passages): what a keyword index is fingerprinted by."""
    return [(name, entry["sha256"], entry["chunks"]) for name, entry in documents.items()]


def _key_row(chunk: Chunk, standing: int) -> list[Any]:
    """A passage's row in the catalogue's "keys": what tells standard text (kb/standard.py). An
    inspection's grades, as kb wrote them out (kb/grades.py), are its own finding however many
    reports share their row labels: no key, so never standard."""
    if chunk.section == grades.SECTION:
        return [chunk.id, "", 0, ""]
    return [chunk.id, standard.key(chunk.text), standing, standard.fingerprint(chunk.text)]


def served(settings: Settings) -> Served | None:
    """The served generation's catalogue; None before the first reindex or if it is lost."""
    generation = current(settings.index_dir, settings.chroma_url)
    if generation is None:
        return None
    found = read_catalogue(settings.index_dir, generation)
    # A catalogue whose passages' fingerprints were taken otherwise (or not at all) is read again
    # from the store.
    if found and found.get("manifest") and found.get("fingerprints") == standard.FINGERPRINT:
        return Served(
            generation, Manifest(**found["manifest"]), found["documents"], found.get("failed", {})
        )
    try:
        store = Published.open(settings.index_dir, settings.chroma_url, generation, exact_up_to=0)
    except IndexMissing:
        return None
    try:
        documents: dict[str, dict[str, Any]] = {}
        for chunk in store.chunks():
            entry = documents.setdefault(
                chunk.document, {"sha256": chunk.sha256, "chunks": 0, "agencies": [], "keys": []}
            )
            entry["chunks"] += 1
            if chunk.agency and chunk.agency not in entry["agencies"]:
                entry["agencies"].append(chunk.agency)
            entry["keys"].append(_key_row(chunk, chunk.standard))
        return Served(generation, store.manifest, documents, written=False)
    finally:
        store.close()


class _ServedPassages:
    """The served generation as the keyword index reads it: fingerprinted from its catalogue, its
    passages read from the store only if the keyword index must be built again."""

    def __init__(self, settings: Settings, was: Served) -> None:
        self.settings, self.was = settings, was

    def fingerprint_rows(self) -> list[tuple[str, str, int]]:
        return self.was.fingerprint_rows()

    def chunks(self):
        store = Published.open(
            self.settings.index_dir, self.settings.chroma_url, self.was.generation, exact_up_to=0
        )
        try:
            yield from store.chunks()
        finally:
            store.close()


def reindex(
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    count_tokens: Callable[[str], int],
    progress: Progress | None = None,
    rebuild: bool = False,
) -> Summary:
    """Index what changed. The model is loaded only if something needs embedding.

    rebuild: build a new generation from the corpus alone, reading nothing of the served one. A
    served generation found damaged is rebuilt so too. A failure of the storage (a full disk, a
    damaged file, a lost Chroma server) is raised as one KbError saying what to do, and leaves no
    part of a new generation behind."""
    where = settings.chroma_url or str(settings.index_dir)
    with writer_lock(settings.index_dir):
        prune(settings.index_dir, settings.chroma_url)  # a killed reindex's leftovers, always
        try:
            try:
                return _bring_in_step(settings, embedder_factory, count_tokens, progress, rebuild)
            except Exception as error:
                failure = store_failure(error, where)
                if failure is None or failure is error:
                    raise
                raise failure from error
        except IndexDamaged as damage:
            if rebuild:
                raise
            found = str(damage)
        # The served generation cannot be read: a new one is built from the corpus alone.
        summary = _bring_in_step(settings, embedder_factory, count_tokens, progress, rebuild=True)
        summary.recovered = found
        return summary


def _bring_in_step(
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    count_tokens: Callable[[str], int],
    progress: Progress | None,
    rebuild: bool,
) -> Summary:
    was = None if rebuild else served(settings)
    work = plan(settings, was)
    work.summary.rebuilt = work.summary.rebuilt or (rebuild and bool(work.files))
    if was is not None and not (work.summary.rebuilt or work.summary.removed or work.to_read):
        _keep(settings, was, work)
    else:
        build(settings, work, embedder_factory, count_tokens, progress or Progress())
    # Documents whose passages no organisation is known for, so an administrator can name one.
    work.summary.unnamed = sorted(
        name for name, entry in work.documents.items() if not entry.get("agencies")
    )
    return work.summary


def _keep(settings: Settings, was: Served, work: Plan) -> None:
    """Nothing to change: the served generation stays, its keyword index and its catalogue (which
    remembers files that cannot be read) brought up to date."""
    keyword, work.summary.keyword_rebuilt = sync_keyword(
        _ServedPassages(settings, was), home(settings.index_dir, was.generation)
    )
    keyword.close()
    if not was.written or was.failed != work.failed:
        was.failed = work.failed
        write_catalogue(home(settings.index_dir, was.generation), was.catalogue())


@dataclass
class Plan:
    """What a reindex has to do, known before any file is parsed."""

    files: dict[str, Path]  # every report in the corpus, by name (duplicates left out)
    hashes: dict[str, str]  # each readable report's content hash
    to_read: list[str]  # new and changed reports, largest first
    kept: bool  # the served generation's passages are kept (same model and chunker)
    manifest: Manifest | None  # the served generation's, when kept
    documents: dict[str, dict[str, Any]]  # the served generation's documents that stay as they are
    indexed: dict[str, str]  # {document: hash} of all the served generation holds, when kept
    failed: dict[str, list[str]]  # files that cannot be read, remembered: name -> [hash, reason]
    summary: Summary
    copy_of: str | None = None  # the generation the new one starts as a copy of
    corrections: dict[str, corrections.Correction] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # each report's size in bytes
    # The passages written into a copy of the served generation: its keyword index is the served
    # one's with these in place of the documents changed or gone.
    fresh: list[Chunk] = field(default_factory=list)
    served_keyword: str = ""  # the fingerprint the served generation's keyword index must have


def plan(settings: Settings, was: Served | None) -> Plan:
    """Which reports are new, changed, unchanged, gone, duplicated, or cannot be listed or read."""
    listing = corpus_files(settings.corpus_dir, settings.ignore)
    files, unlisted = listing.files, listing.unlisted
    summary = Summary(skipped=listing.skipped)
    # An index built by this model and chunker keeps its passages; one built otherwise is rebuilt.
    manifest = was.manifest if was else None
    kept = manifest is not None and (manifest.model, manifest.chunker) == (
        settings.model,
        CHUNKER_VERSION,
    )
    assert was is not None or not kept
    indexed = (
        {name: entry["sha256"] for name, entry in was.documents.items()} if was and kept else {}
    )
    summary.rebuilt = was is not None and not kept
    kept_from_it = (
        "what was indexed from it stays"
        if kept
        else "its reports are left out of the rebuilt index"
    )
    summary.failed.extend(
        (f"{folder}/", f"cannot list this folder (permissions?); {kept_from_it}")
        for folder in unlisted
    )
    if not files and not unlisted and was is not None and was.documents:
        raise KbError(
            f"the corpus folder {settings.corpus_dir} holds no reports, so the index is left as it "
            "is: is it the right folder, and mounted? To empty the index, run `make clean-index` "
            "(it keeps the trainers' packs)"
        )
    fixes = corrections.read(settings.corpus_dir)
    summary.uncorrected = sorted(set(fixes) - set(files))
    hashes: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for name, path in files.items():
        try:
            hashes[name], sizes[name] = file_sha256(path), path.stat().st_size
        except OSError as error:
            summary.failed.append((name, f"cannot read the file ({error.strerror})"))
            continue
        if name in fixes:  # a changed correction re-indexes the document, as a changed file does
            hashes[name] += "-" + fixes[name].fingerprint()
    # The same content under two names is indexed once: under the name already indexed (or already
    # found unreadable), else the first by name.
    remembered = was.failed if was else {}

    def known(name: str) -> bool:
        return hashes[name] in (indexed.get(name), remembered.get(name, [""])[0])

    first: dict[str, str] = {}
    for name in sorted(hashes, key=lambda name: (not known(name), name)):
        content = hashes[name].split("-")[0]
        if content in first:
            summary.duplicates.append((name, first[content]))
        else:
            first[content] = name
    for name, _ in summary.duplicates:
        del hashes[name], files[name]
    summary.duplicates.sort()
    # A report is removed when its file has gone, not when its folder could not be listed.
    summary.removed = sorted(
        name for name in set(indexed) - set(files) if not _within(name, unlisted)
    )
    summary.unchanged = [name for name, sha in hashes.items() if indexed.get(name) == sha]
    # A file that could not be read before, unchanged, is named again without being parsed again.
    failed: dict[str, list[str]] = {}
    to_read = []
    for name in hashes:
        if indexed.get(name) == hashes[name]:
            continue
        before = remembered.get(name)
        if kept and before and before[0] == hashes[name]:
            summary.failed.append((name, before[1]))
            failed[name] = before
        else:
            to_read.append(name)
    to_read.sort(key=lambda name: -sizes[name])  # largest first: the last to finish is small
    # What the new generation holds before any file is parsed: all the served one held. Removed
    # files' entries go as their passages do; a changed file's stay until its new ones replace
    # them, so a file that now cannot be read keeps what was indexed of it.
    documents = dict(was.documents) if was and kept else {}
    return Plan(
        files,
        hashes,
        to_read,
        kept,
        manifest if kept else None,
        documents,
        indexed,
        failed,
        summary,
        was.generation if was and kept else None,
        fixes,
        sizes,
        served_keyword=keyword_fingerprint(was.fingerprint_rows()) if was and kept else "",
    )


_DONE = object()


def build(
    settings: Settings,
    work: Plan,
    embedder_factory: Callable[[], Embedder],
    count_tokens: Callable[[str], int],
    progress: Progress,
) -> None:
    """A new generation: the served one's passages (if kept), with removed files' taken out and
    new and changed files' put in, then published. Parsing runs in the background (a PDF in a
    child process of its own, PARSERS at a time) while the model loads, the served generation is
    copied, and each batch of parsed passages is embedded."""
    summary = work.summary
    parsed: queue.Queue = queue.Queue()
    stop = threading.Event()
    known = sorted(
        {name for entry in work.documents.values() for name in entry.get("agencies", [])}
    )
    organisations = Organisations.default(known=known)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-reindex") as background:
        loading = background.submit(_load, embedder_factory) if work.to_read else None
        reading = background.submit(
            _parse, settings, work, count_tokens, organisations, parsed, progress, stop
        )
        try:
            embedder = loading.result() if loading else None
            manifest = work.manifest
            if manifest is None:
                embedder = embedder or embedder_factory()  # a rebuild records how it was built
                manifest = Manifest(settings.model, embedder.dimension, CHUNKER_VERSION)
            # The served generation is never written to: the changes go into a copy.
            writer = Writer.begin(settings.index_dir, settings.chroma_url, manifest, work.copy_of)
        except BaseException:
            stop.set()  # the files not yet parsed are left
            raise
        try:
            for name in summary.removed:
                writer.delete_document(name)
                del work.documents[name]
            written = _write_parsed(settings, work, writer, embedder, parsed, progress)
            reading.result()
            if written or summary.removed:
                writer.set_standard(_standing(work.documents))
            summary.failed.sort()
            summary.doubts.sort()
            catalogue = Served(writer.generation, manifest, work.documents, work.failed).catalogue()
            if work.copy_of and not (summary.rebuilt or summary.removed or written):
                # Every changed file failed: the served generation stays, and remembers them.
                writer.discard()
                write_catalogue(home(settings.index_dir, work.copy_of), catalogue)
                return
            # The keyword index and learned acronyms are derived from what the new generation holds.
            summary.keyword_rebuilt = _keyword_index(settings, work, writer)
            writer.publish(sum(entry["chunks"] for entry in work.documents.values()), catalogue)
        except BaseException:
            stop.set()
            writer.discard()  # no half-written generation is left to fill the disk
            raise
        finally:
            writer.close()


def _parse(
    settings: Settings,
    work: Plan,
    count_tokens: Callable[[str], int],
    organisations: Organisations,
    parsed: queue.Queue,
    progress: Progress,
    stop: threading.Event,
) -> None:
    """Read and chunk each new or changed report, putting (name, chunks) on the queue, until
    stop is set."""
    limits = Limits(settings.pdf_timeout, settings.pdf_memory_mb, settings.text_max_mb)
    summary = work.summary
    progress.start("parsing", len(work.to_read), sum(work.sizes[name] for name in work.to_read))
    try:
        with ThreadPoolExecutor(max_workers=PARSERS, thread_name_prefix="kb-parse") as readers:
            reading = {
                readers.submit(
                    read_document, work.files[name], name, work.hashes[name], limits
                ): name
                for name in work.to_read
            }
            for done in as_completed(reading):  # each file is chunked as soon as it is read
                if stop.is_set():
                    for future in reading:
                        future.cancel()
                    return
                name = reading[done]
                progress.advance("parsing", 1, work.sizes[name])
                try:
                    document = done.result()
                    if name in work.corrections:
                        document = work.corrections[name].apply(document)
                    chunks = chunk_document(document, count_tokens, organisations=organisations)
                except UnreadableDocument as error:
                    _failed(work, name, str(error))  # what was indexed of it before stays
                    continue
                if not chunks:
                    _failed(work, name, "no passages found in it")
                    continue
                looks_like = agency_doubt(document, chunks, organisations)
                if looks_like:
                    summary.doubts.append((name, chunks[0].agency, looks_like))
                progress.grow("embedding", len(chunks))
                parsed.put((name, chunks))
    finally:
        parsed.put(_DONE)


def _failed(work: Plan, name: str, reason: str) -> None:
    work.summary.failed.append((name, reason))
    if not any(limit in reason for limit in RETRIED):
        work.failed[name] = [work.hashes[name], reason]


def _write_parsed(
    settings: Settings,
    work: Plan,
    writer: Writer,
    embedder: Embedder | None,
    parsed: queue.Queue,
    progress: Progress,
) -> bool:
    """Embed the parsed passages a batch at a time and write each file's into the generation;
    whether any file was written."""
    summary = work.summary
    progress.start("embedding", 0)
    batch: list[tuple[str, list[Chunk]]] = []
    written = False
    done = False
    while not done:
        item = parsed.get()
        done = item is _DONE
        if not done:
            batch.append(item)
        if batch and (done or sum(len(chunks) for _, chunks in batch) >= EMBED_BATCH):
            chunks = [chunk for _, document_chunks in batch for chunk in document_chunks]
            vectors = _embed(chunks, embedder, settings.batch_size, progress)
            offset = 0
            for name, document_chunks in batch:
                writer.replace_document(
                    name, document_chunks, vectors[offset : offset + len(document_chunks)]
                )
                if work.copy_of:
                    work.fresh.extend(document_chunks)
                offset += len(document_chunks)
                summary.chunks_embedded += len(document_chunks)
                (summary.updated if name in work.indexed else summary.added).append(name)
                agencies = sorted({chunk.agency for chunk in document_chunks if chunk.agency})
                work.documents[name] = {
                    "sha256": work.hashes[name],
                    "chunks": len(document_chunks),
                    "agencies": agencies,
                    "keys": [_key_row(chunk, 0) for chunk in document_chunks],
                }
                work.failed.pop(name, None)
            written = True
            batch = []
    summary.added.sort()
    summary.updated.sort()
    return written


def _keyword_index(settings: Settings, work: Plan, writer: Writer) -> bool:
    """Write the new generation's keyword index: from the served one's, where the new generation
    is a copy of it, with the changed reports' passages in place of theirs, else from every
    passage in the store. Whether anything was written."""
    wanted = keyword_fingerprint(_fingerprint_rows(work.documents))
    path = writer.home / KEYWORD_FILE
    if KeywordIndex.stored_fingerprint(path) == wanted:
        return False
    served = home(settings.index_dir, work.copy_of) / KEYWORD_FILE if work.copy_of else None
    if served is not None and KeywordIndex.stored_fingerprint(served) == work.served_keyword:
        gone = {
            name
            for name, sha in work.indexed.items()
            if work.documents.get(name, {}).get("sha256") != sha
        }
        build_keyword(path, work.fresh, wanted, kept=(served, gone))
    else:
        build_keyword(path, writer.chunks(), wanted)
    return True


def _standing(documents: dict[str, dict[str, Any]]) -> dict[str, int]:
    """{chunk id: documents its words stand in} for every passage whose standing as standard text
    changed with this reindex (a back page is standard once enough reports repeat it); the
    catalogue is brought up to date."""
    found = standard.standing(
        {name: [(row[1], row[3]) for row in entry["keys"]] for name, entry in documents.items()}
    )
    changed: dict[str, int] = {}
    for name, entry in documents.items():
        for row, now in zip(entry["keys"], found[name], strict=True):
            if now != row[2]:
                changed[row[0]] = row[2] = now
    return changed


def _load(embedder_factory: Callable[[], Embedder]) -> Embedder:
    preload_store()
    return embedder_factory()


def _embed(
    chunks: list[Chunk], embedder: Embedder | None, batch_size: int, progress: Progress
) -> np.ndarray:
    """Vectors for the passages, in their order. Passages of like length (in characters, as the
    model's encode orders them) are embedded together, so batches carry little padding."""
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
        progress.advance("embedding", len(positions))
    assert vectors is not None  # there was at least one slice
    return vectors
