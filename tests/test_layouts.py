"""Next year's report as a PDF, laid out three ways: each passage keeps its agency.

tests/typeset.py sets the founding report's own text as PDFs: with the agency in a running header
on every page (as the original was), with each agency as a heading over its part, and as numbered
partner chapters after a contents page. Whatever the layout, the passages must be cited to the
agency they come from, bullets must be list items, and the real model must rank as it does on
the text version.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FOUNDING, FakeEmbedder, open_fake_searcher
from typeset import LAYOUTS, typeset

from kb.chunk import chunk_document
from kb.embed import token_counter
from kb.ingest import read_document
from kb.organisations import Organisations
from kb.passage import Chunk
from kb.settings import Settings

HOSPITAL, COMMUNITY, MENTAL_HEALTH = "Bedfordshire Hospitals", "Cambridgeshire Community", "ELFT"
PARTNERSHIP = "Luton Safeguarding Children Partnership"
# A phrase of each partner's part, and the partner.
PHRASES = {
    "Finally the Trust has a Domestic Abuse Clinic available each week": HOSPITAL,
    "includes a relaunch of ChatHealth": COMMUNITY,
    "ELFT procured two new GP surgeries in Luton": MENTAL_HEALTH,
    "Staff on Evergreen CAMHS inpatient unit have all attended": MENTAL_HEALTH,
}
SYMBOLS = re.compile("[\ue000-\uf8ff\x7f]")
ORGANISATIONS = Organisations.default()


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("layouts")
    return {layout: typeset(layout, folder / f"{layout}.pdf") for layout in LAYOUTS}


@pytest.fixture(scope="module")
def chunked(pdfs) -> dict[str, list[Chunk]]:
    count = token_counter()
    return {layout: chunk_document(read_document(pdf), count) for layout, pdf in pdfs.items()}


def partner(agency: str) -> str:
    """Which of the three partners an agency's name is, by any of its names; "" for none."""
    for name in (HOSPITAL, COMMUNITY, MENTAL_HEALTH):
        if ORGANISATIONS.same(agency, name) or name.casefold() in agency.casefold():
            return name
    return ""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_partners_passages_are_cited_to_it_whatever_the_layout(chunked, layout):
    chunks = chunked[layout]
    partners = {partner(chunk.agency) for chunk in chunks}
    assert partners == {HOSPITAL, COMMUNITY, MENTAL_HEALTH} | ({""} if "" in partners else set())
    # Passages under no partner's heading are the partnership's own (a cover, an introduction).
    assert {chunk.agency for chunk in chunks if not partner(chunk.agency)} <= {PARTNERSHIP}
    assert sum(partner(chunk.agency) != "" for chunk in chunks) >= 0.9 * len(chunks)
    for phrase, agency in PHRASES.items():
        holding = [chunk for chunk in chunks if phrase in " ".join(chunk.text.split())]
        assert holding and {partner(chunk.agency) for chunk in holding} == {agency}, phrase


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_partners_name_is_its_agency_not_a_section(chunked, layout):
    for chunk in chunked[layout]:
        assert not partner(chunk.section), chunk.section
        assert "........" not in chunk.text  # a contents page is not a passage


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bullets_a_symbol_font_drew_are_list_items(chunked, layout):
    texts = [chunk.text for chunk in chunked[layout]]
    assert not any(SYMBOLS.search(text) for text in texts)
    items = [line for text in texts for line in text.splitlines() if line.startswith("- ")]
    assert len(items) > 100  # the report has 141 items
    clinic = next(text for text in texts if "Domestic Abuse Clinic available each week" in text)
    assert any(
        line.startswith("- ") and "Domestic Abuse Clinic" in line for line in clinic.splitlines()
    )


@pytest.mark.parametrize("layout", ["agency-headings", "numbered-chapters"])
def test_an_organisation_named_deeper_than_the_partners_is_a_topic(chunked, layout):
    """A heading "St Giles Trust" under the hospital's section: its passages stay the hospital's."""
    giles = [chunk for chunk in chunked[layout] if "St Giles" in chunk.section]
    assert giles and {partner(chunk.agency) for chunk in giles} == {HOSPITAL}


def _index(root: Path, *files: Path) -> Settings:
    from kb.reindex import reindex

    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    for file in files:
        shutil.copy(file, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", model=FakeEmbedder.name)
    assert not reindex(settings, FakeEmbedder, token_counter()).failed
    return settings


def test_an_agency_is_found_by_any_of_its_names(pdfs, tmp_path):
    searcher = open_fake_searcher(_index(tmp_path, pdfs["numbered-chapters"]))
    assert searcher.resolve_agency("elft") == ["East London NHS Foundation Trust"]
    assert searcher.resolve_agency("CCS") == ["Cambridgeshire Community Services NHS Trust"]
    assert searcher.resolve_agency("bhft") == ["Bedfordshire Hospitals NHS Foundation Trust"]
    hits = searcher.search("trauma informed training", k=5, agency="elft").hits
    assert hits and {hit.agency for hit in hits} == {"East London NHS Foundation Trust"}


def test_a_new_reports_variant_of_an_indexed_agencys_name_is_cited_by_the_name_in_use(
    pdfs, tmp_path
):
    """The text version is indexed first; next year's PDF names ELFT in full: one agency, not 2."""
    from kb.reindex import reindex

    settings = _index(tmp_path, FOUNDING)
    shutil.copy(pdfs["numbered-chapters"], settings.corpus_dir)
    assert reindex(settings, FakeEmbedder, token_counter()).added == ["numbered-chapters.pdf"]
    agencies = set(open_fake_searcher(settings).agencies)
    assert agencies == {
        "Bedfordshire Hospitals Foundation Trust",
        "Cambridgeshire Community Services",
        "ELFT",
        PARTNERSHIP,
    }


def test_reindex_names_a_document_whose_headings_look_like_several_organisations(
    tmp_path, monkeypatch
):
    """Headings that read as organisations' names, but whose words the report also writes in lower
    case, cannot be told from topics: every passage goes to one agency, and reindex says so."""
    from kb.cli import cli

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "statements.md").write_text(
        "# Partner statements\n\n## Oak Tree Trust\n\nWe walked past the oak tree trust fund.\n\n"
        "## Riverside Council\n\nThe riverside council estate was visited.\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KB_MODEL", FakeEmbedder.name)
    result = CliRunner().invoke(
        cli, ["reindex", "--corpus", str(corpus), "--index", str(tmp_path / "index")]
    )
    assert result.exit_code == 0, result.output
    assert (
        "check: statements.md: every passage is cited to no agency, though its headings look "
        "like several organisations' (Oak Tree Trust; Riverside Council)"
    ) in result.stderr


def _about_the_founding_report(query: dict) -> bool:
    """A golden query whose right passage is the founding report's: it names the file, or one of
    the report's partners and no file."""
    if query.get("doc"):
        return query["doc"] == FOUNDING.name
    return bool(partner(query.get("agency", "")))


# --- the real model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_searchers(pdfs, tmp_path_factory):
    """Each layout, and the text version, indexed alone with the real model."""
    from kb.embed import load_embedder
    from kb.reindex import reindex
    from kb.search import open_searcher

    base = Settings.from_env()
    embedder = load_embedder(base.model, base.embedder, base.model_cache)
    opened = {}
    for layout, source in {"text": FOUNDING, **pdfs}.items():
        root = tmp_path_factory.mktemp(f"real-{layout}")
        (root / "corpus").mkdir()
        shutil.copy(source, root / "corpus")
        settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", answer_cache=0)
        assert not reindex(settings, lambda: embedder, token_counter()).failed
        opened[layout] = open_searcher(settings, embedder)
    return opened


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_missions_example_finds_the_hospitals_clinic_first_in_every_layout(
    real_searchers, layout
):
    first = real_searchers[layout].search("what does the hospital do for DA out of hours?").hits[0]
    assert "Domestic Abuse Clinic available each week" in " ".join(first.text.split())
    assert partner(first.agency) == HOSPITAL


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_golden_set_ranks_each_layout_as_it_ranks_the_text(real_searchers, layout):
    """The golden queries about the founding report score within 0.03 of the text version's
    (pages aside: a PDF's pages are its own)."""
    from kb.evaluate import GOLDEN, evaluate, load_queries

    queries = [query for query in load_queries(GOLDEN) if _about_the_founding_report(query)]
    assert len(queries) > 30

    def on(document: str) -> list[dict]:
        return [
            {k: (document if k == "doc" else v) for k, v in query.items() if k != "page"}
            for query in queries
        ]

    text = evaluate(real_searchers["text"], on(FOUNDING.name)).figures()
    pdf = evaluate(real_searchers[layout], on(f"{layout}.pdf")).figures()
    for figure in ("hit@1", "hit@5", "mrr@10"):
        assert pdf[figure] >= text[figure] - 0.03, (figure, pdf, text)
