"""Generations of the index: which one is served (the pointer), which are kept, and who may write.

A reindex never writes to the generation being searched. It writes a new one, then points at it
in one step; the generation before stays for servers still on it, older ones are deleted.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from kb.errors import IndexLocked, IndexMissing
from kb.store import chroma

COLLECTION = "kb_chunks"  # a generation's collection: kb_chunks, or kb_chunks_<name> on a server
GENERATIONS = (
    "generations"  # index/generations/<name>/: its Chroma store (embedded) and keyword index
)
POINTER = "CURRENT"  # index/CURRENT: the served generation's name, replaced in one rename
PREVIOUS = "PREVIOUS"  # index/PREVIOUS: the one served before it, kept for servers still on it
POINTER_COLLECTION = "kb_current"  # on a Chroma server, this collection's metadata is the pointer
LOCK_FILE = "reindex.lock"
CATALOGUE = "documents.json"  # in a generation's folder: what it holds, by document


def new_name() -> str:
    """A generation's name; names sort by their time of making."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def home(index_dir: Path, generation: str) -> Path:
    """A generation's folder on this machine: its keyword index, and its Chroma store if
    embedded."""
    return Path(index_dir) / GENERATIONS / generation


def collection_name(generation: str, chroma_url: str) -> str:
    # Embedded, each generation has a store of its own; on a server, a collection of its own.
    return f"{COLLECTION}_{generation}" if chroma_url else COLLECTION


def current(index_dir: Path, chroma_url: str = "") -> str | None:
    """The generation searches read, or None before the first reindex. Cheap: call it often."""
    return _pointer(index_dir, chroma_url, "generation", POINTER)


def previous(index_dir: Path, chroma_url: str = "") -> str | None:
    """The generation served before the current one, kept until the next is published; None if
    none."""
    return _pointer(index_dir, chroma_url, "previous", PREVIOUS)


def _pointer(index_dir: Path, chroma_url: str, key: str, file_name: str) -> str | None:
    """A generation's name: on a Chroma server, from the pointer collection's metadata; else a
    file's."""
    if chroma_url:
        try:
            pointer = chroma.get_collection(chroma.pointer_client(chroma_url), POINTER_COLLECTION)
        except IndexMissing:
            return None
        return ((pointer.metadata or {}).get(key) or None) if pointer is not None else None
    try:
        return (Path(index_dir) / file_name).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def read_catalogue(index_dir: Path, generation: str) -> dict[str, Any] | None:
    """What a generation holds, by document, as its reindex wrote it; None where no reindex on this
    machine wrote one (a Chroma server's generation written elsewhere) or it cannot be read."""
    try:
        found = json.loads((home(index_dir, generation) / CATALOGUE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def write_catalogue(folder: Path, catalogue: Mapping[str, Any]) -> None:
    replace_file(Path(folder) / CATALOGUE, json.dumps(catalogue, ensure_ascii=False) + "\n")


def point_at(index_dir: Path, chroma_url: str, generation: str, client: Any = None) -> None:
    """Make `generation` the served one, in one step; the one it replaces becomes the previous."""
    was = current(index_dir, chroma_url)
    if chroma_url:
        pointer = (client or chroma.server(chroma_url)).get_or_create_collection(
            POINTER_COLLECTION, embedding_function=None
        )
        pointer.modify(metadata={"generation": generation, "previous": was or ""})
        return
    if was:
        replace_file(Path(index_dir) / PREVIOUS, was + "\n")
    replace_file(Path(index_dir) / POINTER, generation + "\n")


def prune(index_dir: Path, chroma_url: str = "", client: Any = None) -> None:
    """Delete every generation but the served one and the one before it: a killed reindex's and
    older ones. The caller holds the writer lock, so no other generation is being written."""
    index_dir = Path(index_dir)
    keep = {current(index_dir, chroma_url), previous(index_dir, chroma_url)} - {None}
    folder = index_dir / GENERATIONS
    if folder.is_dir():
        for old in folder.iterdir():
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
            else:
                _remove_partials(old)
    _remove_partials(index_dir)  # a pointer's replacement cut short (.CURRENT.<pid>.partial)
    if chroma_url:
        try:
            client = client or chroma.server(chroma_url)
        except IndexMissing:  # no database on the server yet: nothing to delete
            return
        for name in chroma.collection_names(client):
            if (
                name.startswith(f"{COLLECTION}_")
                and name.removeprefix(f"{COLLECTION}_") not in keep
            ):
                client.delete_collection(name)
    elif (index_dir / POINTER).is_file():
        # The layout before generations: one store at index/chroma. Its replacement is complete.
        shutil.rmtree(index_dir / "chroma", ignore_errors=True)
        (index_dir / "keyword.sqlite").unlink(missing_ok=True)


def _remove_partials(folder: Path) -> None:
    """Delete the files replace_file and the keyword index's build leave if killed before their
    rename: only a writer makes them, and the caller is the one writer."""
    for partial in folder.glob(".*.partial"):
        if partial.is_file() or partial.is_symlink():
            partial.unlink(missing_ok=True)


def forget_older(index_dir: Path, chroma_url: str, serving: str) -> None:
    """After a server moves onto a generation, delete this machine's folders of generations older
    than the one before it: with a Chroma server, each holds a keyword index that this machine built
    and no reindex here deletes. A newer folder may be a reindex's being written, and is left alone
    (names begin with their time of making)."""
    oldest_kept = min(serving, previous(index_dir, chroma_url) or serving)
    folder = Path(index_dir) / GENERATIONS
    if folder.is_dir():
        for old in folder.iterdir():
            if old.name < oldest_kept:
                shutil.rmtree(old, ignore_errors=True)


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time: hold an flock on index/reindex.lock, which says who holds it.

    The kernel drops the lock when its process dies, so a killed reindex never blocks the next.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    # "a+": opening never empties the holder's note
    handle = open(index_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process that has not yet written its name"
        handle.close()
        raise IndexLocked(
            f"another kb reindex is writing {index_dir} ({holder}); "
            "run it again when that one has finished"
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


def replace_file(path: Path, text: str) -> None:
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
