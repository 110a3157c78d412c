"""The keyword side: BM25 over the stored chunks, in SQLite FTS5, derived from the vector store.

The vector store is the one source of truth. This index is a file rebuilt from the chunks it
holds whenever their fingerprint changes, so it can always be deleted and made again.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from kb.chunk import Chunk
from kb.vocabulary import Entry, learn_definitions

KEYWORD_VERSION = "2"  # 2: long forms whose initials spell the acronym are learned whole
FILENAME = "keyword.sqlite"

# Words that carry no meaning for ranking. Short on purpose: "help", "risk", "care" and "out"
# carry meaning in this domain ("early help", "out of hours").
STOPWORDS = frozenset(
    """a about after all also am an and any are as at be been before being but by can could did do does
    doing for from had has have having he her here hers him his how i if in into is it its me my no nor
    not of on or our ours she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who whom why will
    with would you your yours""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)

# bm25() weights per column: the passage, its section heading, its agency and document title.
COLUMN_WEIGHTS = (1.0, 0.6, 0.3)


def query_terms(text: str) -> list[str]:
    """Distinct lower-case words of a query worth matching, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


def match_expression(terms: Sequence[str], phrases: Sequence[str] = ()) -> str:
    """An FTS5 query: any of the words, or any of the phrases; every part quoted, so no syntax leaks in."""
    parts = [f'"{term}"' for term in terms]
    for phrase in phrases:
        words = _WORD.findall(phrase.casefold())
        if words:
            parts.append('"' + " ".join(words) + '"')
    return " OR ".join(dict.fromkeys(parts))


def fingerprint(rows: Iterable[tuple[str, str]]) -> str:
    """What the keyword index was built from: every (chunk id, document hash) pair."""
    digest = hashlib.sha256(KEYWORD_VERSION.encode())
    for chunk_id, sha in sorted(rows):
        digest.update(f"{chunk_id}:{sha}\n".encode())
    return digest.hexdigest()


# In an index of more than COMMON_AFTER passages, a word in more than COMMON_SHARE of them is left
# out of a query that has rarer ones. (Applied to the golden set, 0.2 moved hit@1 +0.02, hit@5 -0.015,
# MRR@10 +0.01; 0.1 lost 0.04 MRR@10.)
COMMON_SHARE = 0.2
COMMON_AFTER = 2000

_SCHEMA = """
CREATE VIRTUAL TABLE passages USING fts5(
    text, section, source, id UNINDEXED, document UNINDEXED, agency UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE definitions (term TEXT NOT NULL, expansion TEXT NOT NULL, documents INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def build(path: Path, chunks: Iterable[Chunk], built_from: str) -> None:
    """Write a new keyword index beside the old one, then swap it in whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    texts: list[tuple[str, str]] = []
    with sqlite3.connect(partial) as db:
        db.executescript(_SCHEMA)
        rows = []
        for chunk in chunks:
            rows.append((chunk.text, chunk.section, f"{chunk.agency} {chunk.title}", chunk.id, chunk.document, chunk.agency))
            texts.append((chunk.document, chunk.text))
        db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.executemany("INSERT INTO definitions VALUES (?, ?, ?)", learn_definitions(texts))
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)", [("fingerprint", built_from), ("version", KEYWORD_VERSION)]
        )
        db.execute("INSERT INTO passages(passages) VALUES ('optimize')")
    db.close()
    os.replace(partial, path)


class KeywordIndex:
    """BM25 search over the passages, with the same agency and document filters as the vector side."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # One connection shared by the web server's threads; a query takes about a millisecond.
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._passages = self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
        self._shares: dict[str, float] = {}  # word -> share of passages holding it; the index never changes

    def share(self, term: str) -> float:
        """The share of passages that hold a word (as searched: stemmed), counted once."""
        if term not in self._shares:
            with self._lock:
                found = self._db.execute("SELECT count(*) FROM passages WHERE passages MATCH ?", (f'"{term}"',))
                self._shares[term] = found.fetchone()[0] / max(self._passages, 1)
        return self._shares[term]

    def telling(self, terms: Sequence[str]) -> list[str]:
        """The words worth matching on: those in at most COMMON_SHARE of the passages, or all if none is.

        BM25 gives a word in most passages little weight, yet matching it makes SQLite score every
        passage that holds it: at 20,000 passages that is most of a query's keyword time. Below
        COMMON_AFTER passages it costs under a millisecond, and every word is kept.
        """
        if self._passages <= COMMON_AFTER:
            return list(terms)
        rare = [term for term in terms if self.share(term) <= COMMON_SHARE]
        return rare or list(terms)

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
        agencies: Sequence[str] | None = None,
        document: str | None = None,
    ) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first; higher is better."""
        expression = match_expression(self.telling(terms), phrases)
        if not expression:
            return []
        sql = f"SELECT id, -bm25(passages, {', '.join(map(str, COLUMN_WEIGHTS))}) AS score FROM passages WHERE passages MATCH ?"
        params: list = [expression]
        if agencies:
            sql += f" AND agency IN ({', '.join('?' * len(agencies))})"
            params.extend(agencies)
        if document:
            sql += " AND document = ?"
            params.append(document)
        sql += " ORDER BY score DESC LIMIT ?"
        params.append(int(k))
        with self._lock:
            return [(chunk_id, float(score)) for chunk_id, score in self._db.execute(sql, params)]

    def definitions(self) -> list[Entry]:
        """Acronyms the indexed documents define themselves, most used long form first."""
        with self._lock:
            rows = self._db.execute("SELECT term, expansion FROM definitions ORDER BY term, documents DESC").fetchall()
        entries: dict[str, list[str]] = {}
        for term, expansion in rows:
            entries.setdefault(term, []).append(expansion)
        return [Entry(term, tuple(expansions)) for term, expansions in entries.items()]

    def agency_counts(self, phrases: Sequence[str] = ()) -> dict[str, int]:
        """{agency: passages mentioning any of the phrases}; every passage when no phrase is given."""
        if not phrases:
            sql, params = "SELECT agency, count(*) FROM passages GROUP BY agency", ()
        else:
            expression = match_expression((), phrases)
            if not expression:
                return {}
            sql = "SELECT agency, count(*) FROM passages WHERE passages MATCH ? GROUP BY agency"
            params = (expression,)
        with self._lock:
            return dict(self._db.execute(sql, params).fetchall())

    def close(self) -> None:
        self._db.close()


def sync(store, index_dir: Path) -> tuple[KeywordIndex, bool]:
    """The keyword index for what the store holds now, rebuilt first if it is missing or stale."""
    path = Path(index_dir) / FILENAME
    wanted = fingerprint(store.fingerprint_rows())
    rebuilt = KeywordIndex.stored_fingerprint(path) != wanted
    if rebuilt:
        build(path, store.chunks(), wanted)
    return KeywordIndex(path), rebuilt
