"""The keyword side: BM25 over the stored chunks, in SQLite FTS5, derived from the vector store.

The vector store is the one source of truth. This index is a file rebuilt from the chunks it
holds whenever their fingerprint changes, so it can always be deleted and made again.

FTS5 scores a query by computing bm25() for every passage holding any of its words, which at
20,000 passages took 3.7 ms a query even with the commonest words left out. BM25 is a sum over
the query's words (and phrases), and a word's share of a passage's score depends on nothing but
the word and the passage. So the build also stores, for each word, the passages holding it and
its share of each one's score, and the same for every phrase of the glossary ("domestic abuse")
and of the acronyms the passages define: a query adds up a few stored arrays (0.8 ms at 20,000
passages, p95 1.0 ms, every word kept). Any other phrase is scored by FTS5 when asked for, and
the sum is exactly FTS5's bm25() for the whole query.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb.dates import year_of
from kb.errors import REBUILD, IndexDamaged
from kb.passage import FILTERED, Chunk, Filter
from kb.vocabulary import Entry, default_glossary, learn_definitions, phrase_pattern

# 2: long forms whose initials spell the acronym are learned whole; 3, 4: word, phrase scores stored
KEYWORD_VERSION = "6"
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
# (rowid, score) of every passage matching an FTS5 query, scored by FTS5 itself; higher is better.
_BM25 = (
    f"SELECT rowid, -bm25(passages, {', '.join(map(str, COLUMN_WEIGHTS))}) "
    "FROM passages WHERE passages MATCH ?"
)


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
-- For each word (as indexed: stemmed), the passages holding it and its share of their bm25()
-- scores.
CREATE TABLE words (token TEXT PRIMARY KEY, rowids BLOB NOT NULL, scores BLOB NOT NULL)
    WITHOUT ROWID;
-- The same for the glossary's phrases of two words or more (as query_parts writes them), the
-- expansions a query most often brings; other phrases are scored by FTS5 when asked for.
CREATE TABLE phrases (phrase TEXT PRIMARY KEY, rowids BLOB NOT NULL, scores BLOB NOT NULL)
    WITHOUT ROWID;
CREATE TABLE definitions (term TEXT NOT NULL, expansion TEXT NOT NULL, documents INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_PASSAGE_COLUMNS = (*COLUMNS, "id", "document", "agency", "year", "collection")


def build(
    path: Path,
    chunks: Iterable[Chunk],
    built_from: str,
    kept: tuple[Path, Collection[str]] | None = None,
) -> None:
    """Write a new keyword index beside the old one, then swap it in whole. With kept (another
    keyword index, and the documents of it that are gone or changed), the passages of its other
    documents are copied from it rather than given: a reindex that changes one report reads the
    rest from here, not from the vector store."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(partial) as db:
        db.executescript(_SCHEMA)
        if kept is not None:
            old, gone = kept
            db.execute("ATTACH DATABASE ? AS old", (str(old),))  # read, never written
            columns = ", ".join(_PASSAGE_COLUMNS)
            db.execute(
                f"INSERT INTO passages ({columns}) SELECT {columns} FROM old.passages "
                "WHERE document NOT IN (SELECT value FROM json_each(?)) ORDER BY rowid",
                (json.dumps(sorted(gone)),),
            )
            db.commit()
            db.execute("DETACH DATABASE old")
        rows = []
        for chunk in chunks:
            rows.append(
                (
                    chunk.text,
                    chunk.section,
                    f"{chunk.agency} {chunk.title}",
                    chunk.id,
                    chunk.document,
                    chunk.agency,
                    year_of(chunk.date),
                    chunk.collection,
                )
            )
        db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        texts = db.execute("SELECT document, text FROM passages ORDER BY rowid")
        learned = learn_definitions(texts)
        db.executemany("INSERT INTO definitions VALUES (?, ?, ?)", learned)
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("fingerprint", built_from), ("version", KEYWORD_VERSION)],
        )
        db.execute("INSERT INTO passages(passages) VALUES ('optimize')")
        db.executemany("INSERT INTO words VALUES (?, ?, ?)", _word_scores(db))
        glossary = [
            phrase
            for entry in default_glossary().entries
            for phrase in (entry.term, *entry.expansions)
        ]
        db.executemany(
            "INSERT INTO phrases VALUES (?, ?, ?)",
            _phrase_scores(
                db, [*glossary, *(phrase for term, long, _ in learned for phrase in (term, long))]
            ),
        )
    db.close()
    os.replace(partial, path)


def _word_scores(db: sqlite3.Connection) -> Iterator[tuple[str, bytes, bytes]]:
    """(token, rowids, scores) for every indexed word: its term of FTS5's bm25() in each passage
    holding it.

    bm25() = sum over the query's phrases of idf * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgD)),
    with f the phrase's count in the passage weighted by column, D the passage's length in tokens
    and avgD the mean length; idf = ln((N - n + 0.5) / (n + 0.5)) for n of N passages, at least
    1e-6.
    """
    db.execute("CREATE VIRTUAL TABLE temp.occurrences USING fts5vocab(main, passages, instance)")
    weight = " ".join(f"WHEN '{column}' THEN {w}" for column, w in zip(COLUMNS, COLUMN_WEIGHTS))
    rows = db.execute(
        f"SELECT term, doc, sum(CASE col {weight} ELSE 0 END) FROM temp.occurrences "
        "GROUP BY term, doc ORDER BY term, doc"
    ).fetchall()
    lengths = dict(db.execute("SELECT doc, count(*) FROM temp.occurrences GROUP BY doc").fetchall())
    db.execute("DROP TABLE temp.occurrences")
    if not rows:
        return
    passages = db.execute("SELECT count(*) FROM passages").fetchone()[0]
    length = np.zeros(max(lengths) + 1)
    length[list(lengths)] = list(lengths.values())
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / (length.sum() / passages))
    tokens = [row[0] for row in rows]
    rowids = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
    weighted = np.fromiter((row[2] for row in rows), dtype=np.float64, count=len(rows))
    scores = weighted * (BM25_K1 + 1) / (weighted + norm[rowids])
    starts = [at for at in range(len(tokens)) if at == 0 or tokens[at] != tokens[at - 1]] + [
        len(tokens)
    ]
    for start, end in zip(starts, starts[1:]):
        holding = end - start
        idf = max(math.log((passages - holding + 0.5) / (holding + 0.5)), 1e-6)
        yield (
            tokens[start],
            rowids[start:end].astype(np.int32).tobytes(),
            (idf * scores[start:end]).tobytes(),
        )


def _phrase_scores(
    db: sqlite3.Connection, phrases: Iterable[str]
) -> Iterator[tuple[str, bytes, bytes]]:
    """(phrase, rowids, scores): each phrase's term of bm25() in each passage holding it, scored by
    FTS5 alone."""
    for phrase in query_parts((), phrases):
        if " " in phrase:
            rowids, scores = _columns(db.execute(_BM25, (f'"{phrase}"',)).fetchall())
            yield phrase, rowids.astype(np.int32).tobytes(), scores.tobytes()


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
        self._held: dict[str, bool] = {}
        self._acronym: dict[str, bool] = {}
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
                raise IndexDamaged(
                    f"the keyword index {self.path} cannot be read ({error}): {REBUILD}"
                ) from None

    def check(self) -> int:
        """The passages the index holds, counted by reading its tables (the passages' text and the
        stored scores) from the file, on a connection of its own (the searches' keeps pages it
        has read), so that a damaged file says so here rather than in a search."""
        if not self.path.exists():  # pruned while open: the searches read what they opened
            with self._reading():
                return self._count(self._db)
        try:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
                return self._count(db)
        except sqlite3.DatabaseError as error:
            raise IndexDamaged(
                f"the keyword index {self.path} cannot be read ({error}): {REBUILD}"
            ) from None

    @staticmethod
    def _count(db: sqlite3.Connection) -> int:
        db.execute("SELECT count(*), max(length(scores)) FROM words").fetchone()
        return int(
            db.execute("SELECT count(*), max(length(c2)) FROM passages_content").fetchone()[0]
        )

    def _tokens(self, parts: Sequence[str]) -> list[list[str]]:
        """Each part's tokens as the index has them ("visitors" -> ["visitor"])."""
        return self._tokenizer.tokens(parts)

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

    def score(self, terms: Sequence[str], phrases: Sequence[str] = ()) -> Scores:
        """Every passage's BM25 score for the words and phrases, as FTS5's bm25() gives it."""
        scores = np.zeros(len(self._passages.ids))
        held = np.zeros(len(self._passages.ids), dtype=bool)
        parts = query_parts(terms, phrases)
        if not parts:
            return Scores(self._passages, scores, held)
        with self._reading():
            # phrases not stored, and words the tokenizer cuts in two ("e-mail"): scored by FTS5
            others = []
            for part, tokens in zip(parts, self._tokens(parts)):
                if not tokens:
                    continue  # nothing the index could hold ("__")
                row = self._stored(part, tokens)
                if row is None and len(tokens) > 1:
                    others.append(part)
                    continue
                if row:
                    rowids = np.frombuffer(row[0], dtype=np.int32)
                    scores[rowids] += np.frombuffer(row[1], dtype=np.float64)
                    held[rowids] = True
            if others:
                rowids, more = _columns(
                    self._db.execute(
                        _BM25, (" OR ".join(f'"{part}"' for part in others),)
                    ).fetchall()
                )
                scores[rowids] += more
                held[rowids] = True
        return Scores(self._passages, scores, held)

    def holds(self, phrase: str) -> bool:
        """Whether any passage holds the phrase, as a search for it would match (stemmed, words in
        order)."""
        held = self._held.get(phrase)
        if held is None:
            parts = query_parts(
                (), [phrase]
            )  # the phrase's words, as score() reads them: one part or none
            row = None
            if parts:
                with self._reading():
                    tokens = self._tokens(parts)[0]
                    row = self._stored(parts[0], tokens) if tokens else None
                    if row is None and len(tokens) > 1:
                        row = self._db.execute(
                            "SELECT 1 FROM passages WHERE passages MATCH ? LIMIT 1",
                            (f'"{parts[0]}"',),
                        ).fetchone()
            held = bool(row and row[0])
            self._held[phrase] = held
        return held

    def writes_as_acronym(self, term: str) -> bool:
        """Whether the passages that hold an acronym's word mostly write it as the acronym ("MASH"
        and "MASHs", not "mash"), so that a query typed in lower case means it; so too a word no
        passage holds ("ooh" for OOH). Read from up to ACRONYM_SAMPLE passages holding the word,
        once per word."""
        known = self._acronym.get(term)
        if known is None:
            known = True
            with self._reading():
                tokens = self._tokens([term])[0]
                row = self._stored(term, tokens) if len(tokens) == 1 else None
                if row:
                    rowids = np.frombuffer(row[0], dtype=np.int32)[:ACRONYM_SAMPLE].tolist()
                    texts = self._db.execute(
                        "SELECT text || ' ' || section FROM passages WHERE rowid IN "
                        f"({', '.join('?' * len(rowids))})",
                        rowids,
                    ).fetchall()
                    any_case = phrase_pattern(term, False)
                    written = [found for (text,) in texts for found in any_case.findall(text)]
                    as_acronym = sum(found.startswith(term) for found in written)
                    known = as_acronym * 2 > len(written) if written else True
            self._acronym[term] = known
        return known

    def _stored(self, part: str, tokens: list[str]) -> tuple[bytes, bytes] | None:
        """(rowids, scores) stored at build for a word, or for a phrase of several; None if not
        stored. A word not stored is in no passage; a phrase not stored is left for FTS5. Call with
        the lock held."""
        if len(tokens) == 1:
            return self._db.execute(
                "SELECT rowids, scores FROM words WHERE token = ?", tokens
            ).fetchone()
        return self._db.execute(
            "SELECT rowids, scores FROM phrases WHERE phrase = ?", (part,)
        ).fetchone()

    def definitions(self) -> list[Entry]:
        """Acronyms the indexed documents define themselves, most used long form first."""
        with self._reading():
            rows = self._db.execute(
                "SELECT term, expansion FROM definitions ORDER BY term, documents DESC"
            ).fetchall()
        entries: dict[str, list[str]] = {}
        for term, expansion in rows:
            entries.setdefault(term, []).append(expansion)
        return [Entry(term, tuple(expansions)) for term, expansions in entries.items()]

    def agency_counts(self, phrases: Sequence[str] = ()) -> dict[str, int]:
        """{agency: passages mentioning any of the phrases}; every passage when no phrase is
        given."""
        params: tuple[str, ...]
        if not phrases:
            sql, params = "SELECT agency, count(*) FROM passages GROUP BY agency", ()
        else:
            expression = match_expression((), phrases)
            if not expression:
                return {}
            sql = "SELECT agency, count(*) FROM passages WHERE passages MATCH ? GROUP BY agency"
            params = (expression,)
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
    columns: dict[str, np.ndarray]
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
        return cls(ids, columns, {row[1]: row[0] for row in rows})


class Scores:
    """One query's BM25 score for every passage of an index (0 where none of its words is)."""

    def __init__(self, passages: _Passages, scores: np.ndarray, held: np.ndarray) -> None:
        self._passages, self._scores, self._held = passages, scores, held

    def best(self, k: int, passages: Filter = Filter()) -> list[tuple[str, float]]:
        """(chunk id, score) of the k best passages holding the query's words and passing the
        filter, best first."""
        held = self._held
        if passages:
            held = held & passages.mask(self._passages.columns)
        found = np.flatnonzero(held)
        scores = self._scores
        k = max(int(k), 0)
        if len(found) > k:  # only those at least as good as the k-th best need sorting
            kth = np.partition(scores[found], len(found) - k)[len(found) - k] if k else np.inf
            found = found[scores[found] >= kth]
        best = found[np.lexsort((found, -scores[found]))][:k]  # ties: the passage indexed first
        return [(self._passages.ids[rowid], float(scores[rowid])) for rowid in best]

    def of(self, chunk_ids: Sequence[str]) -> list[float]:
        """The score of each passage named (0 for one the index does not hold)."""
        rowid = self._passages.rowid
        return [
            float(self._scores[rowid[chunk_id]]) if chunk_id in rowid else 0.0
            for chunk_id in chunk_ids
        ]


def sync(store, index_dir: Path) -> tuple[KeywordIndex, bool]:
    """The keyword index for what the store holds now, rebuilt first if it is missing or stale."""
    path = Path(index_dir) / FILENAME
    wanted = fingerprint(store.fingerprint_rows())
    rebuilt = KeywordIndex.stored_fingerprint(path) != wanted
    if rebuilt:
        build(path, store.chunks(), wanted)
    return KeywordIndex(path), rebuilt
