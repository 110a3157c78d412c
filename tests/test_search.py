import dataclasses

import numpy as np
import pytest
from conftest import (
    FakeEmbedder,
    build_small_index,
    copy_index,
    index_texts,
    open_fake_searcher,
    server_database,
)

from kb.agencies import AgencyPrior, Kind
from kb.errors import UnknownAgency, UnknownDocument, UsageError
from kb.keyword import query_terms
from kb.passage import Filter
from kb.search import (
    DENSE_WEIGHT,
    RETRIEVALS,
    Retrieval,
    convex_fusion,
    reciprocal_rank_fusion,
)
from kb.store import Published
from kb.vocabulary import default_glossary

HOSPITAL = "Bedfordshire Hospitals Foundation Trust"
COMMUNITY = "Cambridgeshire Community Services"
FOUNDING = "luton-lscp-yearly-report-2023-24-partners-snapshot.txt"
BRADFORD_PDF = "bradford__childrens_services_inspection_-_21_may_2026.pdf"


@pytest.fixture(scope="module", params=["embedded", "chroma-server"])
def both_index(request, template_index, tmp_path_factory):
    """The small index, on the embedded store and again on a real `chroma run` server: every test
    that searches runs on both."""
    root = tmp_path_factory.mktemp("search")
    if request.param == "embedded":
        return copy_index(template_index, root)
    return build_small_index(root, server_database(request.getfixturevalue("chroma_server")))


@pytest.fixture(scope="module")
def searchers(both_index):
    """{"scan": the index searched in memory, "chroma-index": the same through Chroma's graph
    index}."""
    opened = {
        "scan": open_fake_searcher(both_index),
        "chroma-index": open_fake_searcher(dataclasses.replace(both_index, exact_search_up_to=0)),
    }
    yield opened
    for searcher in opened.values():
        searcher.close()


@pytest.fixture(scope="module")
def searcher(searchers):
    return searchers["scan"]


@pytest.fixture
def store(both_index):
    opened = Published.open(both_index.index_dir, both_index.chroma_url)
    yield opened
    opened.close()


def test_fusion_favours_what_both_lists_rank():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d", "a"]], k=60)
    assert sorted(fused, key=fused.get, reverse=True)[:2] == ["a", "c"]
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert fused["b"] == pytest.approx(1 / 62) and fused["d"] == pytest.approx(1 / 62)


def test_fusion_of_one_list_keeps_its_order_and_of_none_is_empty():
    fused = reciprocal_rank_fusion([["x", "y", "z"]])
    assert sorted(fused, key=fused.get, reverse=True) == ["x", "y", "z"]
    assert reciprocal_rank_fusion([]) == {} and reciprocal_rank_fusion([[], []]) == {}


def test_convex_fusion_scales_each_list_by_its_best_and_weighs_the_sides():
    dense = [("a", 0.8), ("b", 0.4)]
    keyword = [("b", 12.0), ("c", 3.0)]
    fused = convex_fusion([dense, keyword], [0.6, 0.4])
    assert fused["a"] == pytest.approx(
        0.6 * 1.0 + 0.4 * 0.25
    )  # missing from BM25: its last score there
    assert fused["b"] == pytest.approx(0.6 * 0.5 + 0.4 * 1.0)
    assert fused["c"] == pytest.approx(
        0.6 * 0.5 + 0.4 * 0.25
    )  # missing from dense: its last score there
    assert sorted(fused, key=fused.get, reverse=True) == ["a", "b", "c"]


def test_convex_fusion_keeps_a_lead_that_rank_fusion_loses():
    # BM25 is sure of "rare" (a rare word, far ahead); the model never listed it. Rank fusion
    # puts "both", middling in each list, first; convex fusion keeps the sure passage first.
    dense = [("x", 0.52), ("both", 0.50), ("y", 0.49)]
    keyword = [("rare", 20.0), ("z", 4.0), ("both", 3.9)]
    by_rank = reciprocal_rank_fusion([[item for item, _ in dense], [item for item, _ in keyword]])
    by_score = convex_fusion([dense, keyword], [0.5, 0.5])
    assert max(by_rank, key=by_rank.get) == "both"
    assert max(by_score, key=by_score.get) == "rare"


def test_convex_fusion_of_empty_or_scoreless_lists():
    assert convex_fusion([], []) == {} and convex_fusion([[], []], [0.6, 0.4]) == {}
    assert convex_fusion([[("a", 0.0), ("b", -0.2)]], [1.0]) == {"a": 0.0, "b": 0.0}
    with pytest.raises(ValueError):
        convex_fusion([[("a", 1.0)]], [0.6, 0.4])


@pytest.mark.parametrize("way", ["scan", "chroma-index"])
@pytest.mark.parametrize("mode", list(RETRIEVALS))
def test_agency_and_document_filters_hold_on_every_side(searchers, mode, way):
    searcher = searchers[way].using(RETRIEVALS[mode])
    by_agency = searcher.search("domestic abuse training for staff", k=20, agency="Community").hits
    assert by_agency and {hit.agency for hit in by_agency} == {COMMUNITY}
    by_document = searcher.search("leaders and social workers", k=20, document=BRADFORD_PDF).hits
    assert by_document and {hit.document for hit in by_document} == {BRADFORD_PDF}
    both = searcher.search("domestic abuse", k=20, agency="Hospitals", document=FOUNDING).hits
    assert both and {(hit.agency, hit.document) for hit in both} == {(HOSPITAL, FOUNDING)}


@pytest.mark.parametrize("weight", [DENSE_WEIGHT, 0.25])
@pytest.mark.parametrize("way", ["scan", "chroma-index"])
def test_a_passage_one_side_did_not_list_is_fused_on_that_sides_true_score(searchers, way, weight):
    """Not on the list's last score: each side scores the other's candidates, weighed as asked."""
    searcher = searchers[way].using(Retrieval(agency_aware=False, dense_weight=weight))
    query = "staff training on domestic abuse and neglect"
    expanded = searcher.glossary.expand(query)
    vector = searcher.embedder.encode([" ".join([query, *expanded])])[0]
    dense = dict(searcher.store.nearest(vector, 50))
    scores = searcher.keyword.score(query_terms(query), expanded)
    words = dict(scores.best(50))
    hits = searcher.search(query, k=100).hits
    lone = [hit for hit in hits if (hit.id in dense) != (hit.id in words)]
    assert lone, "the query should bring passages that only one side lists"
    for hit in lone:
        similarity = dense.get(hit.id) or searcher.store.similarities(vector, [hit.id])[0]
        bm25 = words.get(hit.id) or scores.of([hit.id])[0]
        expected = weight * max(similarity, 0) / max(dense.values()) + (1 - weight) * bm25 / max(
            words.values()
        )
        assert hit.score == pytest.approx(expected, abs=6e-5)  # hits carry 4 decimals


@pytest.mark.parametrize(
    "query", ["what does the hospital do for DA out of hours?", "support for children in care"]
)
def test_a_query_is_widened_only_by_phrases_the_index_holds(searcher, query):
    """The data file's glossary would add phrases no passage holds ("acute trust", "kids"); the
    searcher does not."""
    unheld = [
        phrase for phrase in default_glossary().expand(query) if not searcher.keyword.holds(phrase)
    ]
    assert unheld
    expanded = searcher.search(query).expanded
    assert expanded and not set(unheld) & set(expanded)
    assert all(searcher.keyword.holds(phrase) for phrase in expanded)


def test_up_to_a_hundred_passages_are_returned_when_asked(searcher):
    assert searcher.store.count() > 100
    hits = searcher.search("children and families", k=100).hits
    assert len(hits) == 100 and len({hit.id for hit in hits}) == 100


def test_a_query_of_exactly_the_longest_length_is_accepted(searcher):
    longest = ("neglect " * 200)[: searcher.max_query_chars].strip() + "s"
    assert len(longest) <= searcher.max_query_chars and searcher.search(longest, k=1).hits
    with pytest.raises(UsageError, match="characters long; the limit is"):
        searcher.search(longest + " more words", k=1)


def test_similarities_are_each_passages_own_including_the_first_stored(store):
    ids = [chunk.id for chunk in store.chunks()]
    matrix = {chunk_id: store.vector(chunk_id) for chunk_id in ids}
    vector = matrix[ids[3]]
    asked = [ids[0], "not-a-passage", ids[5], ids[0]]
    expected = [
        float(matrix[ids[0]] @ vector),
        0.0,
        float(matrix[ids[5]] @ vector),
        float(matrix[ids[0]] @ vector),
    ]
    assert store.similarities(vector, asked) == pytest.approx(expected, abs=1e-6)


def test_the_exact_scan_finds_what_chromas_index_finds(both_index):
    """A small index is scanned in memory. The scan is exact and Chroma's graph index approximate
    (on a server it can miss a neighbour), so the scan must find all the index finds, and nothing
    less similar."""
    scanned = Published.open(both_index.index_dir, both_index.chroma_url)
    indexed = Published.open(both_index.index_dir, both_index.chroma_url, exact_up_to=0)
    # the index above its limit never read the vectors
    assert scanned._scan is not None and indexed._scan is None
    filters = [
        Filter(),
        Filter(agencies=(HOSPITAL,)),
        Filter(agencies=(HOSPITAL, COMMUNITY)),
        Filter(document=BRADFORD_PDF),
        Filter(agencies=(HOSPITAL,), document=FOUNDING),
        Filter(agencies=("no such agency",)),
        Filter(not_agency=HOSPITAL),
        Filter(agencies=(HOSPITAL, COMMUNITY), not_agency=HOSPITAL, document=FOUNDING),
    ]
    embedder = FakeEmbedder()
    for query in (
        "domestic abuse clinic",
        "leaders and social workers",
        "training",
        "neglect toolkit",
    ):
        vector = embedder.encode([query])[0]
        for where in filters:
            by_scan, by_index = (
                scanned.nearest(vector, 20, where),
                indexed.nearest(vector, 20, where),
            )
            assert len(by_scan) == len(by_index)
            assert all(s >= t - 1e-5 for (_, s), (_, t) in zip(by_scan, by_index))  # rank by rank
            if by_scan:  # passages tied on similarity may come in either order
                cutoff = by_scan[-1][1] + 1e-5
                assert {i for i, t in by_index if t > cutoff} <= {i for i, _ in by_scan}
                assert by_scan[0][1] == pytest.approx(by_index[0][1], abs=1e-5)
            passing = {chunk.id for chunk in scanned.chunks() if _passes(chunk, where)}
            assert {i for i, _ in by_scan} <= passing
    scanned.close()
    indexed.close()


def test_a_scan_cut_in_two_halves_finds_what_one_pass_finds(store, monkeypatch):
    from kb.store import scan

    embedder = FakeEmbedder()
    vectors = [
        embedder.encode([query])[0] for query in ("domestic abuse clinic", "training", "leaders")
    ]
    whole = [store.nearest(vector, 30) for vector in vectors]
    monkeypatch.setattr(scan, "SPLIT_AT", 2)
    halves = [store.nearest(vector, 30) for vector in vectors]
    assert halves == whole and all(whole)


def _rows_like_embeddings(count: int, width: int, seed: int) -> np.ndarray:
    """Vectors with a few strong shared directions and a little of their own, as sentence
    embeddings are."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(count, 8)) @ rng.normal(size=(8, width)) * 3
    return (shared + rng.normal(size=(count, width))).astype(np.float32)


def _scan_of(matrix: np.ndarray):
    from kb.store.scan import Scan

    rows = len(matrix)
    columns = {
        "agency": np.array([f"agency {at % 5}" for at in range(rows)], dtype=object),
        "document": np.array([f"doc {at % 40}.pdf" for at in range(rows)], dtype=object),
        "year": np.array([2019 + at % 6 for at in range(rows)]),
        "collection": np.array(["inspections" if at % 3 else "luton" for at in range(rows)]),
    }
    return Scan([f"p{at}" for at in range(rows)], matrix, columns)


@pytest.mark.parametrize("dimensions", [1, 6, 12, 32])
def test_a_scan_that_reads_a_summary_first_finds_exactly_what_reading_every_row_finds(
    monkeypatch, dimensions
):
    """However little the summary keeps (one dimension of 32 rules out almost nothing; 32 of 32 all
    but k rows), the k nearest are the same passages with the same similarities, under every
    kind of filter, for k from 1 to more rows than pass."""
    from kb.store import scan

    matrix = _rows_like_embeddings(3000, 32, seed=dimensions)
    monkeypatch.setattr(scan, "SUMMARY_DIMENSIONS", dimensions)
    monkeypatch.setattr(scan, "SUMMARY_FROM", 0)
    summarised = _scan_of(matrix)
    assert summarised.summary is None  # until asked for
    summarised.summarise()
    monkeypatch.setattr(scan, "SUMMARY_FROM", 10**9)
    full = _scan_of(matrix)
    full.summarise()
    assert summarised.summary is not None and full.summary is None
    rng = np.random.default_rng(1)
    queries = [*rng.normal(size=(4, 32)), matrix[17] / np.linalg.norm(matrix[17])]
    filters = [
        Filter(),
        Filter(collections=("inspections",)),
        Filter(years=(2020, 2021), not_agency="agency 2"),
        Filter(agencies=("agency 1", "agency 3")),
        Filter(collections=("nowhere",)),
    ]
    for query in queries:
        query = (query / np.linalg.norm(query)).astype(np.float32)
        for where in filters:
            for k in (1, 10, 50, 1500, 5000):
                expected = full.nearest(query, k, where)
                found = summarised.nearest(query, k, where)
                assert _tied_together(found) == _tied_together(expected)
    assert summarised.nearest(queries[-1], 1)[0][0] == "p17"


def _tied_together(found: list[tuple[str, float]]) -> list[set[str]]:
    """A result list as its runs of equal similarity, best first: rows tied exactly may come in
    either order."""
    runs: list[set[str]] = []
    for at, (chunk_id, similarity) in enumerate(found):
        if at and similarity == found[at - 1][1]:
            runs[-1].add(chunk_id)
        else:
            runs.append({chunk_id})
    return runs


def test_the_summary_bounds_every_similarity_and_rules_out_most_rows():
    """The bound is never below a row's similarity, and with most of the energy kept it leaves a
    few rows to read in full: the speed the summary is for."""
    from kb.store.scan import Summary

    matrix = _rows_like_embeddings(4000, 48, seed=3)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    summary = Summary(matrix, 24)
    rng = np.random.default_rng(5)
    spike = np.zeros(48, dtype=np.float32)
    spike[7] = 1.0  # all of it in one dimension: the query's 8 bits have no room to spare
    nearly = spike.copy()
    nearly[8] = 1e-4  # and one that rounds off almost nothing but a little
    queries = [*rng.normal(size=(6, 48)).astype(np.float32), matrix[11].copy(), spike, nearly]
    for query in queries:
        query /= np.linalg.norm(query)
        similarity, bound = matrix @ query, summary.bound(query)
        assert (bound >= similarity).all()
        fiftieth = np.sort(similarity)[-50]
        assert (bound >= fiftieth).sum() < len(matrix) // 4


def test_a_summary_of_every_dimension_is_bounded_by_its_8_bit_rounding_alone():
    """Nothing is left out, so the bound's margin is all the rounding of the rows and the query to
    8 bits: still never below a similarity, and within 0.03 of it."""
    from kb.store.scan import Summary

    matrix = _rows_like_embeddings(3000, 64, seed=8)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    summary = Summary(matrix, 64)
    rng = np.random.default_rng(9)
    for query in [*rng.normal(size=(8, 64)).astype(np.float32), matrix[5].copy()]:
        query /= np.linalg.norm(query)
        margin = summary.bound(query) - matrix @ query
        assert margin.min() >= 0 and margin.max() < 0.03


def test_a_real_index_searched_through_its_summary_answers_as_before(store, monkeypatch):
    from kb.store import scan

    monkeypatch.setattr(scan, "SUMMARY_FROM", 0)
    monkeypatch.setattr(scan, "SUMMARY_DIMENSIONS", 8)
    summarised = Published.open(store.index_dir, store.chroma_url)
    try:
        summarised.summarise()
        assert summarised._scan is not None and summarised._scan.summary is not None
        embedder = FakeEmbedder()
        for query in ("domestic abuse clinic", "training", "leaders and social workers"):
            vector = embedder.encode([query])[0]
            for where in (Filter(), Filter(not_agency=HOSPITAL)):
                expected, found = (
                    store.nearest(vector, 30, where),
                    summarised.nearest(vector, 30, where),
                )
                assert _tied_together(found) == _tied_together(expected) and found
    finally:
        summarised.close()


def test_a_filter_that_passes_few_rows_reads_those_alone_and_finds_the_same(store, monkeypatch):
    from kb.store import scan

    vector = FakeEmbedder().encode(["domestic abuse clinic"])[0]
    narrow = [Filter(document=BRADFORD_PDF), Filter(agencies=(HOSPITAL,)), Filter(agencies=("x",))]
    few = [store.nearest(vector, 10, where) for where in narrow]
    monkeypatch.setattr(scan, "FEW", 0)  # every filter masks a product of all the rows
    whole = [store.nearest(vector, 10, where) for where in narrow]
    assert [[i for i, _ in found] for found in whole] == [[i for i, _ in found] for found in few]
    for found, expected in zip(whole, few, strict=True):
        assert [t for _, t in found] == pytest.approx([t for _, t in expected], abs=1e-6)
    assert few[0] and few[1] and not few[2]


def _passes(chunk, where: Filter) -> bool:
    """The filter's meaning, written out plainly."""
    return (
        (not where.agencies or chunk.agency in where.agencies)
        and (where.document is None or chunk.document == where.document)
        and (where.not_agency is None or chunk.agency != where.not_agency)
    )


def test_keyword_side_alone_finds_exact_words_the_fake_model_has_never_seen(searcher):
    searcher = searcher.using(RETRIEVALS["bm25"])
    hits = searcher.search("Domestic Abuse Clinic available each week", k=3).hits
    assert "Domestic Abuse Clinic available each week" in hits[0].text


def test_unknown_filters_name_the_choices(searcher):
    with pytest.raises(UnknownDocument, match="the index holds: .*notes.md"):
        searcher.search("abuse", document="../etc/passwd")
    with pytest.raises(UnknownAgency, match="the index holds"):
        searcher.search("abuse", agency="Metropolitan Police")
    assert searcher.search("abuse", document=FOUNDING.upper()).hits  # a file name in any case


def test_documents_lists_each_indexed_file_with_its_counts(searcher):
    rows = {entry.document: entry for entry in searcher.documents}
    assert set(rows) == {FOUNDING, BRADFORD_PDF, "notes.md"}
    assert rows[BRADFORD_PDF].pages >= 10 and rows[BRADFORD_PDF].chunks > 10
    assert rows[FOUNDING].agency in searcher.agencies
    assert sum(entry.chunks for entry in rows.values()) == searcher.health()


def test_agency_kinds_are_read_from_the_index_not_from_a_list(searcher):
    prior = searcher.prior
    assert set(prior.kinds_of["hospital"]) == {HOSPITAL}
    assert set(prior.kinds_of["community health"]) == {COMMUNITY}
    assert (
        "ELFT" in prior.kinds_of["mental health trust"]
    )  # no "mental health" in its name: its passages say it
    assert HOSPITAL not in prior.kinds_of["council"]
    assert [a for a in prior.names["bradford"] if a.startswith("Bradford")]  # its own name


@pytest.mark.parametrize(
    "query, favoured",
    [
        ("what does the hospital do for DA out of hours?", HOSPITAL),
        ("health visitors and neglect", COMMUNITY),
        ("CAMHS waiting times", "ELFT"),
        ("risk assessment training for child mental health staff", "ELFT"),
        ("Bradford care leavers", "Bradford"),
    ],
)
def test_a_query_naming_a_kind_of_agency_points_at_it(searcher, query, favoured):
    weights = searcher.prior.weights(query)
    assert max(weights, key=weights.get).startswith(favoured)


@pytest.mark.parametrize(
    "query", ["foundation years and early help", "families first for children"]
)
def test_a_word_that_says_what_an_organisation_is_names_none(searcher, query):
    """ "Foundation" and "families" are in organisations' names ("... Hospitals Foundation Trust",
    "Bradford Children and Families Trust"), but a query using them is not asking for those."""
    assert searcher.prior.weights(query) == {}


def test_a_query_naming_no_agency_points_at_none(searcher):
    assert searcher.prior.weights("neglect screening tool") == {}


def test_naming_the_hospital_brings_its_passages_up(searcher):
    # a query whose top 5 is not all the hospital's without the prior
    query = "the hospital and neglect"
    plain = [
        hit.agency for hit in searcher.using(Retrieval(agency_aware=False)).search(query, k=5).hits
    ]
    aware = [hit.agency for hit in searcher.using(Retrieval()).search(query, k=5).hits]
    assert aware.count(HOSPITAL) > plain.count(HOSPITAL)
    assert aware[0] == HOSPITAL


def test_an_agency_filter_overrides_the_named_kind(searcher):
    hits = searcher.search(
        "what does the hospital do for DA out of hours?", agency="Community", k=5
    ).hits
    assert {hit.agency for hit in hits} == {COMMUNITY}


def test_a_place_a_reports_title_names_names_the_partners_whose_parts_it_holds(searcher):
    """The founding report's title names Luton; its parts are the hospital's, the community
    trust's and the mental health trust's, and none of their names says Luton."""
    assert HOSPITAL in searcher.prior.names["luton"]
    assert HOSPITAL in searcher.prior.weights("Luton early help")
    assert "luton" not in AgencyPrior.from_index(searcher.keyword).names  # from names alone
    # A title's word that its passages write as a word, not a name, names nothing, though only the
    # hospital's passages use it.
    assert searcher.keyword.agency_counts(["admitted"]).keys() == {HOSPITAL}
    partners = searcher.prior.names["luton"]
    titled = AgencyPrior.from_index(searcher.keyword, titles=[("Admitted in Luton", partners)])
    assert "luton" in titled.names and "admitted" not in titled.names


def test_prior_from_a_custom_kinds_table(searcher):
    kinds = (Kind("trust", ("the trust",), ("Foundation Trust",)),)
    prior = AgencyPrior.from_index(searcher.keyword, kinds)
    assert set(prior.kinds_of["trust"]) == {HOSPITAL}
    assert prior.named_kinds("what did the trust do") == ["trust"]


@pytest.mark.usefixtures("backend")
def test_acronyms_a_document_defines_are_learned_at_reindex(settings, count_tokens):
    from kb.reindex import reindex

    (settings.corpus_dir / "panel.md").write_text(
        "# Panels\n\nThe Widget Assessment Panel (WAP) meets monthly to review referrals.\n",
        encoding="utf-8",
    )
    assert not reindex(settings, FakeEmbedder, count_tokens).failed
    searcher = open_fake_searcher(settings)
    results = searcher.search("when does the WAP meet")
    assert "Widget Assessment Panel" in results.expanded
    assert "WAP" in searcher.search("widget assessment panel").expanded
    assert results.hits[0].document == "panel.md"

    (settings.corpus_dir / "panel.md").unlink()  # the definition goes with its document
    reindex(settings, FakeEmbedder, count_tokens)
    searcher = open_fake_searcher(settings)
    assert "Widget Assessment Panel" not in searcher.search("when does the WAP meet").expanded


def test_a_reindex_that_changes_one_report_builds_the_keyword_index_it_would_build_whole(
    settings, count_tokens, monkeypatch, tmp_path
):
    """The served keyword index gives the passages of the reports that stay; the store is not
    read; and the result is the index a build from every passage in the store would be."""
    import sqlite3

    from kb import keyword
    from kb.reindex import reindex
    from kb.store import Published, Writer

    reindex(settings, FakeEmbedder, count_tokens)
    (settings.corpus_dir / "notes.md").write_text(
        "# Notes\n\nZanzibar protocol (ZP) for escalation.\n", encoding="utf-8"
    )
    (settings.corpus_dir / "added.md").write_text(
        "# Added\n\nThe Widget Assessment Panel (WAP) meets weekly.\n", encoding="utf-8"
    )

    def refused(self):
        raise AssertionError("every passage was read from the store")

    with monkeypatch.context() as patched:
        patched.setattr(Writer, "chunks", refused)
        assert reindex(settings, FakeEmbedder, count_tokens).keyword_rebuilt
    store = Published.open(settings.index_dir, settings.chroma_url)
    opened, rebuilt = keyword.sync(store, store.home)  # as a searcher opens it: nothing to build
    opened.close()
    assert not rebuilt
    whole = tmp_path / "whole.sqlite"
    keyword.build(whole, store.chunks(), "whole")

    def contents(path):
        with sqlite3.connect(path) as db:
            ids = dict(db.execute("SELECT rowid, id FROM passages"))
            words = {}
            for token, rowids, counts in db.execute("SELECT * FROM words"):
                rows = np.frombuffer(rowids, dtype=np.int32)
                words[token] = sorted(
                    zip((ids[row] for row in rows), np.frombuffer(counts).round(9), strict=True)
                )
            for phrase, rowids, counts in db.execute("SELECT * FROM phrases"):
                rows = np.frombuffer(rowids, dtype=np.int32)
                words[phrase] = sorted(
                    zip((ids[row] for row in rows), np.frombuffer(counts).round(9), strict=True)
                )
            lengths = sorted((ids[row], size) for row, size in db.execute("SELECT * FROM lengths"))
            passages = sorted(db.execute("SELECT * FROM passages"))
            learned = sorted(db.execute("SELECT * FROM definitions"))
        db.close()
        return passages, words, lengths, learned

    built = contents(store.home / keyword.FILENAME)
    assert built == contents(whole)
    assert any("Zanzibar" in row[0] for row in built[0])
    assert not any("policy when agencies disagree" in row[0] for row in built[0])
    assert ("WAP", "Widget Assessment Panel", 1) in built[3]
    store.close()


@pytest.mark.usefixtures("backend")
def test_keyword_index_follows_the_store_through_a_reindex(settings, count_tokens):
    from kb.reindex import reindex

    first = reindex(settings, FakeEmbedder, count_tokens)
    assert first.keyword_rebuilt
    assert not reindex(settings, FakeEmbedder, count_tokens).keyword_rebuilt  # nothing changed
    (settings.corpus_dir / "notes.md").write_text(
        "# Notes\n\nZanzibar protocol for escalation.\n", encoding="utf-8"
    )
    assert reindex(settings, FakeEmbedder, count_tokens).keyword_rebuilt
    searcher = open_fake_searcher(settings).using(RETRIEVALS["bm25"])
    assert searcher.search("zanzibar").hits[0].document == "notes.md"
    assert not searcher.search(
        "policy when agencies disagree", document="notes.md"
    ).hits  # the old text is gone


def test_a_repeated_query_is_answered_from_memory_without_the_model(both_index):
    searcher = open_fake_searcher(both_index)
    first = searcher.search("domestic abuse clinic", k=5)
    encoded = searcher.embedder.encoded
    again = searcher.search("  domestic   abuse clinic ", k=5)  # the same query, as searched
    assert again.hits == first.hits and searcher.embedder.encoded == encoded
    again.hits.clear()  # what a caller does with its answer does not reach the memory
    expanded = list(again.expanded)
    again.expanded.append("changed by the caller")
    remembered = searcher.search("domestic abuse clinic", k=5)
    assert remembered.hits == first.hits and remembered.expanded == expanded
    # Each filter, the number asked for and the ranking are part of what is remembered.
    narrowed = searcher.search("domestic abuse clinic", k=5, agency="Community")
    assert searcher.embedder.encoded == encoded + 1 and {hit.agency for hit in narrowed.hits} == {
        COMMUNITY
    }
    in_one = searcher.search("domestic abuse clinic", k=5, document=BRADFORD_PDF)
    assert searcher.embedder.encoded == encoded + 2 and {hit.document for hit in in_one.hits} == {
        BRADFORD_PDF
    }
    assert (
        len(searcher.search("domestic abuse clinic", k=3).hits) == 3
        and searcher.embedder.encoded == encoded + 3
    )
    # Another ranking: computed, not taken from memory.
    searcher.using(RETRIEVALS["dense"]).search("domestic abuse clinic", k=5)
    assert searcher.embedder.encoded == encoded + 4


def test_the_memory_of_answers_keeps_the_most_recent():
    from kb.recent import Recent
    from kb.search import Results

    answers = Recent(2)
    for name in ("a", "b"):
        answers.put((name,), Results(name, []))
    assert answers.get(("a",)).query == "a"  # "a" is now the most recent
    answers.put(("c",), Results("c", []))
    assert answers.get(("b",)) is None and answers.get(("a",)) and answers.get(("c",))


@pytest.mark.parametrize(
    "text, footnote",
    [
        ("14 See ‘Elective home education: departmental guidance’", True),
        ("3 The local authority must", True),
        ("1 April 2023 and 31 March 2024 were the dates", False),
        ("2. Agency achievements", False),
        ("Children who go missing", False),
    ],
)
def test_a_footnote_on_its_own_is_told_by_its_number(text, footnote):
    from kb.search import FOOTNOTE

    assert bool(FOOTNOTE.match(text)) is footnote


def _chunk(text: str, position: int = 3, section: str = "Schools’ responsibilities"):
    from kb.passage import Chunk, Citation

    return Chunk("x", text, Citation("a.pdf", "A", "", section, 1), position)


@pytest.mark.parametrize(
    "text, position, section, minor",
    [
        ("14 See 'Elective home education: guidelines for local authorities'.", 5, "S", True),
        ("Inspection dates: 12 to 23 January 2026 Lead inspector: Jo Bloggs, HMI", 0, "", True),
        ("Inspection dates: 12 to 23 January 2026", 0, "Judgement", False),  # under a section
        ("Inspection dates: 12 to 23 January 2026", 4, "", False),  # not the document's first
        ("This guidance sets out the duty. It replaces the 2016 version.", 0, "", False),
        ("When reviewing hospital activity, each area is set out below:", 0, "", False),
        ("- Behaviour in schools\n- Child abuse\n- Keeping children safe", 9, "S", True),
        ("- Behaviour in schools\n- Child abuse", 9, "S", False),  # two lines: not yet a list
        ("- Staff are trained.\n- Child abuse\n- Keeping children safe", 9, "S", False),
        ("- The Trust runs a weekly clinic for all victims who attend\n- b\n- c", 9, "S", False),
    ],
)
def test_footnotes_covers_and_lists_of_titles_are_minor(text, position, section, minor):
    from kb.search import is_minor

    assert is_minor(_chunk(text, position, section)) is minor


def test_a_minor_first_passage_gives_way_to_the_first_that_is_not_within_k():
    from kb.search import _first_not_minor

    assert _first_not_minor(["f", "a", "b"], {"f"}, 3) == ["a", "f", "b"]
    assert _first_not_minor(["f", "g", "a"], {"f", "g"}, 3) == ["a", "f", "g"]
    assert _first_not_minor(["f", "g", "a"], {"f", "g"}, 2) == ["f", "g", "a"]  # none in the k
    assert _first_not_minor(["a", "f"], {"f"}, 2) == ["a", "f"]
    assert _first_not_minor([], {"f"}, 2) == []


def test_a_querys_phrases_are_its_runs_of_three_to_six_words_holding_a_meaningful_one():
    from kb.search import longest_phrase, query_phrases

    phrases = query_phrases("What was NOT brought, appointments?")
    assert phrases[0] == ("what", "was", "not", "brought", "appointments")
    assert ("was", "not", "brought") in phrases
    assert ("what", "was", "not") not in phrases  # only words BM25 leaves out
    assert query_phrases("two words") == []
    assert max(map(len, query_phrases(" ".join(f"w{i}" for i in range(40))))) == 6
    text = "CCS ‘Was not brought’ policy has been updated"
    assert longest_phrase(phrases, text) == 3
    assert longest_phrase(phrases, "brought was not") == 0  # the words, not in the query's order
    assert longest_phrase(query_phrases("child's voice heard"), "the child’s voice heard") == 3


def test_the_items_of_a_long_list_under_its_lead_in_again_show_once(tmp_path):
    """A long list is cut into passages that each repeat its lead-in (kb/chunk.py); a query about
    the lead-in would list them all, reading alike. The best of them is shown, then other
    passages."""
    lead = (
        "The independence of the advocate is essential for them to act on behalf of the child, and "
        "the regulations say that advocacy may not be provided by the following people:"
    )
    items = "\n".join(
        f"- a person who {duty} the service that is the subject of the complaint, as the "
        f"regulations set out in paragraph {n} and the guidance explains at some length"
        for n, duty in enumerate(
            ["manages", "funds", "staffs", "inspects", "commissions", "audits", "oversees"], 1
        )
    )
    text = (
        f"# Advocacy guidance\n\n## Independence\n\n{lead}\n\n{items}\n\n## Complaints\n\n"
        "Children may complain with the help of an independent advocate at any stage.\n"
    )
    settings = index_texts(tmp_path, {"advocacy.md": text})
    searcher = open_fake_searcher(settings)
    everything = [c for c in searcher.store.chunks() if c.text.startswith(lead)]
    assert len(everything) >= 3  # the list runs over several passages, each under its lead-in
    hits = searcher.search("independence of the advocate act on behalf of the child", k=10).hits
    assert sum(hit.text.startswith(lead) for hit in hits) == 1
    assert any("complain with the help" in hit.text for hit in hits)  # the rest are still there
    only_words = searcher.using(Retrieval(corpus_aware=False))
    plain = only_words.search("independence of the advocate act on behalf of the child", k=10)
    assert sum(hit.text.startswith(lead) for hit in plain.hits) == len(everything)
    searcher.close()


@pytest.mark.parametrize(
    "query, quoted",
    [
        ("What was 'The Deal' in Wigan's 2017 Ofsted report?", [("the", "deal")]),
        ("“Step Up Step Down” in Greenwich", [("step", "up", "step", "down")]),
        (
            'the "Mockingbird" model, and "Signs of Safety".',
            [("mockingbird",), ("signs", "of", "safety")],
        ),
        ("kids' behaviour and the parents' views", []),  # apostrophes, not quotes
        ("Wigan's and Leeds's reports", []),
        ("'the' or 'a'", []),  # nothing BM25 would score
        ("an 'open quote only", []),
    ],
)
def test_a_phrase_in_quotes_is_read_as_written_and_an_apostrophe_is_not_a_quote(query, quoted):
    from kb.search import quoted_phrases

    assert quoted_phrases(query) == quoted


def test_the_passages_holding_a_quoted_phrase_come_first(tmp_path):
    """Unquoted, the query's words favour the passage that holds more of them; quoted, the one
    that holds the phrase as written is first."""
    text = (
        "# Wigan inspection\n\n## Partnerships\n\nThe council's strategy for children sets a deal "
        "between the council, its partners and its residents, and the strategy is well known.\n\n"
        "## Vision\n\nLaunched in 2015, The Deal sets out a clear vision for residents.\n"
    )
    settings = index_texts(tmp_path, {"wigan.md": text})
    searcher = open_fake_searcher(settings)
    try:
        unquoted = searcher.search("the council strategy deal for children and partners", k=2)
        quoted = searcher.search("the council strategy 'the deal' for children and partners", k=2)
    finally:
        searcher.close()
    assert unquoted.hits[0].section == "Partnerships"
    assert quoted.hits[0].section == "Vision"
    assert quoted.hits[1].section == "Partnerships"  # the others follow, not dropped
