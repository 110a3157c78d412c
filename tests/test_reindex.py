import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import INFO_SHARING, FakeEmbedder, make_chunk

from kb.cli import cli
from kb.errors import IndexMissing
from kb.store import Published, Writer

# Each test runs on the embedded store and again on a real `chroma run` server.
pytestmark = pytest.mark.usefixtures("backend")


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output + (
        result.stderr if result.stderr_bytes is not None else ""
    )


def indexed(settings):
    return Published.open(settings.index_dir, settings.chroma_url).document_hashes()


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
    before = Published.open(index.index_dir, index.chroma_url).count()
    FakeEmbedder.loads = 0
    code, out = run("reindex")
    assert code == 0
    assert "Nothing changed" in out and "3 unchanged" in out and "0 passages embedded" in out
    assert FakeEmbedder.loads == 0
    assert Published.open(index.index_dir, index.chroma_url).count() == before


def test_changed_file_replaces_its_chunks(index, corpus_dir):
    notes = corpus_dir / "notes.md"
    notes.write_text(
        "# Practice notes\n\n## Early help\n\nEarly help assessments are offered by family hubs.\n"
    )
    code, out = run("reindex")
    assert code == 0, out
    assert "0 added, 1 updated, 0 removed, 2 unchanged" in out
    texts = [
        c.text
        for c in Published.open(index.index_dir, index.chroma_url).chunks()
        if c.document == "notes.md"
    ]
    assert texts == ["Early help assessments are offered by family hubs."]


def test_deleted_file_loses_its_chunks(index, corpus_dir):
    (corpus_dir / "notes.md").unlink()
    code, out = run("reindex")
    assert code == 0
    assert "0 added, 0 updated, 1 removed, 2 unchanged" in out
    assert "notes.md" not in indexed(index)
    assert not [
        c
        for c in Published.open(index.index_dir, index.chroma_url).chunks()
        if c.document == "notes.md"
    ]


def test_new_file_is_added_beside_the_rest(index, corpus_dir):
    shutil.copy(INFO_SHARING, corpus_dir)
    code, out = run("reindex")
    assert code == 0
    assert "1 added, 0 updated, 0 removed, 3 unchanged" in out
    (corpus_dir / "one.md").write_text("# One\n\nThe board met once.\n")
    code, out = run("reindex")
    assert code == 0 and "1 passage embedded" in out


def test_an_unreadable_file_is_named_the_rest_indexed_and_the_exit_code_is_1(settings, corpus_dir):
    (corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage that is not a PDF")
    code, out = run("reindex")
    assert code == 1
    assert "failed: broken.pdf: not a readable PDF" in out
    assert "3 added" in out and "1 failed" in out
    assert len(indexed(settings)) == 3


def test_a_file_that_turns_unreadable_keeps_what_was_indexed(index, corpus_dir):
    before = [
        c.text
        for c in Published.open(index.index_dir, index.chroma_url).chunks()
        if c.document == "notes.md"
    ]
    (corpus_dir / "notes.md").write_bytes(b"\x00\x01" * 100)
    code, out = run("reindex")
    assert code == 1 and "failed: notes.md: binary content" in out
    assert [
        c.text
        for c in Published.open(index.index_dir, index.chroma_url).chunks()
        if c.document == "notes.md"
    ] == before


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


def test_a_folder_that_cannot_be_listed_keeps_its_reports(index, corpus_dir, monkeypatch):
    sub = corpus_dir / "health"
    sub.mkdir()
    (sub / "clinic.md").write_text("# Clinic\n\nThe weekly domestic abuse clinic sees parents.\n")
    assert run("reindex")[0] == 0 and "health/clinic.md" in indexed(index)
    listed = os.scandir

    def scandir(path="."):
        if os.fspath(path) == os.fspath(sub):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return listed(path)

    monkeypatch.setattr(os, "scandir", scandir)  # as root, chmod would not stop the listing
    code, out = run("reindex")
    assert code == 1, out
    assert (
        "failed: health/: cannot list this folder (permissions?); what was indexed from it stays"
        in out
    )
    assert "0 removed" in out and "health/clinic.md" in indexed(index)


def test_a_corpus_folder_that_cannot_be_listed_keeps_every_report(index, corpus_dir, monkeypatch):
    before = indexed(index)
    listed = os.scandir

    def scandir(path="."):
        if os.fspath(path) == os.fspath(corpus_dir):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return listed(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, out = run("reindex")
    assert code == 1 and "failed: ./: cannot list this folder" in out and "0 removed" in out
    assert indexed(index) == before


def test_an_empty_corpus_folder_does_not_empty_the_index(index, corpus_dir):
    before = indexed(index)
    for path in corpus_dir.iterdir():
        path.unlink()
    code, out = run("reindex")
    assert code == 1 and "holds no reports, so the index is left as it is" in out
    assert indexed(index) == before


def test_missing_corpus_folder(settings, tmp_path):
    code, out = run("reindex", "--corpus", str(tmp_path / "nowhere"))
    assert code == 1 and "does not exist" in out


def test_store_lists_one_documents_chunks(index):
    from kb.store import Published

    store = Published.open(index.index_dir, index.chroma_url)
    notes = list(store.chunks(document="notes.md"))
    assert notes and {chunk.document for chunk in notes} == {"notes.md"}
    assert len(list(store.chunks())) > len(notes)
    assert list(store.chunks(document="absent.pdf")) == []


HOLD_THE_LOCK = (
    "import sys; from pathlib import Path; from kb.reindex import writer_lock\n"
    "with writer_lock(Path(sys.argv[1])):\n"
    "    print('holding', flush=True); sys.stdin.read()\n"
)


def test_a_second_reindex_says_who_holds_the_lock_and_a_dead_holder_blocks_nobody(settings):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(settings.index_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        second = subprocess.run(
            [sys.executable, "-m", "kb.cli", "reindex"],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **os.environ,
                "KB_CORPUS_DIR": str(settings.corpus_dir),
                "KB_INDEX_DIR": str(settings.index_dir),
            },
        )
        assert second.returncode == 1, second.stderr
        assert (
            f"kb: another kb reindex is writing {settings.index_dir} "
            f"(pid {holder.pid} on {socket.gethostname()}, "
            f"started " in second.stderr
        )
        assert "run it again when that one has finished" in second.stderr
        assert [path.name for path in settings.index_dir.iterdir()] == [
            "reindex.lock"
        ]  # the index untouched
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    # The kernel released the dead holder's lock; its note is still in the file, and is replaced.
    assert f"pid {holder.pid}" in (settings.index_dir / "reindex.lock").read_text()
    code, out = run("reindex")
    assert code == 0 and "3 added" in out
    assert (settings.index_dir / "reindex.lock").read_text() == ""


def generations(settings):
    return sorted(path.name for path in (settings.index_dir / "generations").iterdir())


def test_a_reindex_writes_a_new_generation_and_readers_of_the_old_one_keep_it(index, corpus_dir):
    reader = Published.open(index.index_dir, index.chroma_url)
    before = reader.document_hashes()
    (corpus_dir / "notes.md").unlink()
    code, out = run("reindex")
    assert code == 0, out
    after = Published.open(index.index_dir, index.chroma_url)
    assert after.generation != reader.generation and "notes.md" not in after.document_hashes()
    # A search already open on the old generation answers from it, whole, until it reopens.
    assert reader.document_hashes() == before and reader.count() == sum(1 for _ in reader.chunks())
    assert generations(index) == sorted([reader.generation, after.generation])


def test_the_generation_before_the_current_one_is_kept_until_the_next(index, corpus_dir):
    first = Published.open(index.index_dir, index.chroma_url).generation
    (corpus_dir / "notes.md").unlink()
    assert run("reindex")[0] == 0
    second = Published.open(index.index_dir, index.chroma_url).generation
    (corpus_dir / "extra.md").write_text("# Extra\n\nA third version of the corpus.\n")
    assert run("reindex")[0] == 0
    third = Published.open(index.index_dir, index.chroma_url).generation
    assert generations(index) == sorted(
        [second, third]
    )  # a server still on the second keeps its data
    assert Published.open(index.index_dir, index.chroma_url, second).count() > 0
    with pytest.raises(IndexMissing):
        Published.open(index.index_dir, index.chroma_url, first)


def test_a_reindex_with_nothing_to_do_still_clears_what_a_killed_one_left(
    index, count_tokens, monkeypatch
):
    from kb.reindex import reindex

    served = Published.open(index.index_dir, index.chroma_url).generation

    class DiesWhileEmbedding(FakeEmbedder):
        def encode(self, texts, batch_size=32):
            raise RuntimeError("killed")

    monkeypatch.setattr(
        "kb.reindex.CHUNKER_VERSION", "another"
    )  # everything must be embedded again
    # A failure discards its half-written generation; a SIGKILL cannot, and leaves it.
    monkeypatch.setattr(Writer, "discard", lambda self: None)
    with pytest.raises(RuntimeError, match="killed"):
        reindex(index, DiesWhileEmbedding, count_tokens)
    assert len(generations(index)) == 2
    monkeypatch.undo()
    summary = reindex(index, FakeEmbedder, count_tokens)
    assert summary.chunks_embedded == 0 and generations(index) == [served]


def test_a_no_op_reindex_keeps_the_served_generation(index):
    served = Published.open(index.index_dir, index.chroma_url).generation
    assert run("reindex")[0] == 0
    assert Published.open(index.index_dir, index.chroma_url).generation == served and generations(
        index
    ) == [served]


def test_a_reindex_that_dies_half_way_leaves_the_served_index_whole(
    index, corpus_dir, count_tokens, monkeypatch
):
    from kb.reindex import reindex

    served = Published.open(index.index_dir, index.chroma_url)
    before = (served.generation, served.document_hashes(), served.count())
    (corpus_dir / "notes.md").write_text(
        "# Notes\n\nNew words about family hubs.\n", encoding="utf-8"
    )
    shutil.copy(INFO_SHARING, corpus_dir)

    class DiesWhileEmbedding(
        FakeEmbedder
    ):  # by then the new generation holds a copy of the served one
        def encode(self, texts, batch_size=32):
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        reindex(index, DiesWhileEmbedding, count_tokens)
    again = Published.open(index.index_dir, index.chroma_url)
    assert (again.generation, again.document_hashes(), again.count()) == before
    assert len(generations(index)) == 1  # the unfinished one was discarded as it failed

    summary = reindex(index, FakeEmbedder, count_tokens)  # the next reindex completes and clears up
    assert sorted(summary.added + summary.updated) == [
        "Info_sharing_advice_content_May_2024.pdf",
        "notes.md",
    ]
    final = Published.open(index.index_dir, index.chroma_url)
    assert generations(index) == sorted([before[0], final.generation])
    assert final.count() > before[2]


def test_publishing_an_incomplete_generation_is_refused(index):
    from kb.errors import KbError
    from kb.store import Manifest

    served = Published.open(index.index_dir, index.chroma_url)
    manifest = Manifest(FakeEmbedder.name, FakeEmbedder.dimension, served.manifest.chunker)
    new = Writer.begin(index.index_dir, index.chroma_url, manifest, copy_of=served.generation)
    assert new.count() == served.count()
    with pytest.raises(KbError, match="the index being served is unchanged"):
        new.publish(served.count() + 1)
    assert Published.open(index.index_dir, index.chroma_url).generation == served.generation


def test_passages_embedded_by_length_across_documents_come_back_in_their_order(monkeypatch):
    from kb import reindex as module

    monkeypatch.setattr(module, "EMBED_SLICE", 2)
    texts = [
        "a much longer passage about the domestic abuse clinic each week",
        "neglect",
        "early help hubs",
        "MASH",
    ]
    chunks = [make_chunk(f"id{n}", text, position=n) for n, text in enumerate(texts)]
    seen = []

    class Seen(module.Progress):
        def advance(self, stage, done=1, size=0):
            seen.append(done)

    vectors = module._embed(chunks, FakeEmbedder(), 32, Seen())
    expected = FakeEmbedder().encode([chunk.embedding_text() for chunk in chunks])
    assert vectors.shape == expected.shape and (vectors == expected).all()
    assert seen == [2, 2]


def test_the_same_file_under_two_names_is_indexed_once(index, corpus_dir):
    shutil.copy(corpus_dir / "notes.md", corpus_dir / "notes copy.md")
    code, out = run("reindex")
    assert code == 0, out
    assert "duplicate: notes copy.md is the same file as notes.md, so only that is read" in out
    assert "0 added" in out and "1 duplicate;" in out
    assert "notes copy.md" not in indexed(index)
    (corpus_dir / "notes.md").unlink()  # the copy is then the file, and is indexed in its place
    code, out = run("reindex")
    assert code == 0 and "1 added, 0 updated, 1 removed" in out
    assert "notes copy.md" in indexed(index) and "notes.md" not in indexed(index)


def test_a_file_that_cannot_be_read_is_named_each_time_but_parsed_again_only_when_it_changes(
    index, corpus_dir, monkeypatch
):
    from kb import reindex as module

    parsed = []
    read = module.read_document
    monkeypatch.setattr(
        module, "read_document", lambda *a, **k: parsed.append(a[1]) or read(*a, **k)
    )
    (corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage that is not a PDF")
    for _ in range(2):
        code, out = run("reindex")
        assert code == 1 and "failed: broken.pdf: not a readable PDF" in out
    assert "Nothing changed, but 1 file could not be read (named above)" in out
    assert parsed == ["broken.pdf"]  # the second time, remembered
    shutil.copy(corpus_dir / "broken.pdf", corpus_dir / "broken copy.pdf")
    code, out = run("reindex")
    assert code == 1 and parsed == ["broken.pdf"]
    assert (
        "duplicate: broken copy.pdf is the same file as broken.pdf, which could not be read" in out
    )
    (corpus_dir / "broken copy.pdf").unlink()
    (corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.7\n other garbage")
    code, out = run("reindex")
    assert code == 1 and parsed == ["broken.pdf", "broken.pdf"]


def test_a_reindex_with_nothing_to_do_reads_the_catalogue_not_the_store(index, monkeypatch):
    """The served generation's catalogue (documents.json) says what it holds: no row is read."""
    from kb import reindex as module

    run("reindex")  # a catalogue for the served generation, wherever the index came from

    def refused(*args, **kwargs):
        raise AssertionError("the store was opened")

    monkeypatch.setattr(module.Published, "open", refused)
    code, out = run("reindex")
    assert code == 0 and "Nothing changed" in out


def test_a_catalogue_whose_fingerprints_were_taken_otherwise_is_read_again_from_the_store(
    index, monkeypatch
):
    from kb import reindex as module
    from kb import standard

    run("reindex")
    assert module.served(index).written  # from the catalogue
    monkeypatch.setattr(standard, "FINGERPRINT", "crc32 of 8 words, 1 in 4")
    again = module.served(index)
    assert again is not None and not again.written  # read from the store
    rows = [row for entry in again.documents.values() for row in entry["keys"]]
    assert rows and all(len(row) == 4 and row[3] is not None for row in rows)


def test_progress_counts_the_files_parsed_and_the_passages_embedded(settings):
    from kb.embed import token_counter
    from kb.reindex import Progress, reindex

    class Counted(Progress):
        def __init__(self):
            self.total, self.done = {}, {}

        def start(self, stage, total, size=0):
            self.total[stage] = self.total.get(stage, 0) + total

        def grow(self, stage, more):
            self.total[stage] = self.total.get(stage, 0) + more

        def advance(self, stage, done=1, size=0):
            self.done[stage] = self.done.get(stage, 0) + done

    counted = Counted()
    summary = reindex(settings, FakeEmbedder, token_counter(), counted)
    assert counted.total["parsing"] == counted.done["parsing"] == 3
    assert counted.total["embedding"] == counted.done["embedding"] == summary.chunks_embedded > 100


def test_reindex_prints_plain_progress_lines_when_not_on_a_terminal(settings):
    code, out = run("reindex")
    assert code == 0
    assert "Parsed 3 of 3 files" in out
    assert re.search(r"embedded [\d,]+ of [\d,]+ passages", out)
