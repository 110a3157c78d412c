import pytest

from conftest import FOUNDING
from kb.explore import UnknownChunk, UnknownTheme, compare_agencies, default_themes, find_theme, load_themes, more_like_this

PRIORITIES = ["Domestic abuse", "Neglect", "Mental health and emotional wellbeing", "Exploitation", "Training",
              "Early help and prevention", "Voice of the child", "Multi-agency working"]


def test_the_themes_are_the_partnerships_priorities_kept_as_data():
    assert [theme.title for theme in default_themes()] == PRIORITIES
    assert all(theme.query and theme.name == theme.name.lower() for theme in default_themes())


@pytest.mark.parametrize("asked", ["neglect", "Neglect", " NEGLECT "])
def test_a_theme_is_found_by_name_or_title(asked):
    assert find_theme(asked).title == "Neglect"
    assert find_theme("Voice of the child").name == "voice-of-the-child"


def test_an_unknown_theme_lists_the_themes():
    with pytest.raises(UnknownTheme, match="no theme is called 'cooking'; the themes are: domestic-abuse, neglect, "):
        find_theme("cooking")


def test_a_malformed_themes_file_names_its_line(tmp_path):
    path = tmp_path / "themes.tsv"
    path.write_text("# comment\nneglect\tNeglect\n")
    with pytest.raises(ValueError, match=r"themes.tsv:2: expected NAME<TAB>TITLE<TAB>QUERY"):
        load_themes(path)


def test_compare_gives_each_agency_reached_its_own_best_passages(searcher):
    comparison = compare_agencies(searcher, "safeguarding training", per_agency=2)
    agencies = [agency for agency, _ in comparison.columns]
    assert len(agencies) >= 3 and len(set(agencies)) == len(agencies)
    for agency, hits in comparison.columns:
        assert 1 <= len(hits) <= 2 and {hit.agency for hit in hits} == {agency}
        assert hits == searcher.search("safeguarding training", k=2, agency=agency).hits
    reached_first = [hit.agency for hit in searcher.search("safeguarding training", k=50).hits if hit.agency]
    assert agencies == list(dict.fromkeys(reached_first))  # the agency the query reaches most comes first


def test_more_like_this_puts_other_agencies_first_and_leaves_out_the_passage_itself(searcher):
    start = searcher.search("domestic abuse clinic", k=1, agency="Bedfordshire").hits[0]
    near = more_like_this(searcher.store, start.id, k=6)
    assert near.passage.id == start.id
    assert near.other_agencies and all(hit.agency != start.agency for hit in near.other_agencies)
    assert all(hit.agency == start.agency and hit.id != start.id for hit in near.same_agency)
    assert len(near.other_agencies) <= 6 and len(near.same_agency) <= 3
    scores = [hit.score for hit in near.other_agencies]
    assert scores == sorted(scores, reverse=True)


def test_more_like_this_of_a_passage_not_in_the_index_says_so(searcher):
    with pytest.raises(UnknownChunk, match="no passage 'feedface' is in the index"):
        more_like_this(searcher.store, "feedface")


def test_the_store_gives_a_passages_vector(searcher):
    chunk = next(iter(searcher.store.chunks(document=FOUNDING.name)))
    vector = searcher.store.vector(chunk.id)
    assert vector.shape == (searcher.embedder.dimension,)
    assert searcher.store.vector("feedface") is None
