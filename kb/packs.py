"""Session packs: passages a trainer collects, in their order, with a note each, kept in
packs.sqlite.

A saved passage keeps its own copy of the text and the citation, so a reindex never breaks a pack:
a passage whose document changed, or that is no longer indexed, keeps what was saved and is marked
as possibly out of date.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from kb.errors import KbError, UnknownName, UsageError
from kb.passage import Chunk, Citation, SavedPassage

FILENAME = "packs.sqlite"
MAX_NAME = 60
MAX_NOTE = 4000
# A pack's name appears in URLs and file names: letters, digits, spaces and a little punctuation.
NAME = re.compile(rf"[^\W_][\w '&(),.+–-]{{0,{MAX_NAME - 1}}}")
NAME_RULE = (
    f"1 to {MAX_NAME} letters, digits, spaces and ' & ( ) , . + - – _, "
    "starting with a letter or digit"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY,
    pack INTEGER NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    chunk_id TEXT NOT NULL,
    document TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL,
    agency TEXT NOT NULL,
    section TEXT NOT NULL,
    page INTEGER NOT NULL,
    page_end INTEGER NOT NULL,
    text TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    added TEXT NOT NULL,
    UNIQUE (pack, chunk_id)
);
"""
PASSAGE_COLUMNS = (
    "id",
    "chunk_id",
    "document",
    "sha256",
    "title",
    "agency",
    "section",
    "page",
    "page_end",
    "text",
    "note",
    "added",
)


class UnknownPack(UnknownName):
    pass


class UnknownPassage(UnknownName):
    pass


class BadPackName(UsageError):
    pass


@dataclass(frozen=True)
class Pack:
    name: str
    created: str
    updated: str
    passages: tuple[SavedPassage, ...] = ()


def clean_name(name: str | None) -> str:
    """A pack's name as stored, or a refusal that says what a name may hold."""
    cleaned = " ".join((name or "").split())
    if not NAME.fullmatch(cleaned):
        shown = cleaned[: MAX_NAME + 10] or "(empty)"
        raise BadPackName(f"{shown!r} cannot name a pack: use {NAME_RULE}")
    return cleaned


def _newlines(text: str) -> str:
    """Line breaks as "\\n": a browser sends a textarea's as "\\r\\n", though its maxlength counted
    each as one."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Packs:
    """The packs kept in one SQLite file; each call opens its own connection, so threads may share
    it."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / FILENAME

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection | None]:
        """A connection in one transaction; None when reading packs that were never written."""
        if not self.path.exists():
            yield None
            return
        with self._connect(write=False) as db:
            yield db

    @contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction; with write, the file and its tables are made if new."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=10)) as db:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA foreign_keys = ON")
                if write:
                    db.executescript(SCHEMA)
                _upgrade(db)
                with db:
                    yield db
        except sqlite3.OperationalError as error:
            raise KbError(f"cannot use the packs database {self.path}: {error}") from None

    def names(self) -> list[tuple[str, int, str]]:
        """(name, passages, last changed) for every pack, the most recently changed first."""
        with self._db() as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT name, updated, (SELECT count(*) FROM passages WHERE pack = packs.id) AS n "
                "FROM packs ORDER BY updated DESC, name"
            ).fetchall()
        return [(row["name"], row["n"], row["updated"]) for row in rows]

    def get(self, name: str) -> Pack:
        with self._db() as db:
            row = _pack_row(db, name)
            assert db is not None  # with no packs file, _pack_row raised UnknownPack
            passages = db.execute(
                f"SELECT {', '.join(PASSAGE_COLUMNS)} FROM passages "
                "WHERE pack = ? ORDER BY position, id",
                (row["id"],),
            ).fetchall()
        return Pack(
            row["name"], row["created"], row["updated"], tuple(_saved(row) for row in passages)
        )

    def create(self, name: str) -> str:
        """Make an empty pack (or find the one with that name); its stored name."""
        name = clean_name(name)
        with self._connect(write=True) as db:
            now = _now()
            db.execute(
                "INSERT OR IGNORE INTO packs (name, created, updated) VALUES (?, ?, ?)",
                (name, now, now),
            )
            return db.execute("SELECT name FROM packs WHERE name = ?", (name,)).fetchone()["name"]

    def add(self, name: str, chunk: Chunk) -> tuple[SavedPassage, bool]:
        """Save a copy of a passage at the end of a pack, made if new. (passage, False) if it was
        there already."""
        name = self.create(name)
        with self._connect(write=True) as db:
            pack = _pack_row(db, name)["id"]
            now = _now()
            cursor = db.execute(
                "INSERT OR IGNORE INTO passages (pack, position, chunk_id, document, sha256, "
                "title, agency, section, page, page_end, text, added) "
                "VALUES (?, (SELECT coalesce(max(position), 0) + 1 FROM passages "
                "WHERE pack = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pack,
                    pack,
                    chunk.id,
                    chunk.document,
                    chunk.sha256,
                    chunk.title,
                    chunk.agency,
                    chunk.section,
                    chunk.page,
                    chunk.page_end,
                    chunk.text,
                    now,
                ),
            )
            added = cursor.rowcount == 1
            if added:
                _touch(db, pack)
            row = db.execute(
                f"SELECT {', '.join(PASSAGE_COLUMNS)} FROM passages "
                "WHERE pack = ? AND chunk_id = ?",
                (pack, chunk.id),
            ).fetchone()
        return _saved(row), added

    def set_note(self, name: str, passage_id: int, note: str) -> None:
        note = _newlines(note or "").strip()
        if len(note) > MAX_NOTE:
            raise UsageError(f"a note is {len(note)} characters long; the limit is {MAX_NOTE}")
        with self._connect(write=True) as db:
            pack = _passage_pack(db, name, passage_id)
            db.execute("UPDATE passages SET note = ? WHERE id = ?", (note, passage_id))
            _touch(db, pack)

    def move(self, name: str, passage_id: int, steps: int) -> None:
        """Move a passage up (steps < 0) or down the pack; past either end it stays at the end."""
        with self._connect(write=True) as db:
            pack = _passage_pack(db, name, passage_id)
            order = [
                row["id"]
                for row in db.execute(
                    "SELECT id FROM passages WHERE pack = ? ORDER BY position, id", (pack,)
                )
            ]
            old = order.index(passage_id)
            order.insert(max(0, min(len(order) - 1, old + steps)), order.pop(old))
            db.executemany(
                "UPDATE passages SET position = ? WHERE id = ?",
                [(i, pid) for i, pid in enumerate(order, 1)],
            )
            _touch(db, pack)

    def remove(self, name: str, passage_id: int) -> None:
        with self._connect(write=True) as db:
            pack = _passage_pack(db, name, passage_id)
            db.execute("DELETE FROM passages WHERE id = ?", (passage_id,))
            _touch(db, pack)

    def delete(self, name: str) -> None:
        with self._connect(write=True) as db:
            db.execute("DELETE FROM packs WHERE id = ?", (_pack_row(db, name)["id"],))


def _upgrade(db: sqlite3.Connection) -> None:
    """Bring a packs file from before passages kept their last page up to date, in place.

    Its passages are taken to end on the page they start on, as their citations always said.
    """
    if "page_end" in _passage_columns(db):
        return
    db.execute("BEGIN IMMEDIATE")  # another connection may be upgrading the same file; one does it
    if "page_end" not in _passage_columns(db):
        db.execute("ALTER TABLE passages ADD COLUMN page_end INTEGER NOT NULL DEFAULT 0")
        db.execute("UPDATE passages SET page_end = page")
    db.commit()


def _passage_columns(db: sqlite3.Connection) -> set[str]:
    return {row["name"] for row in db.execute("PRAGMA table_info(passages)")}


def _pack_row(db: sqlite3.Connection | None, name: str) -> sqlite3.Row:
    row = (
        db.execute("SELECT * FROM packs WHERE name = ?", (" ".join(name.split()),)).fetchone()
        if db
        else None
    )
    if row is None:
        known = (
            [r["name"] for r in db.execute("SELECT name FROM packs ORDER BY name")] if db else []
        )
        choices = "; ".join(known) or "none yet"
        raise UnknownPack(f"no pack is called {name!r}; the packs are: {choices}")
    return row


def _passage_pack(db: sqlite3.Connection, name: str, passage_id: int) -> int:
    """The pack's id, once the passage is known to be in it."""
    pack = _pack_row(db, name)["id"]
    if not db.execute(
        "SELECT 1 FROM passages WHERE id = ? AND pack = ?", (passage_id, pack)
    ).fetchone():
        raise UnknownPassage(f"the pack {name!r} holds no passage {passage_id}")
    return pack


def _touch(db: sqlite3.Connection, pack: int) -> None:
    db.execute("UPDATE packs SET updated = ? WHERE id = ?", (_now(), pack))


def _saved(row: sqlite3.Row) -> SavedPassage:
    citation = Citation(
        document=row["document"],
        title=row["title"],
        agency=row["agency"],
        section=row["section"],
        page=row["page"],
        page_end=row["page_end"],
        sha256=row["sha256"],
    )
    return SavedPassage(
        id=row["chunk_id"],
        text=row["text"],
        citation=citation,
        entry=row["id"],
        note=row["note"],
        added=row["added"],
    )


class Index(Protocol):
    """What checking a pack asks of an index: a searcher, or a published generation."""

    def document_hashes(self) -> dict[str, str]: ...

    def passages(self, ids: Sequence[str]) -> dict[str, Chunk]: ...


def check(pack: Pack, index: Index) -> Pack:
    """The pack with each passage marked out of date whose document changed or that the index no
    longer holds as saved."""
    indexed = index.document_hashes()
    current = index.passages([passage.id for passage in pack.passages])
    return replace(
        pack,
        passages=tuple(
            replace(passage, out_of_date=_out_of_date(passage, indexed, current))
            for passage in pack.passages
        ),
    )


def _out_of_date(passage: SavedPassage, indexed: dict[str, str], current: dict[str, Chunk]) -> bool:
    chunk = current.get(passage.id)
    return (
        indexed.get(passage.document) != passage.sha256
        or chunk is None
        or chunk.text != passage.text
    )


def unsaved(name: str, found: Sequence[Chunk]) -> Pack:
    """A pack of passages that is not stored, so a search exports the same way as a pack."""
    return Pack(name, "", "", tuple(SavedPassage.of(chunk) for chunk in found))
