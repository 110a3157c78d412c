import pytest
from conftest import FOUNDING

from kb.explore import (
    UnknownChunk,
    UnknownTheme,
    compare_agencies,
    default_themes,
    find_theme,
    load_themes,
    more_like_this,
)

PRIORITIES = [
    "Domestic abuse",
    "Neglect",
    "Mental health and emotional wellbeing",
    "Exploitation",
    "Training",
    "Early help and prevention",
    "Voice of the child",
    "Multi-agency working",
]


def test_the_themes_are_the_partnerships_priorities_kept_as_data():
    assert [theme.title for theme in default_themes()] == PRIORITIES
    assert all(theme.query and theme.name == theme.name.lower() for theme in default_themes())


@pytest.mark.parametrize("asked", ["neglect", "Neglect", " NEGLECT "])
def test_a_theme_is_found_by_name_or_title(asked):
    assert find_theme(asked).title == "Neglect"
    assert find_theme("Voice of the child").name == "voice-of-the-child"


def test_an_unknown_theme_lists_the_themes():
    with pytest.raises(
        UnknownTheme,
        match="no theme is called 'cooking'; the themes are: domestic-abuse, neglect, ",
    ):
        find_theme("cooking")


def test_a_malformed_themes_file_names_its_line(tmp_path):
    path = tmp_path / "themes.tsv"
    path.write_text("# comment\nneglect\tNeglect\n")
    with pytest.raises(ValueError, match=r"themes.tsv:2: expected NAME<TAB>TITLE<TAB>QUERY"):
        load_themes(path)


def test_compare_gives_each_agency_reached_its_own_best_passages(searcher):
    comparison = compare_agencies(searcher, "safeguarding training", per_agency=2)
    agencies = comparison.agencies
    assert len(agencies) >= 3 and len(set(agencies)) == len(agencies)
    assert [agency for agency, _ in comparison.columns if agency] == agencies
    for agency, hits in comparison.columns[: len(agencies)]:
        assert 1 <= len(hits) <= 2 and {hit.agency for hit in hits} == {agency}
        assert hits == searcher.search("safeguarding training", k=2, agency=agency).hits
    reached_first = [
        hit.agency for hit in searcher.search("safeguarding training", k=50).hits if hit.agency
    ]
    assert agencies == list(
        dict.fromkeys(reached_first)
    )  # the agency the query reaches most comes first


def test_passages_that_name_no_agency_come_last_in_a_group_of_their_own(searcher):
    query = "escalation policy when agencies disagree"
    comparison = compare_agencies(searcher, query, per_agency=2)
    assert len(comparison.agencies) >= 3
    unnamed, hits = comparison.columns[-1]
    assert unnamed == "" and "" not in comparison.agencies
    assert [hit.text for hit in hits] == [
        "Use the escalation policy when agencies disagree."
    ]  # notes.md names no agency
    assert hits == [hit for hit in searcher.search(query, k=50).hits if not hit.agency][:2]
    assert comparison.hits[-1] == hits[0]


def test_a_comparison_asks_the_model_to_read_the_query_once_however_many_agencies_it_reaches(
    searcher,
):
    before = searcher.embedder.encoded
    comparison = compare_agencies(searcher, "health visitors and school nurses")
    assert len(comparison.agencies) >= 3
    assert searcher.embedder.encoded - before == 1


def test_more_like_this_puts_other_agencies_first_and_leaves_out_the_passage_itself(searcher):
    start = searcher.search("domestic abuse clinic", k=1, agency="Bedfordshire").hits[0]
    near = more_like_this(searcher, start.id, k=6)
    assert near.passage.id == start.id
    assert near.other_agencies and all(hit.agency != start.agency for hit in near.other_agencies)
    assert near.same_agency and all(
        hit.agency == start.agency and hit.id != start.id for hit in near.same_agency
    )
    assert len(near.other_agencies) <= 6 and len(near.same_agency) <= 3
    scores = [hit.score for hit in near.other_agencies]
    assert scores == sorted(scores, reverse=True)


def test_more_like_this_of_a_passage_not_in_the_index_says_so(searcher):
    with pytest.raises(UnknownChunk, match="no passage 'feedface' is in the index"):
        more_like_this(searcher, "feedface")


def test_the_store_gives_a_passages_vector(searcher):
    chunk = next(iter(searcher.store.chunks(document=FOUNDING.name)))
    vector = searcher.store.vector(chunk.id)
    assert vector.shape == (searcher.embedder.dimension,)
    assert searcher.store.vector("feedface") is None
