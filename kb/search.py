"""Query in, ranked and cited passages out."""

from __future__ import annotations

import copy
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from kb import editions, grades, standard
from kb.agencies import NAMED, AgencyPrior
from kb.answer import Answer, best_sentence
from kb.chunk import CHUNKER_VERSION
from kb.dates import from_name, year_of
from kb.embed import WEAK_SIMILARITY, Embedder
from kb.errors import (
    EmptyQuery,
    IndexLocked,
    QueryTooLong,
    UnknownAgency,
    UnknownCollection,
    UnknownDocument,
)
from kb.keyword import FILENAME as KEYWORD_FILE
from kb.keyword import STOPWORDS, KeywordIndex, Scope, Scores, query_terms
from kb.keyword import build as build_keyword
from kb.keyword import fingerprint as keyword_fingerprint
from kb.organisations import Organisations
from kb.passage import Chunk, Filter, Hit, IndexedDocument
from kb.recent import Recent
from kb.rules import RulePrior
from kb.settings import Settings
from kb.store import Manifest, Published, writer_lock
from kb.vocabulary import Glossary, default_glossary, number_forms

# Each side offers this many candidates to the fusion.
CANDIDATES = 50
# Convex fusion: the model's side weighs this much, the keyword side the rest (README, "How a query
# is ranked", has the measurements behind 0.6).
DENSE_WEIGHT = 0.6
# Reciprocal rank fusion, kept to compare with (`kb eval --retrieval rrf`): its authors' k.
RRF_K = 60
# What naming an agency ("the hospital") adds at full weight: a tenth of a perfect score under
# convex fusion, as much as a first place in one list under RRF.
AGENCY_BONUS = {"convex": 0.1, "rrf": 1.0 / (RRF_K + 1)}
NAMED_DEPTH = 20  # candidates of the organisations a query names, beside the best CANDIDATES
MAX_K = 100  # the most passages one search returns
QUOTES_KEPT = 256  # answers quoted, kept for a repeated query
# A footnote alone ("14 See 'Elective home education'…"): a short passage that opens with its
# number. Its score is multiplied by FOOTNOTE_WEIGHT, so a finding it annotates comes first.
FOOTNOTE = re.compile(
    r"^\d{1,3} +(?!(?:January|February|March|April|May|June|July|August|September|October|"
    r"November|December)\b)[A-Z‘'“\"(]"
)
FOOTNOTE_LENGTH = 400
FOOTNOTE_WEIGHT = 0.8
# A list's lead-in at least this long, repeated above the rest of its items (kb/chunk.py), makes
# passages that read alike: a result list shows one of them.
LEAD_IN_SHOWN_ONCE = 80
# A cover's lines ("Inspection dates: 12 to 23 January 2026 Lead inspector: …"): a document's first
# passage, under no section, with no sentence in it. Like a footnote alone, never the first answer.
SENTENCE_END = re.compile(r"[.!?][\"'”’)]*(?:\s|$)|:\s*$")
# A list of titles (further reading, related guidance): TITLES_LISTED or more bullets, each of at
# most TITLE_WORDS words and no sentence.
TITLES_LISTED = 3
TITLE_WORDS = 9
# A query's words that stand in a passage in the same order, three or more with one that means
# something ("was not brought"), raise its score by a share, PHRASE_GAIN for each word past two: a
# practitioner's term of art is a phrase, and BM25 scores its words apart. A share, so that what
# the corpus-aware weights gave way (standard text) stays given way.
PHRASE_WORDS = 3
PHRASE_MOST = 6  # the longest phrase looked for: past it, a query is a sentence, not a term
PHRASE_GAIN = 0.08
PHRASE_DEPTH = 20  # the candidates looked at for the query's phrases, after fusion


def is_minor(chunk: Chunk) -> bool:
    """A footnote on its own, a cover's lines, or a list of titles ("- Behaviour in schools",
    "- Child abuse", …): something a search may show but never first."""
    lines = chunk.text.splitlines()
    if len(lines) >= TITLES_LISTED and all(_is_listed_title(line) for line in lines):
        return True
    if len(chunk.text) >= FOOTNOTE_LENGTH:
        return False
    if FOOTNOTE.match(chunk.text):
        return True
    return chunk.position == 0 and not chunk.section and not SENTENCE_END.search(chunk.text)


def _is_listed_title(line: str) -> bool:
    return (
        line.startswith("- ")
        and len(line.split()) <= TITLE_WORDS
        and not SENTENCE_END.search(line.rstrip())
    )


def _phrases_first(
    ranked: list[str],
    phrases: list[tuple[str, ...]],
    fused: dict[str, float],
    top: Mapping[str, Chunk],
) -> list[str]:
    """The ranking with its top candidates (`top`, read) in order again, each that holds one of
    the query's phrases raised by the share PHRASE_GAIN for each of its words past two."""
    for chunk_id, chunk in top.items():
        longest = longest_phrase(phrases, chunk.text)
        if longest:
            fused[chunk_id] *= 1 + PHRASE_GAIN * (longest - PHRASE_WORDS + 1)
    head = ranked[:PHRASE_DEPTH]
    return sorted(head, key=lambda chunk_id: (-fused[chunk_id], chunk_id)) + ranked[len(head) :]


def _first_not_minor(ranked: list[str], minor: set[str], k: int) -> list[str]:
    """The ranking with its first passage that is not minor moved to the top, if one is in the
    first k."""
    if not ranked or ranked[0] not in minor:
        return ranked
    for place, chunk_id in enumerate(ranked[:k]):
        if chunk_id not in minor:
            return [chunk_id, *ranked[:place], *ranked[place + 1 :]]
    return ranked


def _words(text: str) -> list[str]:
    return re.findall(r"\w+(?:['’]\w+)*", text.casefold().replace("’", "'"))


def query_phrases(query: str) -> list[tuple[str, ...]]:
    """Runs of PHRASE_WORDS or more of the query's words that hold a word BM25 would score,
    longest first: the phrases a passage may hold as the query has them."""
    words = _words(query)
    runs = {
        tuple(words[start:end])
        for start in range(len(words))
        for end in range(start + PHRASE_WORDS, min(start + PHRASE_MOST, len(words)) + 1)
        if any(word not in STOPWORDS for word in words[start:end])
    }
    return sorted(runs, key=lambda run: (-len(run), run))


# A phrase in quotes ('The Deal', "Mockingbird family model", curly quotes too) is searched as
# written. An apostrophe is not a quote: an opening quote follows a space or the query's start, a
# closing one is followed by a space, punctuation or the end ("Wigan's", "parents' views").
QUOTED = re.compile(
    r"(?:^|(?<=[\s(\[]))['‘\"“]([^'‘’\"“”]*?[^\s'‘’\"“”])['’\"”](?=[\s.,;:!?)\]]|$)"
)


def quoted_phrases(query: str) -> list[tuple[str, ...]]:
    """The query's phrases in quotes that hold a word BM25 would score, as words."""
    found = (tuple(_words(phrase)) for phrase in QUOTED.findall(query))
    return list(
        dict.fromkeys(words for words in found if any(word not in STOPWORDS for word in words))
    )


def _quoted_first(
    ranked: list[str], quoted: list[tuple[str, ...]], read: Mapping[str, Chunk]
) -> list[str]:
    """The ranking with the passages read that hold every quoted phrase first, in their order."""
    holding = [
        chunk_id
        for chunk_id in ranked
        if chunk_id in read
        and all(longest_phrase([words], read[chunk_id].text) for words in quoted)
    ]
    if not holding:
        return ranked
    first = set(holding)
    return holding + [chunk_id for chunk_id in ranked if chunk_id not in first]


def longest_phrase(phrases: list[tuple[str, ...]], text: str) -> int:
    """How many words the longest of the phrases that stands in the text has; 0 for none."""
    held = f" {' '.join(_words(text))} "
    return next((len(run) for run in phrases if f" {' '.join(run)} " in held), 0)


@dataclass(frozen=True)
class Results:
    """The answer to one query: what was searched for as well, and the passages found."""

    query: str
    hits: list[Hit]
    expanded: list[str] = field(default_factory=list)
    took_ms: float = 0.0
    # No passage answers well: the closest in meaning is far off, or none uses the query's words
    # and the model is unsure (kb.embed.WEAK_SIMILARITY). The hits are the closest anyway.
    weak: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "expanded": list(self.expanded),
            "results": [hit.as_dict() for hit in self.hits],
            "took_ms": self.took_ms,
            "weak": self.weak,
        }


def clean_query(query: str | None, max_chars: int) -> str:
    """The query as searched, or a clear refusal."""
    query = " ".join((query or "").split())
    if not query:
        raise EmptyQuery(
            "the query is empty: type a few words, for example 'domestic abuse clinic'"
        )
    if len(query) > max_chars:
        raise QueryTooLong(f"the query is {len(query)} characters long; the limit is {max_chars}")
    return query


def resolve_agency(
    name: str, agencies: list[str], organisations: Organisations | None = None
) -> list[str]:
    """Agencies matching a name given by a user: exact, else case-insensitive part of the name,
    else another name of the same organisation ("ELFT", "BHFT", "East London NHS Foundation
    Trust"), as the glossary spells acronyms out."""
    wanted = " ".join(name.split()).casefold()
    exact = [agency for agency in agencies if agency.casefold() == wanted]
    if exact:
        return exact
    within = [agency for agency in agencies if wanted and wanted in agency.casefold()]
    if within:
        return within
    if organisations is not None and wanted:
        spoken = " ".join(name.split())
        variants = [
            agency
            for agency in agencies
            if organisations.same(agency, spoken) or organisations.same(agency, spoken.upper())
        ]
        if variants:
            return variants
    choices = "; ".join(agencies) or "none (the index is empty)"
    raise UnknownAgency(f"no agency matches {name!r}; the index holds: {choices}")


def resolve_collection(name: str, collections: list[str]) -> str:
    """The collection a user named: a folder under the corpus, in any case."""
    wanted = name.strip().strip("/").casefold()
    for collection in collections:
        if collection.casefold() == wanted:
            return collection
    choices = "; ".join(f"'{c}'" if c else "'' (the corpus's top folder)" for c in collections)
    raise UnknownCollection(f"no collection is called {name!r}; the index holds: {choices}")


def resolve_document(name: str, documents: list[str]) -> str:
    """The document a user named: its file name exactly, or a file name case-insensitively."""
    wanted = name.strip()
    if wanted in documents:
        return wanted
    folded = [document for document in documents if document.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0]
    choices = "; ".join(documents) or "none (the index is empty)"
    raise UnknownDocument(f"no document is called {name!r}; the index holds: {choices}")


def _joined(
    ranking: list[tuple[str, float]], more: list[tuple[str, float]]
) -> list[tuple[str, float]]:
    """A ranking with the candidates of another it lacks, best first."""
    held = {chunk_id for chunk_id, _ in ranking}
    return sorted(
        ranking + [(chunk_id, score) for chunk_id, score in more if chunk_id not in held],
        key=lambda pair: -pair[1],
    )


def convex_fusion(
    scored: Sequence[Sequence[tuple[str, float]]], weights: Sequence[float]
) -> dict[str, float]:
    """Bruch, Gai and Ingber (TOIS 2023): each list's scores divided by its best, summed by weight.

    A passage that a list does not hold scores there as that list's last one, the most it can
    have missed by. Unlike rank fusion, a passage that one side is sure of (BM25 far ahead on a
    rare word, the model far ahead on a paraphrase) keeps that lead when the other side lacks it.
    """
    shares = []
    for ranking in scored:
        best = max((score for _, score in ranking), default=0.0)
        shares.append(
            {item: max(score, 0.0) / best if best > 0 else 0.0 for item, score in ranking}
        )
    fused: dict[str, float] = {}
    for share in shares:
        for item in share:
            fused[item] = 0.0
    for share, weight in zip(shares, weights, strict=True):
        floor = min(share.values(), default=0.0)
        for item in fused:
            fused[item] += weight * share.get(item, floor)
    return fused


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """Cormack, Clarke and Buettcher (SIGIR 2009): each list gives 1 / (k + rank) to what it
    ranks."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


@dataclass(frozen=True)
class Retrieval:
    """Which parts of the ranking are used; all of them by default. `kb eval --compare` turns them
    off in turn."""

    dense: bool = True
    keyword: bool = True
    vocabulary: bool = True
    agency_aware: bool = True
    # standard text, editions, years and questions of rule (kb/standard.py, editions.py, rules.py)
    corpus_aware: bool = True
    fusion: str = "convex"  # or "rrf"
    dense_weight: float = (
        DENSE_WEIGHT  # convex fusion only; bench/retrieval_ceiling.py tries each in turn
    )


RETRIEVALS = {
    "bm25": Retrieval(dense=False, vocabulary=False, agency_aware=False),
    "dense": Retrieval(keyword=False, vocabulary=False, agency_aware=False),
    "hybrid": Retrieval(vocabulary=False, agency_aware=False),
    "hybrid+vocabulary": Retrieval(agency_aware=False),
    "hybrid+vocabulary+agency": Retrieval(),
    "rrf": Retrieval(fusion="rrf"),
}


class Searcher:
    """Built once per process from ready parts (open_searcher makes them): the store, keyword
    index and model stay loaded between queries. It reads one published generation, which never
    changes, so what it derives from that generation's citations, and the answers it gives, stay
    true."""

    def __init__(
        self,
        store: Published,
        embedder: Embedder,
        keyword: KeywordIndex,
        glossary: Glossary,
        organisations: Organisations | None = None,
        *,
        rules: RulePrior | None = None,
        max_query_chars: int = Settings.max_query_chars,
        retrieval: Retrieval = Retrieval(),
        answers_kept: int = Settings.answer_cache,
        default_collections: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.keyword = keyword
        self.glossary = glossary
        self.rules = rules or RulePrior(())
        self.organisations = organisations or Organisations.default()
        self.max_query_chars = max_query_chars
        self.retrieval = retrieval
        newer = editions.newer(store.catalogue())
        self._catalogue = [
            replace(entry, newer=newer.get(entry.document, "")) for entry in store.catalogue()
        ]
        self._agencies = sorted({agency for entry in self._catalogue for agency in entry.agencies})
        self._collections = sorted({entry.collection for entry in self._catalogue})
        self._agency_of: dict[str, str] = {}
        self._document_of: dict[str, str] = {}
        self._minor: set[str] = set()  # footnotes alone and covers: never a first answer
        self._graded: set[str] = set()  # grade tables: not first, unless asked for a judgement
        # Each standard passage's words, to tell when a query asks for it (kb/standard.py).
        self._standard_words: dict[str, frozenset[str]] = {}
        opening: dict[str, tuple[str, str]] = {}  # chunk id -> (document, its first line)
        for chunk in store.chunks():
            if is_minor(chunk):
                self._minor.add(chunk.id)
            elif chunk.section == grades.SECTION:
                self._graded.add(chunk.id)
            if chunk.standard:
                self._standard_words[chunk.id] = standard.words(chunk.text)
            first, _, rest = chunk.text.partition("\n")
            if rest and len(first) >= LEAD_IN_SHOWN_ONCE:
                opening[chunk.id] = (chunk.document, first)
        # The items of a long list, each under its lead-in again: a result list shows the best of
        # them, not four passages that read alike.
        repeated = Counter(opening.values())
        self._lead_in = {id_: key for id_, key in opening.items() if repeated[key] > 1}
        self.prior = self._agency_prior()
        for chunk_id, metadata in store.metadata():
            self._agency_of[chunk_id] = metadata.get("agency", "")
            self._document_of[chunk_id] = metadata.get("document", "")
        self._newer = newer
        # The years a query may name a document by: its date's, and its file name's where that
        # differs ("…_-_17_january_2019.pdf", inspected in November 2018, is "the 2019 report").
        self._years = {
            entry.document: {year_of(entry.date), year_of(from_name(entry.document))} - {0}
            for entry in self._catalogue
        }
        self._edition = editions.groups(self._catalogue)  # document -> its editions' key
        self._edition_years: dict[str, set[int]] = {}
        for document, edition in self._edition.items():
            self._edition_years.setdefault(edition, set()).update(self._years.get(document, ()))
        # The collections searched when a search names none (KB_COLLECTIONS): those of them the
        # index holds; all, if it holds none of them.
        folded = {name.strip("/").casefold() for name in default_collections}
        self.default_collections = [c for c in self._collections if c.casefold() in folded]
        # Repeated queries answered from memory; 0 turns it off.
        self._answers: Recent[tuple, Results] = Recent(answers_kept)
        self._beside = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kb-keyword")
        self._quotes: Recent[tuple, Answer] = Recent(QUOTES_KEPT)
        # The glossary and agency prior of each scope searched.
        self._scoped: dict[Scope, tuple[Glossary, AgencyPrior]] = {}

    def using(self, retrieval: Retrieval) -> Searcher:
        """The same searcher with other parts of the ranking turned on or off
        (`kb eval --compare`)."""
        other = copy.copy(self)
        other.retrieval = retrieval
        return other

    def warm_up(self) -> None:
        """The first call into the model and the store is slow; pay it before a user waits."""
        self.store.summarise()
        self._search("warm up the domestic abuse clinic", 1, Filter())
        # Each collection's scope, glossary and agency prior (the page offers each alone), and the
        # default collections' together, made before a user waits: 1 s for the library's 461
        # inspections, 0.2 s for the bundled corpus beside them.
        for collections in {(name,) for name in self._collections} | {
            tuple(self.default_collections)
        }:
            if collections:
                self._words_of(Filter(collections=collections))

    def close(self) -> None:
        """Let go of the generation: the keyword index's connections, the threads, the Chroma
        client."""
        self._beside.shutdown(wait=False, cancel_futures=True)
        self.keyword.close()
        self.store.close()

    @property
    def generation(self) -> str:
        """The index generation this searcher reads."""
        return self.store.generation

    def health(self) -> int:
        """The passages the store holds, asked of it now, after reading the keyword index's tables:
        a generation gone from under the searcher, or a damaged file, raises."""
        self.keyword.check()
        return self.store.stored_count()

    @property
    def agencies(self) -> list[str]:
        return list(self._agencies)

    def resolve_agency(self, name: str) -> list[str]:
        """The indexed agencies a user's name for one stands for (UnknownAgency if none)."""
        return resolve_agency(name, self._agencies, self.organisations)

    @property
    def documents(self) -> list[IndexedDocument]:
        """One entry per indexed document, by name."""
        return list(self._catalogue)

    def document(self, name: str) -> IndexedDocument:
        """The indexed document of that exact name; UnknownDocument for any other (a path leaving
        the corpus included)."""
        for entry in self._catalogue:
            if entry.document == name:
                return entry
        raise UnknownDocument(f"no document called {name[:200]!r} is in the index")

    def document_hashes(self) -> dict[str, str]:
        """{document name: content hash} for every indexed document."""
        return self.store.document_hashes()

    def passages(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """{id: chunk} for the ids the index holds."""
        return self.store.passages(ids)

    def passages_of(self, document: str) -> list[Chunk]:
        """A document's passages, in their order in it."""
        return sorted(self.store.chunks(document), key=lambda chunk: chunk.position)

    def vector_of(self, chunk_id: str) -> np.ndarray | None:
        """A passage's stored vector, or None if the index does not hold it."""
        return self.store.vector(chunk_id)

    def near(self, vector: np.ndarray, k: int, passages: Filter = Filter()) -> list[Hit]:
        """The k passages nearest a vector by meaning alone, best first."""
        return [Hit.of(chunk, score) for chunk, score in self.store.query(vector, k, passages)]

    @property
    def collections(self) -> list[str]:
        """The collections (folders under the corpus) the index holds; "" is the corpus's top."""
        return list(self._collections)

    def search(
        self,
        query: str,
        k: int = 10,
        agency: str | None = None,
        document: str | None = None,
        vector: np.ndarray | None = None,
        years: Sequence[int] = (),
        collections: Sequence[str] | None = None,
    ) -> Results:
        """The k best passages for a query, optionally from one agency or document, dated in these
        years, in these collections (None: those the settings search by default); a repeated query
        is answered from memory. vector, from query_vector(query), spares the model reading the same
        query again when it is searched several ways."""
        started = time.perf_counter()
        query = clean_query(query, self.max_query_chars)
        k = max(1, min(int(k), MAX_K))
        passages = Filter(
            agencies=tuple(self.resolve_agency(agency)) if agency else (),
            document=resolve_document(document, [e.document for e in self._catalogue])
            if document
            else None,
            years=tuple(sorted({int(year) for year in years})),
            collections=self._resolved(collections),
        )
        key = (query, k, passages, self.retrieval)
        results = self._answers.get(key)
        if results is None:
            results = self._search(query, k, passages, vector)
            self._answers.put(key, results)
        return replace(
            results,
            hits=list(results.hits),
            expanded=list(results.expanded),
            took_ms=_ms_since(started),
        )

    def answer(self, results: Results) -> Answer | None:
        """The sentence (or two) of the first passage that best answers the query, quoted exactly,
        as the model reads them; None when no passage answers well (kb/answer.py)."""
        if results.weak or not results.hits:
            return None
        key = (results.query, tuple(results.expanded), results.hits[0].id)
        quoted = self._quotes.get(key)
        if quoted is not None:
            return quoted
        wanted = {
            token
            for tokens in self.keyword.tokens([*query_terms(results.query), *results.expanded])
            for token in tokens
        }

        def overlap(found: list[str]) -> list[float]:
            held = self.keyword.tokens(found)
            return [len(wanted & set(tokens)) / max(len(wanted), 1) for tokens in held]

        found = best_sentence(
            self._encode(results.query, results.expanded), results.hits[0], self.embedder, overlap
        )
        if found is not None:
            self._quotes.put(key, found)
        return found

    def query_vector(self, query: str, collections: Sequence[str] | None = None) -> np.ndarray:
        """The model's vector for a query, as search() makes it in these collections (None: those
        searched by default)."""
        query = clean_query(query, self.max_query_chars)
        _, glossary, _ = self._words_of(Filter(collections=self._resolved(collections)))
        return self._encode(query, glossary.expand(query) if self.retrieval.vocabulary else [])

    def _resolved(self, collections: Sequence[str] | None) -> tuple[str, ...]:
        wanted = self.default_collections if collections is None else collections
        return tuple(resolve_collection(name, self._collections) for name in wanted)

    def _words_of(self, passages: Filter) -> tuple[Scope | None, Glossary, AgencyPrior]:
        """The keyword index's scope for the collections searched (None: all of them), and the
        glossary and agency prior of their documents: a search of some collections reads words as
        those collections' documents alone would (kb/keyword.py, Scope)."""
        scope = self.keyword.scope(passages.collections)
        if scope is None:
            return None, self.glossary, self.prior
        if scope not in self._scoped:
            self._scoped[scope] = (glossary_of(self.keyword, scope), self._agency_prior(scope))
        glossary, prior = self._scoped[scope]
        return scope, glossary, prior

    def _agency_prior(self, scope: Scope | None = None) -> AgencyPrior:
        """Which organisations a query's words name and which agencies are of each kind, read from
        the passages of the scope (every passage for None), their documents' titles, and which of
        them are standard text."""
        titles = [
            (entry.title, entry.agencies)
            for entry in self._catalogue
            if scope is None or entry.collection in scope.collections
        ]
        return AgencyPrior.from_index(
            self.keyword, titles=titles, scope=scope, standard=self._standard_words.keys()
        )

    def _encode(self, query: str, expanded: list[str]) -> np.ndarray:
        # The model reads the practitioner's words and what they stand for ("DA" -> "domestic
        # abuse").
        return self.embedder.encode([" ".join([query, *expanded])])[0]

    def _search(
        self, query: str, k: int, passages: Filter, vector: np.ndarray | None = None
    ) -> Results:
        started = time.perf_counter()
        use = self.retrieval
        scope, glossary, prior = self._words_of(passages)
        expanded = glossary.expand(query) if use.vocabulary else []
        if use.vocabulary:  # "2 year olds" meets "two-year-olds"
            expanded += [form for form in number_forms(query) if self.keyword.holds(form, scope)]
        if not self._agency_of:
            return Results(query, [], expanded, _ms_since(started))

        depth = max(CANDIDATES, k)
        aware = use.agency_aware and not passages.agencies
        weights = prior.weights(query, expanded) if aware else {}
        # An organisation the query names ("brent … judgement") has its own best passages among the
        # candidates, though 460 other reports' judgement tables outscore them on the other words.
        named = tuple(sorted(agency for agency, weight in weights.items() if weight >= NAMED))
        theirs = replace(passages, agencies=named) if named else None
        if (
            theirs is not None
            and not passages.years
            and (asked := self._editions_asked(query, named))
        ):
            # "surrey's last inspection…": Surrey's best passages are those of its latest report,
            # not of the four before it, which give way to it anyway.
            theirs = replace(theirs, years=asked)
        # BM25 runs in SQLite and numpy while the model works: both release the GIL, so on two cores
        # the keyword side costs little wall time.
        quoted = quoted_phrases(query) if use.keyword else []
        keyword = (
            self._beside.submit(
                self._keyword_side,
                query_terms(query),
                [*expanded, *(" ".join(words) for words in quoted)],
                depth,
                passages,
                theirs,
                scope,
            )
            if use.keyword
            else None
        )
        dense: list[tuple[str, float]] = []
        if use.dense:
            vector = self._encode(query, expanded) if vector is None else vector
            dense = self.store.nearest(vector, depth, passages)
            if theirs is not None:
                dense = _joined(dense, self.store.nearest(vector, NAMED_DEPTH, theirs))
        best_words: list[tuple[str, float]] = []
        if keyword is None:
            fused = convex_fusion([dense], [1.0])
        else:
            scores, best_words = keyword.result()
            if not use.dense:
                fused = convex_fusion([best_words], [1.0])
            elif use.fusion == "rrf":
                fused = reciprocal_rank_fusion(
                    [[chunk_id for chunk_id, _ in ranking] for ranking in (dense, best_words)]
                )
            else:
                assert vector is not None
                fused = self._fuse(vector, dense, best_words, scores, use.dense_weight)
        # A question of rule points at the documents that set rules (kb/rules.py), unless the
        # search is of one document.
        rule_setting = (
            self.rules.weights(query) if use.corpus_aware and passages.document is None else {}
        )
        if weights or rule_setting:
            for chunk_id, score in fused.items():
                weight = max(
                    weights.get(self._agency_of.get(chunk_id, ""), 0.0),
                    rule_setting.get(self._document_of.get(chunk_id, ""), 0.0),
                )
                fused[chunk_id] = score + AGENCY_BONUS[use.fusion] * weight
        minor: set[str] = set()  # rarely the answer
        if use.corpus_aware:
            self._weigh_documents(query, fused)
            minor = self._minor.intersection(fused)
            if not grades.asks_for_a_judgement(query):
                minor |= self._graded.intersection(fused)
            for chunk_id in minor:
                fused[chunk_id] *= FOOTNOTE_WEIGHT
        ranked = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))
        read: dict[str, Chunk] = {}  # passages already made, for the result list
        if use.keyword and (phrases := query_phrases(query)):
            read = self.store.passages(ranked[:PHRASE_DEPTH])
            # Where the query names an organisation, only its passages gain by a phrase: "Herts
            # 2023 … 16 and 17 year olds presenting as homeless" is asked of Hertfordshire, though
            # other authorities' reports hold "16 and 17 year olds" word for word.
            gaining = (
                {
                    chunk_id: chunk
                    for chunk_id, chunk in read.items()
                    if self._agency_of.get(chunk_id) in named
                }
                if named
                else read
            )
            ranked = _phrases_first(ranked, phrases, fused, gaining)
        if quoted:  # the candidates holding what the query quotes come first
            more = [chunk_id for chunk_id in ranked[:depth] if chunk_id not in read]
            read = {**read, **self.store.passages(more)}
            ranked = _quoted_first(ranked, quoted, read)
        if use.corpus_aware:
            ranked = _first_not_minor(ranked, minor, k)
        hits: list[Hit] = []
        shown_standard: list[standard.Signature] = []
        shown_lead_ins: set[tuple[str, str]] = set()
        for chunk_id, chunk in self._passages_in_turn(ranked, 2 * k, read):
            if chunk is None:
                continue
            if chunk.standard:  # one copy of a back page, not one from each report
                signature = standard.signature(chunk.text)
                if any(standard.same(signature, shown) for shown in shown_standard):
                    continue
                shown_standard.append(signature)
            if use.corpus_aware and (lead_in := self._lead_in.get(chunk_id)) is not None:
                if lead_in in shown_lead_ins:
                    continue
                shown_lead_ins.add(lead_in)
            document = self._document_of.get(chunk_id, "")
            hits.append(
                replace(Hit.of(chunk, fused[chunk_id]), newer=self._newer.get(document, ""))
            )
            if len(hits) == k:
                break
        weak = False
        if dense and self.embedder.name in WEAK_SIMILARITY:
            weak_below, unsure_below = WEAK_SIMILARITY[self.embedder.name]
            closest = max(score for _, score in dense)
            weak = closest < (weak_below if best_words else unsure_below)
        return Results(query, hits, expanded, _ms_since(started), weak=bool(hits) and weak)

    def _passages_in_turn(
        self, ranked: Sequence[str], step: int, read: Mapping[str, Chunk]
    ) -> Iterator[tuple[str, Chunk | None]]:
        """(chunk id, its chunk or None) in the order ranked, made a few at a time: a result list
        needs its first k or so, not the hundred candidates (1 ms a query at 40,000 passages).
        Those already read are not read again."""
        for start in range(0, len(ranked), step):
            batch = ranked[start : start + step]
            chunks = {**read, **self.store.passages([id_ for id_ in batch if id_ not in read])}
            for chunk_id in batch:
                yield chunk_id, chunks.get(chunk_id)

    def _editions_asked(self, query: str, agencies: Sequence[str]) -> tuple[int, ...]:
        """The years (as their dates have them) of the organisations' documents a query asks for
        by a year or as the latest; () when it asks for neither."""
        years = editions.years_named(query)
        if not years and not editions.asks_for_the_latest(query):
            return ()
        wanted = set(agencies)
        asked = [
            entry
            for entry in self._catalogue
            if wanted.intersection(entry.agencies)
            and (self._years.get(entry.document, set()) & years if years else not entry.newer)
        ]
        return tuple(sorted({year_of(entry.date) for entry in asked} - {0}))

    def _weigh_documents(self, query: str, fused: dict[str, float]) -> None:
        """Standard text and older editions give way to a document's own findings and to newer
        editions; a year the query names favours what is dated then (kb/standard.py,
        kb/editions.py)."""
        years = editions.years_named(query)
        latest = editions.asks_for_the_latest(query)
        asked = standard.words(query)
        for chunk_id, score in fused.items():
            document = self._document_of.get(chunk_id, "")
            held = self._standard_words.get(chunk_id)
            if held is not None and not asked <= held:
                score *= standard.WEIGHT  # unless every word the query asks for is in it
            if years and years & self._years.get(document, set()):
                score += editions.YEAR_BONUS
            elif years and self._edition_years.get(self._edition.get(document, ""), set()) & years:
                score *= editions.OLDER_WHEN_LATEST  # another edition is of the year asked for
            elif document in self._newer:
                score *= editions.OLDER_WHEN_LATEST if latest else editions.OLDER
            fused[chunk_id] = score

    def _fuse(
        self,
        vector: np.ndarray,
        dense: list[tuple[str, float]],
        best_words: list[tuple[str, float]],
        scores: Scores,
        dense_weight: float,
    ) -> dict[str, float]:
        """Convex fusion in which each side scores the other's candidates too, so no passage is
        fused on a guess. (Filling a missing score with the list's last one instead: hit@5 0.84,
        MRR@10 0.69.)"""
        in_dense = {chunk_id for chunk_id, _ in dense}
        in_words = {chunk_id for chunk_id, _ in best_words}
        only_words = [chunk_id for chunk_id, _ in best_words if chunk_id not in in_dense]
        only_dense = [chunk_id for chunk_id, _ in dense if chunk_id not in in_words]
        return convex_fusion(
            [
                dense + list(zip(only_words, self.store.similarities(vector, only_words))),
                best_words + list(zip(only_dense, scores.of(only_dense))),
            ],
            [dense_weight, 1.0 - dense_weight],
        )

    def _keyword_side(
        self,
        terms: list[str],
        expanded: list[str],
        depth: int,
        passages: Filter,
        theirs: Filter | None = None,
        scope: Scope | None = None,
    ) -> tuple[Scores, list[tuple[str, float]]]:
        """Every passage's BM25 score (over the scope's), and the best depth of them within the
        filter (and the best NAMED_DEPTH of the organisations the query names)."""
        scores = self.keyword.score(terms, expanded, scope)
        best = scores.best(depth, passages)
        if theirs is not None:
            best = _joined(best, scores.best(NAMED_DEPTH, theirs))
        return scores, best


def open_searcher(
    settings: Settings,
    embedder: Embedder | None = None,
    generation: str | None = None,
    retrieval: Retrieval = Retrieval(),
    warm: bool = True,
) -> Searcher:
    """The searcher the settings describe, opened and warmed up: the served generation (or the one
    named), its keyword index brought up to date, the glossary widened by the acronyms its documents
    define, and the model loaded unless one is given (a server moving to a new generation keeps its
    own). Not warmed up if warm is False: a one-off command pays only for what it asks (over the
    library, each collection's words and agency prior take 1.3 s that `kb search` need not wait
    for)."""
    from kb.embed import load_embedder

    # The store opens first, so a missing index fails fast, before the model loads.
    store = Published.open(
        settings.index_dir, settings.chroma_url, generation, settings.exact_search_up_to
    )
    try:
        embedder = embedder or load_embedder(
            settings.model, settings.embedder, settings.model_cache
        )
        store.check(Manifest(embedder.name, embedder.dimension, CHUNKER_VERSION))
        keyword = _keyword_index(settings, store)
    except BaseException:
        store.close()
        raise
    # Organisations' acronyms are read from the whole glossary, not only what the documents hold.
    known = default_glossary().with_learned(keyword.definitions())
    organisations = Organisations({entry.term: entry.expansions for entry in known.entries})
    searcher = Searcher(
        store,
        embedder,
        keyword,
        glossary_of(keyword),
        organisations,
        rules=RulePrior.from_index(keyword),
        max_query_chars=settings.max_query_chars,
        retrieval=retrieval,
        answers_kept=settings.answer_cache,
        default_collections=settings.collections,
    )
    if warm:
        searcher.warm_up()
    return searcher


def glossary_of(keyword: KeywordIndex, scope: Scope | None = None) -> Glossary:
    """The data file's glossary, plus the acronyms the documents (of the scope) define, adding to a
    query only what their passages hold."""
    return (
        default_glossary()
        .with_learned(keyword.definitions(scope))
        .held_in(
            partial(keyword.holds, scope=scope), partial(keyword.writes_as_acronym, scope=scope)
        )
    )


def _keyword_index(settings: Settings, store: Published) -> KeywordIndex:
    """The generation's keyword index, built first if it is missing or stale (a generation a
    reindex on another machine wrote to a Chroma server): under the writer lock, so that no reader
    rewrites a file a reindex is writing; while a reindex holds it (or the index folder is not
    ours to lock), into a file of this process's own, deleted once open."""
    path = store.home / KEYWORD_FILE
    wanted = keyword_fingerprint(store.fingerprint_rows())
    if KeywordIndex.stored_fingerprint(path) == wanted:
        return KeywordIndex(path)
    try:
        with writer_lock(settings.index_dir):
            if KeywordIndex.stored_fingerprint(path) != wanted:  # or another reader built it
                build_keyword(path, store.chunks(), wanted)
            return KeywordIndex(path)
    except (IndexLocked, PermissionError):
        pass
    handle, name = tempfile.mkstemp(prefix="kb-keyword-", suffix=".sqlite")
    os.close(handle)
    private = Path(name)
    try:
        build_keyword(private, store.chunks(), wanted)
        return KeywordIndex(private)
    finally:
        private.unlink(missing_ok=True)  # open already: the file lives until it is closed


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
