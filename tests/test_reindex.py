import json
import shutil

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.store import Store

from conftest import INFO_SHARING, FakeEmbedder


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def indexed(settings):
    return Store(settings.index_dir).documents()


def test_first_reindex_adds_every_file(settings):
    code, out = run("reindex")
    assert code == 0, out
    assert "3 added, 0 updated, 0 removed, 0 unchanged, 0 failed" in out
    assert set(indexed(settings)) == {
        "luton-lscp-yearly-report-2023-24-partners-snapshot.txt",
        "bradford__childrens_services_inspection_-_21_may_2026.pdf",
        "notes.md",
    }


def test_reindex_with_nothing_changed_embeds_nothing_and_loads_no_model(index):
    before = Store(index.index_dir).count()
    FakeEmbedder.loads = 0
    code, out = run("reindex")
    assert code == 0
    assert "Nothing changed" in out and "3 unchanged" in out and "0 passages embedded" in out
    assert FakeEmbedder.loads == 0
    assert Store(index.index_dir).count() == before


def test_changed_file_replaces_its_chunks(index, corpus_dir):
    notes = corpus_dir / "notes.md"
    notes.write_text("# Practice notes\n\n## Early help\n\nEarly help assessments are offered by family hubs.\n")
    code, out = run("reindex")
    assert code == 0, out
    assert "0 added, 1 updated, 0 removed, 2 unchanged" in out
    texts = [c.text for c in Store(index.index_dir).chunks() if c.document == "notes.md"]
    assert texts == ["Early help assessments are offered by family hubs."]


def test_deleted_file_loses_its_chunks(index, corpus_dir):
    (corpus_dir / "notes.md").unlink()
    code, out = run("reindex")
    assert code == 0
    assert "0 added, 0 updated, 1 removed, 2 unchanged" in out
    assert "notes.md" not in indexed(index)
    assert not [c for c in Store(index.index_dir).chunks() if c.document == "notes.md"]


def test_new_file_is_added_beside_the_rest(index, corpus_dir):
    shutil.copy(INFO_SHARING, corpus_dir)
    code, out = run("reindex")
    assert code == 0
    assert "1 added, 0 updated, 0 removed, 3 unchanged" in out


def test_an_unreadable_file_is_named_the_rest_indexed_and_the_exit_code_is_1(settings, corpus_dir):
    (corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage that is not a PDF")
    code, out = run("reindex")
    assert code == 1
    assert "failed: broken.pdf: not a readable PDF" in out
    assert "3 added" in out and "1 failed" in out
    assert len(indexed(settings)) == 3


def test_a_file_that_turns_unreadable_keeps_what_was_indexed(index, corpus_dir):
    before = [c.text for c in Store(index.index_dir).chunks() if c.document == "notes.md"]
    (corpus_dir / "notes.md").write_bytes(b"\x00\x01" * 100)
    code, out = run("reindex")
    assert code == 1 and "failed: notes.md: binary content" in out
    assert [c.text for c in Store(index.index_dir).chunks() if c.document == "notes.md"] == before


def test_files_matching_ignore_patterns_are_not_reports(settings, corpus_dir):
    (corpus_dir / "README.md").write_text("# How this folder works\n\nPut reports here.\n")
    code, out = run("reindex")
    assert code == 0 and "README.md" not in indexed(settings)


def test_an_index_built_differently_is_refused_then_rebuilt(index, monkeypatch):
    class OtherFake(FakeEmbedder):
        name = "other-fake"
        dimension = 32

    from kb import embed

    monkeypatch.setitem(embed.MODELS, OtherFake.name, OtherFake)
    monkeypatch.setenv("KB_MODEL", OtherFake.name)
    code, out = run("search", "neglect")
    assert code == 1
    assert "built with fake-hash, 64 dimensions" in out and "run `kb reindex`" in out
    code, out = run("reindex")
    assert code == 0 and "rebuilt" in out and "3 added" in out
    code, out = run("search", "neglect", "--json")
    assert code == 0 and json.loads(out)["results"]


def test_missing_corpus_folder(settings, tmp_path):
    code, out = run("reindex", "--corpus", str(tmp_path / "nowhere"))
    assert code == 1 and "does not exist" in out


def test_store_lists_one_documents_chunks(index):
    from kb.store import Store

    store = Store(index.index_dir)
    notes = list(store.chunks(document="notes.md"))
    assert notes and {chunk.document for chunk in notes} == {"notes.md"}
    assert len(list(store.chunks())) > len(notes)
    assert list(store.chunks(document="absent.pdf")) == []
