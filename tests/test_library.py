"""A library, not six documents: collections, dates and editions, standard text, organisations named
by the administrator, and places a query names. A small library of Markdown reports stands in for
the 461 inspections (tests/test_end_to_end.py and bench/library.py use the real ones)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FakeEmbedder, open_fake_searcher

from kb import standard
from kb.cli import cli
from kb.embed import token_counter
from kb.errors import UnknownCollection
from kb.reindex import reindex
from kb.settings import Settings

BACK_PAGE = (
    "The Office for Standards in Education regulates and inspects to achieve excellence in the "
    "care of children. This publication is available under the Open Government Licence; to view "
    "this licence, write to the Information Policy Team."
)
FINDINGS = {
    "bristol": "Bristol's exploitation team meets young people at the harbour each week.",
    "leeds": "Leeds care leavers have personal advisers who stay with them to the age of 25.",
    "dorset": "Dorset's overall effectiveness is good; its leaders know the service well.",
}


def report(place: str, year: int, finding: str) -> str:
    return (
        f"# Inspection of {place.title()} children's services\n\nInspection dates: 3 to 7 March "
        f"{year}\n\n## Headline findings\n\n{finding}\n\n## Ofsted\n\n{BACK_PAGE} Reference "
        f"{year}{len(place)}.\n"
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("library")
    corpus = root / "corpus"
    (corpus / "inspections").mkdir(parents=True)
    (corpus / "luton").mkdir()
    for place, finding in FINDINGS.items():
        path = corpus / "inspections" / f"{place}__childrens_services_inspection_-_10_may_2025.md"
        path.write_text(report(place, 2025, finding), encoding="utf-8")
    older = "Leeds care leavers lost touch with their advisers at 18."
    (corpus / "inspections" / "leeds__childrens_services_inspection_-_27_march_2015.md").write_text(
        report("leeds", 2015, older), encoding="utf-8"
    )
    (corpus / "luton" / "police-statement.md").write_text(
        "# Annual statement 2024\n\nThe exploitation team reviews every missing child.\n",
        encoding="utf-8",
    )
    (corpus / "documents.csv").write_text(
        "file,organisation,title,date\nluton/police-statement.md,Bedfordshire Police,,2024-06\n"
        "inspections/bristol__childrens_services_inspection_-_10_may_2025.md,"
        "Bristol City Council,,\n",
        encoding="utf-8",
    )
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", model=FakeEmbedder.name)
    assert not reindex(settings, FakeEmbedder, token_counter()).failed
    return settings


@pytest.fixture(scope="module")
def searcher(library):
    opened = open_fake_searcher(library)
    yield opened
    opened.close()


def test_standard_text_never_outranks_a_reports_own_findings_and_shows_once(searcher):
    hits = searcher.search("Bristol exploitation team inspects young people", k=10).hits
    assert "harbour" in hits[0].text
    copies = [standard.key(hit.text) for hit in hits if hit.standard]
    assert not hits[0].standard and copies  # the back page and "Inspection dates: …" are standard
    assert len(copies) == len(set(copies))  # the four copies of each show as one
    asked = searcher.search("Office for Standards in Education open government licence", k=5).hits
    assert asked[0].standard == 4 and "Open Government Licence" in asked[0].text


def test_every_passage_has_its_documents_date_and_collection(searcher):
    dated = {entry.document: (entry.date, entry.collection) for entry in searcher.documents}
    assert dated["luton/police-statement.md"] == ("2024-06", "luton")  # from documents.csv
    leeds = "inspections/leeds__childrens_services_inspection_-_27_march_2015.md"
    assert dated[leeds] == ("2015-03-07", "inspections")  # from the title page, not the name


def test_a_year_and_a_collection_narrow_a_search(searcher):
    hits = searcher.search("care leavers advisers", k=10, years=[2015]).hits
    assert hits and {hit.date[:4] for hit in hits} == {"2015"}
    hits = searcher.search("exploitation team", k=10, collections=["Luton"]).hits
    assert hits and {hit.collection for hit in hits} == {"luton"}
    with pytest.raises(UnknownCollection, match="the index holds: 'inspections'; 'luton'"):
        searcher.search("exploitation", collections=["library"])


def test_an_administrators_default_collections_are_searched_unless_a_search_says_otherwise(
    library,
):
    own = open_fake_searcher(dataclasses.replace(library, collections=("luton",)))
    assert {hit.collection for hit in own.search("exploitation team", k=10).hits} == {"luton"}
    everything = own.search("exploitation team", k=10, collections=[]).hits
    assert {hit.collection for hit in everything} == {"luton", "inspections"}


def test_the_newer_edition_wins_a_tie_and_the_latest_is_what_latest_asks_for(searcher):
    older = "inspections/leeds__childrens_services_inspection_-_27_march_2015.md"
    newer = "inspections/leeds__childrens_services_inspection_-_10_may_2025.md"
    hits = searcher.search("Leeds care leavers latest inspection", k=10).hits
    assert hits[0].document == newer
    old = next(hit for hit in hits if hit.document == older)
    assert old.newer == "2025-03-07"  # labelled with the newer edition's date
    in_2015 = searcher.search("Leeds care leavers inspection 2015", k=3).hits
    assert in_2015[0].document == older


def test_a_place_a_query_names_favours_its_organisations_documents(searcher):
    assert "Bristol City Council" in searcher.prior.weights("Bristol CSE team")
    hits = searcher.search("Bristol exploitation", k=3).hits
    assert hits[0].agency == "Bristol City Council"


def test_the_administrators_file_names_an_organisation_and_reindex_names_those_without(
    library, tmp_path
):
    hits = {hit.document: hit for hit in open_fake_searcher(library).search("missing child").hits}
    assert hits["luton/police-statement.md"].agency == "Bedfordshire Police"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "statement.md").write_text("# Statement\n\nWe met every week.\n", encoding="utf-8")
    run = CliRunner().invoke(
        cli,
        ["reindex", "--corpus", str(corpus), "--index", str(tmp_path / "index")],
        env={"KB_MODEL": FakeEmbedder.name},
    )
    assert "no organisation: statement.md" in run.stderr
    # Naming one in documents.csv re-indexes that document alone.
    (corpus / "documents.csv").write_text(
        "file,organisation\nstatement.md,Luton Borough Council\nmissing.md,Nobody\n",
        encoding="utf-8",
    )
    run = CliRunner().invoke(
        cli,
        ["reindex", "--corpus", str(corpus), "--index", str(tmp_path / "index")],
        env={"KB_MODEL": FakeEmbedder.name},
    )
    assert "0 added, 1 updated" in run.stdout and "no organisation" not in run.stderr
    assert "documents.csv names missing.md, which is not in the corpus" in run.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,organisation\nx.md,Y\n", "the first row names the columns, from file, organisation"),
        ("file,date\nx.md,May 2024\n", "documents.csv:2: the date 'May 2024' is not a year"),
    ],
)
def test_a_bad_administrators_file_is_refused_with_where_and_why(tmp_path, content, message):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "x.md").write_text("# X\n\nText.\n", encoding="utf-8")
    (corpus / "documents.csv").write_text(content, encoding="utf-8")
    run = CliRunner().invoke(
        cli,
        ["reindex", "--corpus", str(corpus), "--index", str(tmp_path / "index")],
        env={"KB_MODEL": FakeEmbedder.name},
    )
    assert run.exit_code == 1 and message in run.stderr
    assert not Path(tmp_path / "index" / "CURRENT").exists()
