import sqlite3
from dataclasses import replace

import pytest
from conftest import make_chunk

from kb import keyword
from kb.keyword import KeywordIndex, build, fingerprint, match_expression, query_terms
from kb.passage import Chunk, Filter
from kb.recent import Recent


def chunk(id_, text, agency="Hospital Trust", document="a.pdf", section="Domestic Abuse") -> Chunk:
    return make_chunk(id_, text, document, "Report", agency, section, 1, 1, int(id_[1:]), "s")


CHUNKS = [
    chunk("c1", "The Domestic Abuse Clinic runs each week for staff who need advice out of hours."),
    chunk("c2", "Neglect training uses the graded care profile.", section="Neglect"),
    chunk(
        "c3",
        "Health visitors ask about domestic abuse at every contact.",
        agency="Community Health",
    ),
    chunk(
        "c4",
        "Domestic abuse is a priority for the partnership.",
        agency="Community Health",
        document="b.pdf",
    ),
    chunk(
        "c5",
        "The Multi-agency Risk Assessment Conference (MARAC) hears high risk cases.",
        section="MARAC",
    ),
]


@pytest.fixture
def index(tmp_path) -> KeywordIndex:
    path = tmp_path / "keyword.sqlite"
    build(path, CHUNKS, "print")
    return KeywordIndex(path)


def test_query_terms_drop_stopwords_and_repeats_but_keep_domain_words():
    assert query_terms("What does the hospital do for DA out of hours? DA!") == [
        "hospital",
        "da",
        "out",
        "hours",
    ]
    assert query_terms("early help") == ["early", "help"]
    assert query_terms("tier 4 beds and section 7 checks") == [
        "tier",
        "4",
        "beds",
        "section",
        "7",
        "checks",
    ]  # one digit is a word


@pytest.mark.parametrize(
    "hostile", ['"', "NEAR(a b)", "a* OR", "-x", "col:term", "^start", "(unbalanced"]
)
def test_fts_syntax_in_a_query_is_only_ever_words(index, hostile):
    expression = match_expression(query_terms(hostile), [hostile])
    assert index.search(query_terms(hostile), [hostile]) is not None  # no sqlite3.OperationalError
    assert all(
        part.startswith('"') and part.endswith('"') for part in expression.split(" OR ") if part
    )


def test_bm25_ranks_the_passage_with_the_rarer_words_first(index):
    ids = [chunk_id for chunk_id, _ in index.search(["clinic", "domestic", "abuse"])]
    assert ids[0] == "c1"
    assert set(ids) == {"c1", "c3", "c4"}


def test_scores_are_exactly_fts5s_bm25_for_the_whole_query(index):
    """Words are scored from the stored arrays, phrases by FTS5; the sum must be what FTS5 gives."""
    for terms, phrases in [
        (["clinic", "domestic", "abuse"], []),
        (["domestic"], ["risk assessment conference"]),
        (["visitors", "e-mail", "hours"], ["out of hours", "neglect"]),
        (["staff", "staff's"], []),
        (["priority", "partnership", "conference"], ["graded care profile", "health visitors"]),
    ]:
        assert_scored_as_fts5_scores(index, terms, phrases)


def assert_scored_as_fts5_scores(index: KeywordIndex, terms: list[str], phrases: list[str]) -> None:
    """The index's scores for the words and phrases are FTS5's own bm25() over its passages."""
    weights = ", ".join(map(str, keyword.COLUMN_WEIGHTS))
    expected = dict(
        index._db.execute(
            f"SELECT id, -bm25(passages, {weights}) FROM passages WHERE passages MATCH ?",
            (match_expression(terms, phrases),),
        ).fetchall()
    )
    found = dict(index.search(terms, phrases, k=50))
    assert found.keys() == expected.keys(), (index.path.name, terms, phrases)
    assert all(
        found[chunk_id] == pytest.approx(score, rel=1e-12) for chunk_id, score in expected.items()
    ), (index.path.name, terms, phrases)


def test_stored_phrases_and_phrases_fts5_scores_add_up_alike(index):
    """A glossary phrase is read from the index, any other phrase scored by FTS5: the same scores
    either way."""
    stored = {row[0] for row in index._db.execute("SELECT phrase FROM phrases")}
    # From the glossary, and from the definition the passages give (as query_parts writes a phrase).
    assert {"domestic abuse", "multi agency risk assessment conference"} <= stored
    assert "weekly clinic advice" not in stored and "risk assessment conference" not in stored
    weights = ", ".join(map(str, keyword.COLUMN_WEIGHTS))
    for phrases in (
        ["domestic abuse"],
        ["Weekly clinic, advice"],
        ["domestic abuse", "risk assessment conference"],
        ["Multi-agency Risk Assessment Conference", "out of hours"],
    ):
        expected = dict(
            index._db.execute(
                f"SELECT id, -bm25(passages, {weights}) FROM passages WHERE passages MATCH ?",
                (match_expression(["staff"], phrases),),
            ).fetchall()
        )
        found = dict(index.search(["staff"], phrases, k=50))
        assert found.keys() == expected.keys()
        assert all(
            found[chunk_id] == pytest.approx(score, rel=1e-12)
            for chunk_id, score in expected.items()
        )


def test_ties_keep_the_order_the_passages_were_indexed_in(tmp_path):
    path = tmp_path / "keyword.sqlite"
    build(path, [chunk(f"c{n}", "The same words in every passage.") for n in range(1, 8)], "print")
    found = KeywordIndex(path).search(["same", "words"], k=3)
    assert [chunk_id for chunk_id, _ in found] == ["c1", "c2", "c3"]
    assert len({score for _, score in found}) == 1


def test_stemming_matches_other_forms_of_a_word(index):
    assert [chunk_id for chunk_id, _ in index.search(["visitor"])] == ["c3"]  # "visitors"
    assert [chunk_id for chunk_id, _ in index.search(["trained"])] == ["c2"]  # "training"


def test_phrases_from_expansion_are_searched_as_phrases(index):
    ids = [chunk_id for chunk_id, _ in index.search([], ["risk assessment conference"])]
    assert ids == ["c5"]
    assert index.search([], ["conference risk assessment"]) == []  # the words, but not the phrase


@pytest.mark.parametrize(
    "phrase, held",
    [
        ("clinic", True),  # a word, from the stored words
        ("Visitors", True),  # stemmed and in any case, as a search matches it
        ("domestic abuse", True),  # a glossary phrase, stored at build
        ("risk assessment", True),  # a phrase the build did not store: FTS5 is asked
        ("kids", False),
        ("abuse domestic", False),  # the words, but not in that order
        ("national health service", False),
        ('"--"', False),  # no word at all
    ],
)
def test_holds_says_whether_any_passage_has_the_phrase(index, phrase, held):
    assert index.holds(phrase) is held
    assert index.holds(phrase) is held  # and again, from what it remembers


def test_filters_narrow_the_keyword_side(index):
    assert {
        c for c, _ in index.search(["domestic"], passages=Filter(agencies=("Community Health",)))
    } == {"c3", "c4"}
    assert {c for c, _ in index.search(["domestic"], passages=Filter(document="b.pdf"))} == {"c4"}
    assert {
        c
        for c, _ in index.search(
            ["domestic"], passages=Filter(agencies=("Community Health",), document="a.pdf")
        )
    } == {"c3"}
    assert index.search(["domestic"], passages=Filter(agencies=("Police",))) == []


def test_learned_definitions_come_with_the_index(index):
    assert [(entry.term, entry.expansions) for entry in index.definitions()] == [
        ("MARAC", ("Multi-agency Risk Assessment Conference",))
    ]


def test_agency_counts(index):
    assert index.agency_counts() == {"Hospital Trust": 3, "Community Health": 2}
    assert index.agency_counts(["health visitors", "neglect"]) == {
        "Hospital Trust": 1,
        "Community Health": 1,
    }


def test_fingerprint_changes_with_any_document_its_hash_or_its_passages():
    rows = [("a.pdf", "s", 3), ("b.pdf", "s", 2)]
    assert fingerprint(rows) == fingerprint(list(reversed(rows)))
    assert fingerprint(rows) != fingerprint([("a.pdf", "s", 3), ("b.pdf", "t", 2)])
    assert fingerprint(rows) != fingerprint([("a.pdf", "s", 3), ("b.pdf", "s", 1)])
    assert fingerprint(rows) != fingerprint(rows[:1])


class FakeStore:
    """What sync needs of the store: the rows it fingerprints and the chunks it copies."""

    def __init__(self, chunks):
        self.items = list(chunks)
        self.reads = 0

    def fingerprint_rows(self):
        from collections import Counter

        counted = Counter((c.document, c.sha256) for c in self.items)
        return [(document, sha, n) for (document, sha), n in counted.items()]

    def chunks(self):
        self.reads += 1
        return iter(self.items)


def test_sync_rebuilds_only_when_the_store_changed(tmp_path):
    store = FakeStore(CHUNKS)
    first, rebuilt = keyword.sync(store, tmp_path)
    assert rebuilt and store.reads == 1
    first.close()
    again, rebuilt = keyword.sync(store, tmp_path)
    assert not rebuilt and store.reads == 1
    again.close()
    store.items = CHUNKS[:2]
    smaller, rebuilt = keyword.sync(store, tmp_path)
    assert rebuilt and {c for c, _ in smaller.search(["domestic"])} == {"c1"}


@pytest.mark.parametrize("damage", ["delete", "garbage", "empty-meta"])
def test_a_missing_or_damaged_keyword_index_is_rebuilt(tmp_path, damage):
    store = FakeStore(CHUNKS)
    keyword.sync(store, tmp_path)[0].close()
    path = tmp_path / keyword.FILENAME
    if damage == "delete":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"not a database at all" * 100)
    else:
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM meta")
        db.close()
    index, rebuilt = keyword.sync(store, tmp_path)
    assert rebuilt
    assert index.search(["clinic"])[0][0] == "c1"
    assert not list(tmp_path.glob(".*partial"))  # the build left nothing behind


def test_how_the_passages_write_an_acronyms_word_decides_whether_lower_case_means_it(tmp_path):
    path = tmp_path / "keyword.sqlite"
    build(
        path,
        [
            chunk("c1", "Referrals to the MASH rose; the MASH triages every contact."),
            chunk("c2", "The MASHs of both councils met. Mash potato was served once."),
            chunk("c3", "Staff work to prevent harm and to prevent exclusions."),
            chunk("c4", "The Prevent duty applies to schools."),
        ],
        "print",
    )
    index = KeywordIndex(path)
    assert index.writes_as_acronym("MASH")  # four of five are the acronym
    assert not index.writes_as_acronym("PREVENT")  # two of three are the verb
    assert index.writes_as_acronym("OOH")  # in no passage: nothing says otherwise


def test_a_copy_with_passages_taken_out_and_put_in_scores_exactly_as_fts5_and_a_whole_build(
    tmp_path,
):
    """An index made from another by taking a document out and putting one in (as a reindex of one
    report does) scores every word and phrase as FTS5's bm25() does over it, and as an index built
    whole from the same passages."""
    first = tmp_path / "first.sqlite"
    build(first, CHUNKS, "first")
    added = [
        chunk("c6", "Domestic abuse training for health visitors, out of hours.", document="c.pdf"),
        chunk("c7", "The MARAC met weekly on domestic abuse.", document="c.pdf", section="MARAC"),
    ]
    copied = tmp_path / "copied.sqlite"
    build(copied, added, "copied", kept=(first, {"b.pdf"}))
    whole = tmp_path / "whole.sqlite"
    build(whole, [c for c in CHUNKS if c.document != "b.pdf"] + added, "whole")
    cases = [
        (["domestic", "abuse", "clinic"], []),
        (["training"], ["domestic abuse", "out of hours"]),
        (["marac", "weekly"], ["multi agency risk assessment conference"]),
        (["priority", "partnership"], ["health visitors"]),
    ]
    for path in (copied, whole):
        index = KeywordIndex(path)
        for terms, phrases in cases:
            assert_scored_as_fts5_scores(index, terms, phrases)
        index.close()
    assert "c4" not in dict(KeywordIndex(copied).search(["priority"]))  # b.pdf is out


def in_collection(passage: Chunk, collection: str) -> Chunk:
    return replace(passage, citation=replace(passage.citation, collection=collection))


def test_a_collection_searched_alone_scores_as_an_index_of_it_alone(tmp_path):
    """A partnership's own reports, searched in their own collection, score and read the glossary
    as they do indexed alone, though many inspections beside them use their words: "clinic" is rare
    in the reports and common in the inspections, and only the inspections define "DAC"."""
    own = [in_collection(c, "luton") for c in CHUNKS]
    beside = [
        in_collection(
            chunk(
                f"i{n}",
                f"Inspection {n}: the clinic and the Domestic Abuse Clinic (DAC) were seen.",
                document=f"inspection-{n}.pdf",
            ),
            "inspections",
        )
        for n in range(1, 9)
    ]
    build(tmp_path / "alone.sqlite", own, "alone")
    build(tmp_path / "both.sqlite", own + beside, "both")
    alone, both = KeywordIndex(tmp_path / "alone.sqlite"), KeywordIndex(tmp_path / "both.sqlite")
    scope = both.scope(["luton"])
    assert scope is not None and scope.documents == {"a.pdf", "b.pdf"}
    assert both.scope(["luton", "inspections"]) is None  # every passage: the whole index
    cases = [
        (["clinic", "domestic", "abuse"], []),
        (["clinic", "weekly"], ["domestic abuse", "out of hours"]),  # stored and FTS5's phrases
        (["visitors", "e-mail"], ["multi agency risk assessment conference"]),
    ]
    for terms, phrases in cases:
        expected = dict(alone.search(terms, phrases, k=50))
        found = dict(both.score(terms, phrases, scope).best(50))
        assert found.keys() == expected.keys(), (terms, phrases)
        assert all(found[c] == pytest.approx(s, rel=1e-12) for c, s in expected.items())
        # the whole index's statistics score the same passages otherwise
        whole = dict(both.score(terms, phrases).best(50, Filter(collections=("luton",))))
        assert whole.keys() == expected.keys()
    assert dict(both.search(["clinic"]))["c1"] < dict(alone.search(["clinic"]))["c1"]
    # What the glossary may add, and the acronyms the documents define, are the scope's.
    assert both.holds("inspection") and not both.holds("inspection", scope)
    assert both.holds("domestic abuse clinic", scope)  # c1 says it, and FTS5 finds it
    assert "DAC" in {e.term for e in both.definitions()}
    assert [e.term for e in both.definitions(scope)] == [e.term for e in alone.definitions()]
    assert both.agency_counts(["clinic"], scope) == alone.agency_counts(["clinic"])
    assert both.agency_counts(scope=scope) == alone.agency_counts() != both.agency_counts()


def test_a_words_share_of_the_score_is_read_once_then_kept_per_scope(tmp_path):
    """The second search for a word reads nothing from the file and scores exactly as the first;
    what is kept for a collection's scope is not used for the whole index, or the other way."""
    own = [in_collection(c, "luton") for c in CHUNKS]
    other = [in_collection(chunk("c9", "Domestic abuse training for schools."), "inspections")]
    build(tmp_path / "keyword.sqlite", own + other, "both")
    index = KeywordIndex(tmp_path / "keyword.sqlite")
    scope = index.scope(["luton"])
    statements: list[str] = []
    index._db.set_trace_callback(statements.append)
    terms, phrases = ["domestic", "abuse", "clinic"], ["domestic abuse"]
    first = index.score(terms, phrases).best(10)
    first_in_scope = index.score(terms, phrases, scope).best(10)
    read = sum("FROM words" in statement for statement in statements)
    assert read == 6  # each word, once for each scope
    assert first != first_in_scope and "c9" in dict(first) and "c9" not in dict(first_in_scope)
    statements.clear()
    assert index.score(terms, phrases).best(10) == first
    assert index.score(terms, phrases, scope).best(10) == first_in_scope
    assert not [statement for statement in statements if "FROM words" in statement]
    assert_scored_as_fts5_scores(index, terms, phrases)


def test_what_is_kept_stays_within_its_size_the_least_recently_used_going_first():
    kept = Recent(10)
    kept.put("a", 1, 4)
    kept.put("b", 2, 4)
    assert kept.get("a") == 1  # "b" is now the least recently used
    kept.put("c", 3, 4)
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (1, None, 3)
    kept.put("d", 4, 11)  # larger than the whole: never kept, nothing pushed out for it
    assert (kept.get("a"), kept.get("c"), kept.get("d")) == (1, 3, None)
