"""The keyword side: BM25 over the stored chunks, in SQLite FTS5, derived from the vector store.

The vector store is the one source of truth. This index is a file rebuilt from the chunks it
holds whenever their fingerprint changes, so it can always be deleted and made again.

FTS5 scores a query by computing bm25() for every passage holding any of its words, which at
20,000 passages took 3.7 ms a query even with the commonest words left out. BM25 is a sum over
the query's words (and phrases), and a word's share of a passage's score depends on nothing but
the word's count in the passage, the passage's length, and how many of how many passages hold the
word. So the build also stores, for each word, the passages holding it and its count in each, and
each passage's length; and the same counts for every phrase of the glossary ("domestic abuse") and
of the acronyms the passages define. A query adds up a few arrays scored from those (0.8 ms at
20,000 passages); any other phrase is scored by FTS5 when asked for, and the sum is exactly FTS5's
bm25() for the whole query. Counts, unlike scores, do not change when other passages come and go,
so a reindex of one report copies the served file and changes only what that report holds.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.dates import year_of
from kb.errors import REBUILD, IndexDamaged
from kb.passage import FILTERED, Chunk, Filter, coded
from kb.recent import Recent
from kb.topk import sampled_cut
from kb.vocabulary import (
    Entry,
    default_glossary,
    definitions_in,
    learned_from,
    phrase_pattern,
)

# 2: long forms whose initials spell the acronym are learned whole; 3, 4: word, phrase scores
# stored; 7: counts and lengths stored instead, so that a copy can take passages out and in
KEYWORD_VERSION = "7"
FILENAME = "keyword.sqlite"

# Words that carry no meaning for ranking. Short on purpose: "help", "risk", "care" and "out"
# carry meaning in this domain ("early help", "out of hours").
STOPWORDS = frozenset(
    """a about after all also am an and any are as at be been before being but by can could did do
    does doing for from had has have having he her here hers him his how i if in into is it its me
    my no nor not of on or our ours she should so some such than that the their them then there
    these they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)

# bm25() weights per column: the passage, its section heading, its agency and document title.
COLUMNS = ("text", "section", "source")
COLUMN_WEIGHTS = (1.0, 0.6, 0.3)
TOKENIZER = "porter unicode61 remove_diacritics 2"
BM25_K1, BM25_B = 1.2, 0.75  # FTS5's bm25() constants
ACRONYM_SAMPLE = 200  # passages read to tell how the corpus writes an acronym's word
# Words' shares of a score kept in memory, counted in passages: at 40,000 passages the 300 words
# most passages hold have 2.2 million between them (16 bytes each).
KEPT_SHARES = 2_500_000


def _bm25_in(schema: str) -> str:
    """(rowid, score) of every passage of a schema's table matching an FTS5 query, scored by FTS5
    itself; higher is better."""
    return (
        f"SELECT rowid, -bm25(passages, {', '.join(map(str, COLUMN_WEIGHTS))}) "
        f"FROM {schema}.passages WHERE passages MATCH ?"
    )


_BM25 = _bm25_in("main")


def query_terms(text: str) -> list[str]:
    """Distinct lower-case words of a query worth matching, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


def match_expression(terms: Sequence[str], phrases: Sequence[str] = ()) -> str:
    """An FTS5 query: any of the words, or any of the phrases; every part quoted, so no syntax leaks
    in."""
    return " OR ".join(f'"{part}"' for part in query_parts(terms, phrases))


def query_parts(terms: Sequence[str], phrases: Iterable[str] = ()) -> list[str]:
    """The words, then the phrases as words, each once: what a query's BM25 score is summed over."""
    parts = list(terms)
    for phrase in phrases:
        words = _WORD.findall(phrase.casefold())
        if words:
            parts.append(" ".join(words))
    return list(dict.fromkeys(parts))


def fingerprint(rows: Iterable[tuple[str, str, int]]) -> str:
    """What the keyword index was built from: every (document, its hash, its passages) row; with
    the chunker's version, which the store checks, that fixes every passage."""
    digest = hashlib.sha256(KEYWORD_VERSION.encode())
    for document, sha, chunks in sorted(rows):
        digest.update(f"{document}\x00{sha}\x00{chunks}\n".encode())
    return digest.hexdigest()


_SCHEMA = f"""
CREATE VIRTUAL TABLE passages USING fts5(
    {", ".join(COLUMNS)}, id UNINDEXED, document UNINDEXED, agency UNINDEXED, year UNINDEXED,
    collection UNINDEXED,
    tokenize = '{TOKENIZER}'
);
-- Each passage's length in tokens, its columns together: what bm25() normalises by.
CREATE TABLE lengths (passage INTEGER PRIMARY KEY, tokens INTEGER NOT NULL);
-- For each word (as indexed: stemmed), the passages holding it and its count in each, weighted by
-- column. With the lengths, that is all a word's share of a passage's bm25() depends on.
CREATE TABLE words (token TEXT PRIMARY KEY, rowids BLOB NOT NULL, counts BLOB NOT NULL)
    WITHOUT ROWID;
-- The same for the glossary's phrases of two words or more (as query_parts writes them), the
-- expansions a query most often brings; other phrases are scored by FTS5 when asked for.
CREATE TABLE phrases (phrase TEXT PRIMARY KEY, rowids BLOB NOT NULL, counts BLOB NOT NULL)
    WITHOUT ROWID;
-- Each definition a passage makes ("… Conference (MARAC)"), and the acronyms learned from them all.
CREATE TABLE defined (document TEXT NOT NULL, term TEXT NOT NULL, expansion TEXT NOT NULL);
CREATE TABLE definitions (term TEXT NOT NULL, expansion TEXT NOT NULL, documents INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Passages tokenised on the side (those leaving a copied index, those joining it), as the index
# tokenises them.
_SCRATCH = f"""
CREATE VIRTUAL TABLE scratch.passages USING fts5({", ".join(COLUMNS)}, tokenize = '{TOKENIZER}');
"""
_PASSAGE_COLUMNS = (*COLUMNS, "id", "document", "agency", "year", "collection")
_INSERT_PASSAGE = (
    f"INSERT INTO main.passages (rowid, {', '.join(_PASSAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (len(_PASSAGE_COLUMNS) + 1))})"
)
_INSERT_SCRATCH = f"INSERT INTO scratch.passages (rowid, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?)"


def build(
    path: Path,
    chunks: Iterable[Chunk],
    built_from: str,
    kept: tuple[Path, Collection[str]] | None = None,
) -> None:
    """Write a new keyword index beside the old one, then swap it in whole.

    With kept (another keyword index of this version, and its documents that are gone or
    changed), the new one starts as a copy of that file: the gone documents' passages are taken
    out, the chunks given (the changed and new documents') put in, and only the words and phrases
    those passages hold are stored again. A reindex that changes one report among 40,000 passages
    neither reads the rest from the vector store nor counts their words again."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        if kept is not None:
            shutil.copyfile(kept[0], partial)
        with closing(sqlite3.connect(partial)) as db:
            with db:
                db.execute("ATTACH DATABASE ':memory:' AS scratch")
                db.executescript(_SCRATCH)
                if kept is None:
                    db.executescript(_SCHEMA)
                else:
                    _take_out(db, sorted(kept[1]))
                _add(db, list(chunks), scratch=kept is not None)
                _learn(db)
                db.execute("DELETE FROM meta")
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("fingerprint", built_from), ("version", KEYWORD_VERSION)],
                )
            db.execute("DETACH DATABASE scratch")
            if kept is None:  # one b-tree for the words, as a copy's stays close to
                db.execute("INSERT INTO passages(passages) VALUES ('optimize')")
                db.commit()
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _take_out(db: sqlite3.Connection, gone: Sequence[str]) -> None:
    """Take the gone documents' passages out of a copied index, and out of every word and phrase
    stored for them."""
    leaving = db.execute(
        f"SELECT rowid, {', '.join(COLUMNS)} FROM main.passages "
        "WHERE document IN (SELECT value FROM json_each(?))",
        (json.dumps(list(gone)),),
    ).fetchall()
    if not leaving:
        return
    out = np.array(sorted(row[0] for row in leaving), dtype=np.int32)
    db.execute("DELETE FROM scratch.passages")
    db.executemany(_INSERT_SCRATCH, leaving)
    tokens, _ = _occurrences(db, "scratch")
    for token in {token for token, _, _ in tokens}:
        _drop(db, "words", "token", token, out)
    for (phrase,) in db.execute("SELECT phrase FROM phrases").fetchall():
        _drop(db, "phrases", "phrase", phrase, out)
    rowids = [(int(rowid),) for rowid in out]
    db.executemany("DELETE FROM main.passages WHERE rowid = ?", rowids)
    db.executemany("DELETE FROM lengths WHERE passage = ?", rowids)
    db.execute(
        "DELETE FROM defined WHERE document IN (SELECT value FROM json_each(?))",
        (json.dumps(list(gone)),),
    )


def _drop(db: sqlite3.Connection, table: str, key: str, value: str, out: np.ndarray) -> None:
    """A stored word's or phrase's arrays without the passages out; gone if none is left."""
    row = db.execute(f"SELECT rowids, counts FROM {table} WHERE {key} = ?", (value,)).fetchone()
    if row is None:
        return
    rowids = np.frombuffer(row[0], dtype=np.int32)
    kept = ~np.isin(rowids, out)
    if kept.all():
        return
    if not kept.any():
        db.execute(f"DELETE FROM {table} WHERE {key} = ?", (value,))
        return
    db.execute(
        f"UPDATE {table} SET rowids = ?, counts = ? WHERE {key} = ?",
        (rowids[kept].tobytes(), np.frombuffer(row[1])[kept].tobytes(), value),
    )


def _add(db: sqlite3.Connection, chunks: Sequence[Chunk], scratch: bool) -> None:
    """Index the chunks as passages after the last one held, with their lengths, the words and the
    stored phrases they hold (beside the passages already stored for each), and the definitions
    they make. scratch: count their words on the side (the index holds other passages)."""
    first = (db.execute("SELECT max(passage) FROM lengths").fetchone()[0] or 0) + 1
    rows = [
        (
            rowid,
            chunk.text,
            chunk.section,
            f"{chunk.agency} {chunk.title}",
            chunk.id,
            chunk.document,
            chunk.agency,
            year_of(chunk.date),
            chunk.collection,
        )
        for rowid, chunk in enumerate(chunks, start=first)
    ]
    db.executemany(_INSERT_PASSAGE, rows)
    db.executemany(
        "INSERT INTO defined VALUES (?, ?, ?)",
        [(row[5], term, long) for row in rows for term, long in definitions_in(row[1])],
    )
    if scratch:
        db.execute("DELETE FROM scratch.passages")
        db.executemany(_INSERT_SCRATCH, [row[:4] for row in rows])
    counted, lengths = _occurrences(db, "scratch" if scratch else "main")
    db.executemany("INSERT INTO lengths VALUES (?, ?)", lengths)
    for token, rowids, counts in counted:
        stored = db.execute("SELECT rowids, counts FROM words WHERE token = ?", (token,)).fetchone()
        blobs = (rowids.astype(np.int32).tobytes(), counts.tobytes())
        if stored:  # the new passages follow every stored one
            blobs = (stored[0] + blobs[0], stored[1] + blobs[1])
        db.execute("INSERT OR REPLACE INTO words VALUES (?, ?, ?)", (token, *blobs))
    if not rows:
        return
    where = Stats.of(lengths)
    for phrase, stored_rowids, stored_counts in db.execute(
        "SELECT phrase, rowids, counts FROM phrases"
    ).fetchall():
        rowids, counts = _phrase_counts(db, "scratch" if scratch else "main", phrase, where)
        if len(rowids):
            db.execute(
                "UPDATE phrases SET rowids = ?, counts = ? WHERE phrase = ?",
                (
                    stored_rowids + rowids.astype(np.int32).tobytes(),
                    stored_counts + counts.tobytes(),
                    phrase,
                ),
            )


def _learn(db: sqlite3.Connection) -> None:
    """The acronyms the passages define, learned again from every definition held; and a stored
    phrase for each glossary and learned phrase, counted over every passage where it is new."""
    learned = learned_from(
        db.execute("SELECT document, term, expansion FROM defined ORDER BY rowid")
    )
    db.execute("DELETE FROM definitions")
    db.executemany("INSERT INTO definitions VALUES (?, ?, ?)", learned)
    glossary = [
        phrase for entry in default_glossary().entries for phrase in (entry.term, *entry.expansions)
    ]
    wanted = [
        phrase
        for phrase in query_parts(
            (), [*glossary, *(p for term, long, _ in learned for p in (term, long))]
        )
        if " " in phrase
    ]
    stored = {phrase for (phrase,) in db.execute("SELECT phrase FROM phrases")}
    db.executemany(
        "DELETE FROM phrases WHERE phrase = ?", [(phrase,) for phrase in stored - set(wanted)]
    )
    missing = [phrase for phrase in wanted if phrase not in stored]
    if not missing:
        return
    everywhere = Stats.of(db.execute("SELECT passage, tokens FROM lengths").fetchall())
    for phrase in missing:
        rowids, counts = _phrase_counts(db, "main", phrase, everywhere)
        db.execute(
            "INSERT INTO phrases VALUES (?, ?, ?)",
            (phrase, rowids.astype(np.int32).tobytes(), counts.tobytes()),
        )


def _occurrences(
    db: sqlite3.Connection, schema: str
) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], list[tuple[int, int]]]:
    """([(token, rowids, counts)], [(rowid, length)]) of the passages table in a schema: each
    word's count in each passage holding it, weighted by column, and each passage's length."""
    db.execute(
        f"CREATE VIRTUAL TABLE temp.occurrences USING fts5vocab({schema}, passages, instance)"
    )
    try:
        weight = " ".join(f"WHEN '{column}' THEN {w}" for column, w in zip(COLUMNS, COLUMN_WEIGHTS))
        rows = db.execute(
            f"SELECT term, doc, sum(CASE col {weight} ELSE 0 END) FROM temp.occurrences "
            "GROUP BY term, doc ORDER BY term, doc"
        ).fetchall()
        lengths = db.execute(
            "SELECT doc, count(*) FROM temp.occurrences GROUP BY doc ORDER BY doc"
        ).fetchall()
    finally:
        db.execute("DROP TABLE temp.occurrences")
    if not rows:
        return [], lengths
    tokens = [row[0] for row in rows]
    rowids = np.fromiter((row[1] for row in rows), dtype=np.int32, count=len(rows))
    counts = np.fromiter((row[2] for row in rows), dtype=np.float64, count=len(rows))
    starts = [at for at in range(len(tokens)) if at == 0 or tokens[at] != tokens[at - 1]]
    ends = [*starts[1:], len(tokens)]
    return [
        (tokens[start], rowids[start:end], counts[start:end]) for start, end in zip(starts, ends)
    ], lengths


def _phrase_counts(
    db: sqlite3.Connection, schema: str, phrase: str, where: Stats
) -> tuple[np.ndarray, np.ndarray]:
    """(rowids, counts) of the passages in a schema's table holding a phrase: its count in each,
    weighted by column, read back from FTS5's bm25() for it there (FTS5 does not give phrase counts
    otherwise), with that table's statistics."""
    rowids, scores = _columns(db.execute(_bm25_in(schema), (f'"{phrase}"',)).fetchall())
    if not len(rowids):
        return rowids, scores
    order = np.argsort(rowids, kind="stable")
    rowids, scores = rowids[order], scores[order]
    idf = idf_of(where.passages, len(rowids))
    norm = where.norm[rowids]
    return rowids, scores * norm / (idf * (BM25_K1 + 1) - scores)


def idf_of(passages: int, holding: int) -> float:
    """FTS5's idf for a word or phrase that `holding` of `passages` passages hold."""
    idf = math.log((passages - holding + 0.5) / (holding + 0.5))
    return idf if idf > 0 else 1e-6


@dataclass(frozen=True)
class Stats:
    """What bm25() needs of a passages table beyond a passage's counts: how many passages, and each
    one's length normaliser k1 * (1 - b + b * D / avgD), by rowid."""

    passages: int
    norm: np.ndarray
    length: np.ndarray  # each passage's length in tokens, by rowid (0: no passage)

    @classmethod
    def of(cls, lengths: Sequence[tuple[int, int]]) -> Stats:
        if not lengths:
            return cls(0, np.zeros(1), np.zeros(1))
        rowids = np.array([rowid for rowid, _ in lengths], dtype=np.int64)
        length = np.zeros(int(rowids.max()) + 1)
        length[rowids] = [size for _, size in lengths]
        return cls.over(length, length > 0)

    @classmethod
    def over(cls, length: np.ndarray, held: np.ndarray) -> Stats:
        """The statistics of the passages held (a mask by rowid) alone."""
        held = held & (length > 0)
        passages = int(held.sum())
        if not passages:
            return cls(0, np.zeros(1), np.zeros(1))
        mean = length[held].sum() / passages
        return cls(passages, BM25_K1 * (1 - BM25_B + BM25_B * length / mean), length)

    def scores(self, rowids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """A word's or phrase's share of bm25() in each passage holding it, from its counts."""
        idf = idf_of(self.passages, len(rowids))
        return idf * counts * (BM25_K1 + 1) / (counts + self.norm[rowids])

    def within(self, held: np.ndarray) -> Stats:
        """These statistics over the passages held (a mask by rowid) alone."""
        mask = np.zeros(len(self.length), dtype=bool)
        size = min(len(mask), len(held))
        mask[:size] = held[:size]
        return Stats.over(self.length, mask)


@dataclass(frozen=True)
class Scope:
    """Some collections' passages, searched as if the index held nothing else: BM25's statistics,
    the phrases a query's glossary may add and the acronyms the documents define are theirs alone.
    So a partnership's own reports, searched in their own collection, rank as they do indexed alone,
    however many inspections sit beside them (a word rare in its reports but common in inspections
    keeps its weight)."""

    collections: tuple[str, ...]
    held: np.ndarray = field(compare=False)  # by rowid: whether the passage is one of theirs
    stats: Stats = field(compare=False)
    documents: frozenset[str] = field(compare=False)

    def rowids(self, rowids: np.ndarray) -> np.ndarray:
        """Those of the rowids that are the scope's."""
        return rowids[self.held[rowids]]


def _columns(matched: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(rowid, score) rows as an array of rowids and one of scores."""
    if not matched:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    rowids, scores = np.array(matched, dtype=np.float64).T
    return rowids.astype(np.int64), scores


class Tokenizer:
    """Text read into tokens as the index reads it: SQLite's own Porter stemmer over unicode61."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.executescript(f"""
            CREATE VIRTUAL TABLE query USING fts5(part, tokenize = '{TOKENIZER}');
            CREATE VIRTUAL TABLE occurrences USING fts5vocab(query, instance);
        """)
        self._lock = threading.Lock()

    def tokens(self, parts: Sequence[str]) -> list[list[str]]:
        """Each part's tokens, in order ("home visitors" -> ["home", "visitor"])."""
        found: list[list[str]] = [[] for _ in parts]
        with self._lock:
            self._db.executemany("INSERT INTO query(rowid, part) VALUES (?, ?)", enumerate(parts))
            for at, token in self._db.execute(
                "SELECT doc, term FROM occurrences ORDER BY doc, offset"
            ):
                found[at].append(token)
            self._db.execute("DELETE FROM query")
        return found

    def close(self) -> None:
        self._db.close()


class KeywordIndex:
    """BM25 search over the passages, with the same agency and document filters as the vector
    side."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # One connection shared by the web server's threads; a query takes well under a millisecond.
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        with self._reading():
            self._passages = _Passages.read(self._db)
            self._stats = Stats.of(
                self._db.execute("SELECT passage, tokens FROM lengths").fetchall()
            )
        # A word's share of each passage's score, by word (or phrase) and scope, once reckoned:
        # the common words, held by most passages, cost most to read and score.
        self._shares: Recent[tuple[str, Scope | None], tuple[np.ndarray, np.ndarray]] = Recent(
            KEPT_SHARES
        )
        self._held: dict[tuple[str, Scope | None], bool] = {}
        self._acronym: dict[tuple[str, Scope | None], bool] = {}
        self._scopes: dict[tuple[str, ...], Scope | None] = {}
        # The index's own tokenizer reads the query's words, so they are stemmed as the passages
        # were.
        self._tokenizer = Tokenizer()

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Hold the lock; a damaged file is reported as such, with what to run."""
        with self._lock:
            try:
                yield
            except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
                raise  # kb's own mistake (a closed index), not the file's
            except sqlite3.DatabaseError as error:
                raise self._damaged(error) from None

    def _damaged(self, error: sqlite3.DatabaseError) -> IndexDamaged:
        return IndexDamaged(f"the keyword index {self.path} cannot be read ({error}): {REBUILD}")

    def check(self) -> int:
        """The passages the index holds, counted by reading its tables (the passages' text and the
        stored counts) from the file, on a connection of its own (the searches' keeps pages it
        has read), so that a damaged file says so here rather than in a search."""
        if not self.path.exists():  # pruned while open: the searches read what they opened
            with self._reading():
                return self._count(self._db)
        try:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
                return self._count(db)
        except sqlite3.DatabaseError as error:
            raise self._damaged(error) from None

    @staticmethod
    def _count(db: sqlite3.Connection) -> int:
        db.execute("SELECT count(*), max(length(counts)) FROM words").fetchone()
        return int(
            db.execute("SELECT count(*), max(length(c2)) FROM passages_content").fetchone()[0]
        )

    def _tokens(self, parts: Sequence[str]) -> list[list[str]]:
        """Each part's tokens as the index has them ("visitors" -> ["visitor"])."""
        return self._tokenizer.tokens(parts)

    def tokens(self, parts: Sequence[str]) -> list[list[str]]:
        """Each part's tokens as the index has them, stopwords left out."""
        kept = [" ".join(query_terms(part)) for part in parts]
        return self._tokenizer.tokens(kept)

    @classmethod
    def stored_fingerprint(cls, path: Path) -> str | None:
        if not Path(path).is_file():
            return None
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                row = db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
            db.close()
        except sqlite3.DatabaseError:
            return None  # damaged or from an older layout: rebuilt by the caller
        return row[0] if row else None

    def search(
        self,
        terms: Sequence[str],
        phrases: Sequence[str] = (),
        k: int = 50,
        passages: Filter = Filter(),
    ) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first, as FTS5's bm25() scores the words and phrases; higher
        is better."""
        return self.score(terms, phrases).best(k, passages)

    def scope(self, collections: Sequence[str]) -> Scope | None:
        """The passages of these collections as a Scope; None for the whole index (no collection
        named, or those named hold every passage)."""
        key = tuple(sorted(set(collections)))
        if key not in self._scopes:
            found = None
            if key:
                held = self._passages.columns["collection"].any_of(list(key)) & (
                    self._passages.ids != ""
                )
                if held.sum() < self._stats.passages:
                    codes = self._passages.columns["document"]
                    documents = frozenset(codes.values[np.unique(codes.codes[held])].tolist())
                    found = Scope(key, held, self._stats.within(held), documents)
            self._scopes[key] = found
        return self._scopes[key]

    def score(
        self, terms: Sequence[str], phrases: Sequence[str] = (), scope: Scope | None = None
    ) -> Scores:
        """Every passage's BM25 score for the words and phrases, as FTS5's bm25() gives it (over
        the scope's passages alone, as if the index held nothing else; 0 for the others)."""
        scores = np.zeros(len(self._passages.ids))
        parts = query_parts(terms, phrases)
        if not parts:
            return Scores(self._passages, scores, scores > 0)
        stats = self._stats if scope is None else scope.stats
        shares: list[tuple[np.ndarray, np.ndarray]] = []  # (rowids, share) of each word, phrase
        counted: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # (rowids, counts) read now
        with self._reading():
            # phrases not stored, and words the tokenizer cuts in two ("e-mail"): scored by FTS5
            others = []
            for part, tokens in zip(parts, self._tokens(parts)):
                if not tokens:
                    continue  # nothing the index could hold ("__")
                if (known := self._shares.get((part, scope))) is not None:
                    shares.append(known)
                    continue
                row = self._stored(part, tokens)
                if row is None and len(tokens) > 1:
                    others.append(part)
                    continue
                if row:
                    counted[part] = (np.frombuffer(row[0], dtype=np.int32), np.frombuffer(row[1]))
            if others and scope is None:
                rowids, more = _columns(
                    self._db.execute(
                        _BM25, (" OR ".join(f'"{part}"' for part in others),)
                    ).fetchall()
                )
                scores[rowids] += more
            elif scope is not None:  # FTS5 scores over every passage: its counts, scored again
                for part in others:
                    counted[part] = _phrase_counts(self._db, "main", part, self._stats)
        for part, (rowids, counts) in counted.items():
            if scope is not None:
                inside = scope.held[rowids]
                rowids, counts = rowids[inside], counts[inside]
            # numpy's own index type: int32 rowids would be converted at every use, 2x slower
            reckoned = (rowids.astype(np.intp), stats.scores(rowids, counts))
            self._shares.put((part, scope), reckoned, len(rowids))
            shares.append(reckoned)
        for rowids, share in shares:
            scores[rowids] += share
        # Every share is above 0 (FTS5's idf is never below 1e-6): a passage holds a word or phrase
        # of the query if and only if it scores.
        return Scores(self._passages, scores, scores > 0)

    def holds(self, phrase: str, scope: Scope | None = None) -> bool:
        """Whether any passage (of the scope) holds the phrase, as a search for it would match
        (stemmed, words in order)."""
        held = self._held.get((phrase, scope))
        if held is None:
            held = len(self._holding(phrase, scope)) > 0
            self._held[(phrase, scope)] = held
        return held

    def _holding(self, phrase: str, scope: Scope | None) -> np.ndarray:
        """The rowids of the passages (of the scope) holding a phrase; for one FTS5 scores, only
        the first it finds when there is no scope."""
        parts = query_parts((), [phrase])  # the phrase's words, as score() reads them: one or none
        if not parts:
            return np.zeros(0, dtype=np.int64)
        with self._reading():
            tokens = self._tokens(parts)[0]
            row = self._stored(parts[0], tokens) if tokens else None
            rowids = np.frombuffer(row[0], dtype=np.int32) if row is not None else None
            if row is None and len(tokens) > 1:
                limit = " LIMIT 1" if scope is None else ""
                matched = self._db.execute(
                    f"SELECT rowid FROM passages WHERE passages MATCH ?{limit}", (f'"{parts[0]}"',)
                ).fetchall()
                rowids = np.array([rowid for (rowid,) in matched], dtype=np.int32)
        if rowids is None:
            return np.zeros(0, dtype=np.int32)
        return rowids if scope is None else scope.rowids(rowids)

    def writes_as_acronym(self, term: str, scope: Scope | None = None) -> bool:
        """Whether the passages (of the scope) that hold an acronym's word mostly write it as the
        acronym ("MASH" and "MASHs", not "mash"), so that a query typed in lower case means it; so
        too a word no passage holds ("ooh" for OOH). Read from up to ACRONYM_SAMPLE passages
        holding the word, once per word."""
        if (term, scope) not in self._acronym:
            written = self._written(term, scope)
            as_acronym = sum(found.startswith(term) for found in written)
            self._acronym[(term, scope)] = not written or as_acronym * 2 > len(written)
        return self._acronym[(term, scope)]

    def writes_capitalised(self, word: str, scope: Scope | None = None) -> bool:
        """Whether the passages (of the scope) that hold a word mostly write it with a capital, as
        a name ("Luton"), not as a word ("sharing"); read as writes_as_acronym reads."""
        written = self._written(word, scope)
        return sum(found[:1].isupper() for found in written) * 2 > len(written)

    def _written(self, term: str, scope: Scope | None = None) -> list[str]:
        """How up to ACRONYM_SAMPLE passages (of the scope) holding a word write it, each time."""
        with self._reading():
            tokens = self._tokens([term])[0]
            row = self._stored(term, tokens) if len(tokens) == 1 else None
            if not row:
                return []
            held = np.frombuffer(row[0], dtype=np.int32)
            rowids = (held if scope is None else scope.rowids(held))[:ACRONYM_SAMPLE].tolist()
            if not rowids:
                return []
            texts = self._db.execute(
                "SELECT text || ' ' || section FROM passages WHERE rowid IN "
                f"({', '.join('?' * len(rowids))})",
                rowids,
            ).fetchall()
        any_case = phrase_pattern(term, False)
        return [found for (text,) in texts for found in any_case.findall(text)]

    def _stored(self, part: str, tokens: list[str]) -> tuple[bytes, bytes] | None:
        """(rowids, counts) stored at build for a word, or for a phrase of several; None if not
        stored. A word not stored is in no passage; a phrase not stored is left for FTS5. Call with
        the lock held."""
        if len(tokens) == 1:
            return self._db.execute(
                "SELECT rowids, counts FROM words WHERE token = ?", tokens
            ).fetchone()
        return self._db.execute(
            "SELECT rowids, counts FROM phrases WHERE phrase = ?", (part,)
        ).fetchone()

    def definitions(self, scope: Scope | None = None) -> list[Entry]:
        """Acronyms the indexed documents (of the scope) define themselves, most used long form
        first."""
        with self._reading():
            if scope is None:
                rows = self._db.execute(
                    "SELECT term, expansion FROM definitions ORDER BY term, documents DESC"
                ).fetchall()
            else:
                found = self._db.execute(
                    "SELECT document, term, expansion FROM defined ORDER BY rowid"
                ).fetchall()
                learned = learned_from(row for row in found if row[0] in scope.documents)
                rows = [
                    (term, long)
                    for term, long, _ in sorted(learned, key=lambda row: (row[0], -row[2]))
                ]
        entries: dict[str, list[str]] = {}
        for term, expansion in rows:
            entries.setdefault(term, []).append(expansion)
        return [Entry(term, tuple(expansions)) for term, expansions in entries.items()]

    def agency_counts(
        self,
        phrases: Sequence[str] = (),
        scope: Scope | None = None,
        leaving_out: Collection[str] = (),
    ) -> dict[str, int]:
        """{agency: passages (of the scope, but those whose ids are left out) mentioning any of the
        phrases}; every passage when no phrase is given."""
        expression = match_expression((), phrases) if phrases else None
        return self._counts("agency", expression, scope, leaving_out)

    def document_counts(self, phrases: Sequence[str] = ()) -> dict[str, int]:
        """{document: passages mentioning any of the phrases}; every passage when none is given."""
        return self._counts("document", match_expression((), phrases) if phrases else None)

    def _counts(
        self,
        column: str,
        expression: str | None,
        scope: Scope | None = None,
        leaving_out: Collection[str] = (),
    ) -> dict[str, int]:
        """{value of the column: passages (of the scope, but those left out) matching the FTS5
        expression}; every passage for None."""
        assert column in ("agency", "document")
        if expression == "":
            return {}
        conditions, params = [], []
        if expression is not None:
            conditions.append("passages MATCH ?")
            params.append(expression)
        if scope is not None:
            conditions.append("collection IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(scope.collections))
        if leaving_out:
            conditions.append("id NOT IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(leaving_out)))
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        sql = f"SELECT {column}, count(*) FROM passages {where}GROUP BY {column}"
        with self._reading():
            return dict(self._db.execute(sql, params).fetchall())

    def close(self) -> None:
        self._db.close()
        self._tokenizer.close()


@dataclass(frozen=True)
class _Passages:
    """What a search needs of each passage, by FTS5 rowid: its chunk id, and the fields a Filter
    reads (agency, document, year, collection)."""

    ids: np.ndarray
    columns: dict[str, Any]  # Filter's columns, strings Coded
    rowid: dict[str, int]  # chunk id -> rowid

    @classmethod
    def read(cls, db: sqlite3.Connection) -> _Passages:
        rows = db.execute(
            "SELECT rowid, id, agency, document, year, collection FROM passages ORDER BY rowid"
        ).fetchall()
        size = (rows[-1][0] + 1) if rows else 1
        ids = np.full(size, "", dtype=object)
        columns = {name: np.full(size, "", dtype=object) for name in FILTERED}
        columns["year"] = np.zeros(size, dtype=np.int64)
        for rowid, chunk_id, agency, document, year, collection in rows:
            ids[rowid] = chunk_id
            columns["agency"][rowid], columns["document"][rowid] = agency, document
            columns["year"][rowid], columns["collection"][rowid] = int(year or 0), collection
        return cls(ids, coded(columns), {row[1]: row[0] for row in rows})


class Scores:
    """One query's BM25 score for every passage of an index (0 where none of its words is)."""

    def __init__(self, passages: _Passages, scores: np.ndarray, held: np.ndarray) -> None:
        self._passages, self._scores, self._held = passages, scores, held

    def best(self, k: int, passages: Filter = Filter()) -> list[tuple[str, float]]:
        """(chunk id, score) of the k best passages holding the query's words and passing the
        filter, best first."""
        held, scores = self._held, self._scores
        if passages:
            held = held & passages.mask(self._passages.columns)
            scores = np.where(held, scores, 0.0)
        k = max(int(k), 0)
        if not k:
            return []
        found = _contenders(scores, held, k)
        best = found[np.lexsort((found, -scores[found]))][:k]  # ties: the passage indexed first
        return [(self._passages.ids[rowid], float(scores[rowid])) for rowid in best]

    def of(self, chunk_ids: Sequence[str]) -> list[float]:
        """The score of each passage named (0 for one the index does not hold)."""
        rowid = self._passages.rowid
        return [
            float(self._scores[rowid[chunk_id]]) if chunk_id in rowid else 0.0
            for chunk_id in chunk_ids
        ]


def _contenders(scores: np.ndarray, held: np.ndarray, k: int) -> np.ndarray:
    """The rows held whose score reaches the k-th best's (all of them if fewer than k). Those over
    a sampled cut come first: if k of them are, the k-th best is over it too, and the rest (most of
    40,000) are never gathered or partitioned."""
    cut = sampled_cut(scores, k)
    found = np.flatnonzero(scores >= cut) if cut > 0 else np.zeros(0, dtype=np.intp)
    if len(found) < k:
        found = np.flatnonzero(held)
    if len(found) > k:  # only those at least as good as the k-th best need sorting
        kth = np.partition(scores[found], len(found) - k)[len(found) - k]
        found = found[scores[found] >= kth]
    return found


def sync(store, index_dir: Path) -> tuple[KeywordIndex, bool]:
    """The keyword index for what the store holds now, rebuilt first if it is missing or stale."""
    path = Path(index_dir) / FILENAME
    wanted = fingerprint(store.fingerprint_rows())
    rebuilt = KeywordIndex.stored_fingerprint(path) != wanted
    if rebuilt:
        build(path, store.chunks(), wanted)
    return KeywordIndex(path), rebuilt
