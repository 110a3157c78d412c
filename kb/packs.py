"""Session packs: passages a trainer collects, in their order, with a note each, kept in
packs.sqlite.

A saved passage keeps its own copy of the text and the citation, so a reindex never breaks a pack:
a passage whose document changed, or that is no longer indexed, keeps what was saved and is marked
as possibly out of date.
"""

from __future__ import annotations

import itertools
import sqlite3
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from kb.errors import UnknownName, UsageError, unusable
from kb.passage import Chunk, Citation, SavedPassage, pages

FILENAME = "packs.sqlite"
MAX_NAME = 60
MAX_NOTE = 4000
# Links name a pack by its id, and a download's file name keeps only the safe characters of its
# name, so a name may hold any punctuation ("Neglect L3 12/03/2027", "DA: session #2"): on one line,
# of characters that show.
NAME_RULE = f"1 to {MAX_NAME} characters on one line: letters, digits, spaces, any punctuation"
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")  # where str.splitlines() breaks

# A deleted pack keeps its row, with the time it was deleted, until it is restored or purged; only
# packs in use need names of their own, so a name can be used again while a deleted pack waits.
# Links name a pack by its id: AUTOINCREMENT, so that a purged pack's is never given to a new one.
PACKS_TABLE = """(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE,
    owner TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    deleted TEXT,
    deleted_by TEXT NOT NULL DEFAULT ''
)"""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS packs {PACKS_TABLE};
CREATE UNIQUE INDEX IF NOT EXISTS packs_in_use ON packs (name) WHERE deleted IS NULL;
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
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    pack INTEGER NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    what TEXT NOT NULL
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
UNKNOWN_OWNER = "unknown"  # how a pack made before packs kept their owner shows its owner


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
    owner: str = ""
    id: int = 0  # its row, by which links name it; 0 for passages not stored (a search exported)


@dataclass(frozen=True)
class Summary:
    """A pack in use, as a list shows it."""

    name: str
    passages: int
    updated: str
    owner: str
    id: int


@dataclass(frozen=True)
class Deleted:
    """A deleted pack that can still be restored, until `until`."""

    id: int
    name: str
    passages: int
    deleted: str
    deleted_by: str
    until: str


@dataclass(frozen=True)
class Change:
    """One line of a pack's history: when (UTC, ISO 8601), who, and what they did."""

    at: str
    who: str
    what: str


def clean_name(name: str | None) -> str:
    """A pack's name as stored, trimmed and each run of spaces one space; or a refusal that says
    why, and what a name may hold."""
    name = name or ""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise BadPackName(f"a pack's name cannot be blank: use {NAME_RULE}")
    unprintable = next((character for character in name if not _prints(character)), None)
    if unprintable is None and len(cleaned) <= MAX_NAME:
        return cleaned
    if unprintable is None:
        why = f"it is {len(cleaned)} characters long"
    elif unprintable in LINE_BREAKS:
        why = "it holds a line break"
    else:
        why = "it holds a control or invisible character"
    shown = name.strip()[: MAX_NAME + 10]  # repr writes a line break or control as an escape
    raise BadPackName(f"{shown!r} cannot name a pack: {why}; use {NAME_RULE}")


def _prints(character: str) -> bool:
    """Whether a character may be in a name: one that prints, or a space of any width (a
    no-break space pasted from a document), which becomes a plain space."""
    return character.isprintable() or unicodedata.category(character) == "Zs"


def _newlines(text: str) -> str:
    """Line breaks as "\\n": a browser sends a textarea's as "\\r\\n", though its maxlength counted
    each as one."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Packs:
    """The packs kept in one SQLite file; each call opens its own connection, so threads may share
    it. Each change names who made it, for the pack's history; a deleted pack can be restored for
    `keep_deleted_days`, and is purged by the first change after that."""

    def __init__(self, index_dir: Path, keep_deleted_days: int = 30) -> None:
        self.path = Path(index_dir) / FILENAME
        self.keep_deleted = timedelta(days=keep_deleted_days)

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
        """A connection in one transaction; with write, the file is made if new, and deleted packs
        past keeping are purged."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=10)) as db:
                db.row_factory = sqlite3.Row
                _upgrade(db)  # before foreign keys are on: rebuilding packs must not empty passages
                db.executescript(SCHEMA)
                db.execute("PRAGMA foreign_keys = ON")
                with db:
                    if write:
                        cutoff = (datetime.now(UTC) - self.keep_deleted).isoformat(
                            timespec="microseconds"
                        )
                        db.execute(
                            "DELETE FROM packs WHERE deleted IS NOT NULL AND deleted < ?",
                            (cutoff,),
                        )
                    yield db
        except sqlite3.OperationalError as error:
            raise unusable("the packs database", self.path, error) from None

    def summaries(self) -> list[Summary]:
        """Every pack in use, the most recently changed first."""
        with self._db() as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT id, name, updated, owner, "
                "(SELECT count(*) FROM passages WHERE pack = packs.id) AS n "
                "FROM packs WHERE deleted IS NULL ORDER BY updated DESC, name"
            ).fetchall()
        return [
            Summary(row["name"], row["n"], row["updated"], row["owner"], row["id"]) for row in rows
        ]

    def names(self) -> list[tuple[str, int, str]]:
        """(name, passages, last changed) for every pack, the most recently changed first."""
        return [(found.name, found.passages, found.updated) for found in self.summaries()]

    def deleted(self) -> list[Deleted]:
        """The deleted packs that can still be restored, the most recently deleted first."""
        with self._db() as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT id, name, deleted, deleted_by, "
                "(SELECT count(*) FROM passages WHERE pack = packs.id) AS n "
                "FROM packs WHERE deleted IS NOT NULL ORDER BY deleted DESC"
            ).fetchall()
        return [
            Deleted(
                row["id"],
                row["name"],
                row["n"],
                row["deleted"],
                row["deleted_by"],
                (datetime.fromisoformat(row["deleted"]) + self.keep_deleted).isoformat(
                    timespec="seconds"
                ),
            )
            for row in rows
        ]

    def get(self, which: str | int) -> Pack:
        """A pack in use, by its id or its name."""
        with self._db() as db:
            row = _pack_row(db, which)
            assert db is not None  # with no packs file, _pack_row raised UnknownPack
            passages = db.execute(
                f"SELECT {', '.join(PASSAGE_COLUMNS)} FROM passages "
                "WHERE pack = ? ORDER BY position, id",
                (row["id"],),
            ).fetchall()
        return Pack(
            row["name"],
            row["created"],
            row["updated"],
            tuple(_saved(row) for row in passages),
            row["owner"],
            row["id"],
        )

    def history(self, which: str | int, last: int | None = None) -> list[Change]:
        """What was done to a pack, by its id or its name (in use, else the last deleted of that
        name), oldest first; with `last`, only the latest so many."""
        with self._db() as db:
            found, value = _where(which)
            row = (
                db.execute(
                    f"SELECT id FROM packs WHERE {found} "
                    "ORDER BY deleted IS NOT NULL, deleted DESC",
                    (value,),
                ).fetchone()
                if db
                else None
            )
            if db is None or row is None:
                raise _unknown(db, which)
            rows = db.execute(
                "SELECT at, who, what FROM (SELECT * FROM history WHERE pack = ? "
                "ORDER BY id DESC LIMIT ?) ORDER BY id",
                (row["id"], -1 if last is None else last),
            ).fetchall()
        return [Change(r["at"], r["who"], r["what"]) for r in rows]

    def create(self, name: str, who: str = "") -> str:
        """Make an empty pack owned by `who` (or find the one with that name); its stored name."""
        name = clean_name(name)
        with self._connect(write=True) as db:
            now = _now()
            cursor = db.execute(
                "INSERT OR IGNORE INTO packs (name, owner, created, updated) VALUES (?, ?, ?, ?)",
                (name, who, now, now),
            )
            row = _pack_row(db, name)
            if cursor.rowcount == 1:
                _record(db, row["id"], who, "created the pack")
            return row["name"]

    def add(self, name: str, chunk: Chunk, who: str = "") -> tuple[SavedPassage, bool]:
        """Save a copy of a passage at the end of a pack, made if new. (passage, False) if it was
        there already."""
        name = self.create(name, who)
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
            row = db.execute(
                f"SELECT {', '.join(PASSAGE_COLUMNS)} FROM passages "
                "WHERE pack = ? AND chunk_id = ?",
                (pack, chunk.id),
            ).fetchone()
            if added:
                _touch(db, pack)
                _record(db, pack, who, f"added {_described(row)}")
        return _saved(row), added

    def set_note(self, which: str | int, passage_id: int, note: str, who: str = "") -> None:
        note = _newlines(note or "").strip()
        if len(note) > MAX_NOTE:
            raise UsageError(f"a note is {len(note)} characters long; the limit is {MAX_NOTE}")
        with self._connect(write=True) as db:
            pack, row = _passage(db, which, passage_id)
            if row["note"] == note:
                return
            db.execute("UPDATE passages SET note = ? WHERE id = ?", (note, passage_id))
            _touch(db, pack)
            what = "changed the note on" if note else "cleared the note on"
            _record(db, pack, who, f"{what} {_described(row)}")

    def move(self, which: str | int, passage_id: int, steps: int, who: str = "") -> None:
        """Move a passage up (steps < 0) or down the pack; past either end it stays at the end."""
        with self._connect(write=True) as db:
            pack, row = _passage(db, which, passage_id)
            order = [
                found["id"]
                for found in db.execute(
                    "SELECT id FROM passages WHERE pack = ? ORDER BY position, id", (pack,)
                )
            ]
            old = order.index(passage_id)
            new = max(0, min(len(order) - 1, old + steps))
            order.insert(new, order.pop(old))
            db.executemany(
                "UPDATE passages SET position = ? WHERE id = ?",
                [(i, pid) for i, pid in enumerate(order, 1)],
            )
            _touch(db, pack)
            if new != old:
                _record(db, pack, who, f"moved {_described(row)} from {old + 1} to {new + 1}")

    def remove(self, which: str | int, passage_id: int, who: str = "") -> SavedPassage:
        """Take a passage out of a pack; what it was."""
        with self._connect(write=True) as db:
            pack, row = _passage(db, which, passage_id)
            db.execute("DELETE FROM passages WHERE id = ?", (passage_id,))
            _touch(db, pack)
            _record(db, pack, who, f"removed {_described(row)}")
        return _saved(row)

    def delete(self, which: str | int, who: str = "") -> Deleted:
        """Set a pack aside, restorable for `keep_deleted_days`; the pack as deleted."""
        with self._connect(write=True) as db:
            pack = _pack_row(db, which)["id"]
            db.execute(
                "UPDATE packs SET deleted = ?, deleted_by = ? WHERE id = ?", (_now(), who, pack)
            )
            _record(db, pack, who, "deleted the pack")
        return next(found for found in self.deleted() if found.id == pack)

    def restore(self, which: str | int, who: str = "") -> str:
        """Bring back a deleted pack: the last deleted of a name, or one by its id. Its name as
        restored: "NAME (restored)" when a pack in use is called NAME."""
        with self._connect(write=True) as db:
            found, value = _where(which)
            row = db.execute(
                f"SELECT id, name FROM packs WHERE deleted IS NOT NULL AND {found} "
                "ORDER BY deleted DESC",
                (value,),
            ).fetchone()
            if row is None:
                known = "; ".join(
                    r["name"]
                    for r in db.execute(
                        "SELECT DISTINCT name FROM packs WHERE deleted IS NOT NULL ORDER BY name"
                    )
                )
                raise UnknownPack(
                    f"no deleted pack is called {which!r}; the deleted packs that can be "
                    f"restored are: {known or 'none'}"
                )
            name = _free_name(db, row["name"])
            db.execute(
                "UPDATE packs SET deleted = NULL, deleted_by = '', name = ?, updated = ? "
                "WHERE id = ?",
                (name, _now(), row["id"]),
            )
            what = "restored the pack"
            if name != row["name"]:
                what += f" as {name!r}, since another pack is called {row['name']!r}"
            _record(db, row["id"], who, what)
        return name


def _upgrade(db: sqlite3.Connection) -> None:
    """Bring a packs file from an earlier kb up to date, in place.

    Passages from before they kept their last page are taken to end on the page they start on, as
    their citations always said. Packs from before they kept an owner, and could be deleted and
    restored, get the owner "" (shown as unknown). The packs' table is made again to drop the
    UNIQUE constraint on names of the first packs, or to make ids AUTOINCREMENT, neither of which
    SQLite can alter: with foreign keys off, so that passages stay, and with each pack's id kept.
    """
    if not _columns(db, "packs") or (
        "page_end" in _columns(db, "passages") and _packs_table_is_current(db)
    ):
        return
    db.execute("BEGIN IMMEDIATE")  # another connection may be upgrading the same file; one does it
    if "page_end" not in _columns(db, "passages"):
        db.execute("ALTER TABLE passages ADD COLUMN page_end INTEGER NOT NULL DEFAULT 0")
        db.execute("UPDATE passages SET page_end = page")
    if not _packs_table_is_current(db):
        kept = ", ".join(sorted(_columns(db, "packs")))
        db.execute(f"CREATE TABLE packs_upgraded {PACKS_TABLE}")
        db.execute(f"INSERT INTO packs_upgraded ({kept}) SELECT {kept} FROM packs")
        db.execute("DROP TABLE packs")
        db.execute("ALTER TABLE packs_upgraded RENAME TO packs")
    db.commit()


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}


def _packs_table_is_current(db: sqlite3.Connection) -> bool:
    """Whether the packs' table has every column, and ids that are never used again."""
    (made,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'packs'").fetchone()
    return "deleted" in _columns(db, "packs") and "AUTOINCREMENT" in made


def _where(which: str | int) -> tuple[str, str | int]:
    """(the condition that finds a pack by its id or its name, the value it compares)."""
    if isinstance(which, int):
        return "id = ?", which
    return "name = ?", " ".join(which.split())


def _pack_row(db: sqlite3.Connection | None, which: str | int) -> sqlite3.Row:
    """A pack in use, by its id or its name."""
    found, value = _where(which)
    row = (
        db.execute(f"SELECT * FROM packs WHERE deleted IS NULL AND {found}", (value,)).fetchone()
        if db
        else None
    )
    if row is None:
        raise _unknown(db, which)
    return row


def _unknown(db: sqlite3.Connection | None, which: str | int) -> UnknownPack:
    """The refusal of an id or a name no pack in use has, naming the packs that are; of a deleted
    pack's id, saying that it can be restored."""
    gone = (
        db.execute(
            "SELECT name FROM packs WHERE id = ? AND deleted IS NOT NULL", (which,)
        ).fetchone()
        if db and isinstance(which, int)
        else None
    )
    if gone:
        return UnknownPack(
            f"the pack {gone['name']!r} was deleted: restore it from the list of packs before it "
            "is purged"
        )
    known = (
        [
            r["name"]
            for r in db.execute("SELECT name FROM packs WHERE deleted IS NULL ORDER BY name")
        ]
        if db
        else []
    )
    missing = (
        f"no pack has the number {which}"
        if isinstance(which, int)
        else f"no pack is called {which!r}"
    )
    return UnknownPack(f"{missing}; the packs are: {'; '.join(known) or 'none yet'}")


def _passage(db: sqlite3.Connection, which: str | int, passage_id: int) -> tuple[int, sqlite3.Row]:
    """(the pack's id, the passage), once the passage is known to be in it."""
    pack = _pack_row(db, which)
    row = db.execute(
        f"SELECT {', '.join(PASSAGE_COLUMNS)} FROM passages WHERE id = ? AND pack = ?",
        (passage_id, pack["id"]),
    ).fetchone()
    if row is None:
        raise UnknownPassage(f"the pack {pack['name']!r} holds no passage {passage_id}")
    return pack["id"], row


def _free_name(db: sqlite3.Connection, name: str) -> str:
    """The name, or when a pack in use has it, "NAME (restored)", "NAME (restored 2)"…"""
    if not _in_use(db, name):
        return name
    for n in itertools.count(1):
        suffix = " (restored)" if n == 1 else f" (restored {n})"
        candidate = name[: MAX_NAME - len(suffix)].rstrip() + suffix
        if not _in_use(db, candidate):
            return candidate
    raise AssertionError("unreachable")


def _in_use(db: sqlite3.Connection, name: str) -> bool:
    return bool(
        db.execute("SELECT 1 FROM packs WHERE name = ? AND deleted IS NULL", (name,)).fetchone()
    )


def _touch(db: sqlite3.Connection, pack: int) -> None:
    db.execute("UPDATE packs SET updated = ? WHERE id = ?", (_now(), pack))


def _record(db: sqlite3.Connection, pack: int, who: str, what: str) -> None:
    """A line of the pack's history."""
    db.execute(
        "INSERT INTO history (pack, at, who, what) VALUES (?, ?, ?, ?)",
        (pack, datetime.now(UTC).isoformat(timespec="seconds"), who, what),
    )


def _described(passage: sqlite3.Row) -> str:
    """A passage as a history line names it: its report and pages."""
    return f"the passage from {passage['title'] or passage['document']}, " + pages(
        passage["page"], passage["page_end"]
    )


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
