import csv
import io
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from conftest import FOUNDING, FakeEmbedder

from kb.errors import UsageError
from kb.packs import SCHEMA, BadPackName, Packs, UnknownPack, UnknownPassage, check
from kb.reindex import reindex
from kb.store import Published


def chunks_of(settings, document: str, n: int = 1):
    found = sorted(
        Published.open(settings.index_dir).chunks(document=document),
        key=lambda chunk: chunk.position,
    )
    return found[:n]


@pytest.fixture
def packs(tmp_path):
    return Packs(tmp_path / "index")


def test_a_pack_keeps_its_passages_in_order_with_notes(index, packs):
    first, second, third = chunks_of(index, FOUNDING.name, 3)
    for chunk in (first, second, third):
        packs.add("Neglect level 3", chunk)
    ids = [passage.entry for passage in packs.get("Neglect level 3").passages]
    packs.set_note("Neglect level 3", ids[1], "  Ask the group what the hospital does next.  ")
    packs.move("Neglect level 3", ids[2], -1)
    packs.move("Neglect level 3", ids[0], +5)  # past the end stays at the end

    reopened = Packs(index.index_dir).get("neglect LEVEL 3")  # a new connection; names ignore case
    assert reopened.name == "Neglect level 3"
    assert [p.id for p in reopened.passages] == [third.id, second.id, first.id]
    assert reopened.passages[1].note == "Ask the group what the hospital does next."
    saved = reopened.passages[0]
    assert (
        saved.text,
        saved.agency,
        saved.title,
        saved.section,
        saved.page,
        saved.document,
        saved.sha256,
    ) == (
        third.text,
        third.agency,
        third.title,
        third.section,
        third.page,
        third.document,
        third.sha256,
    )


def test_adding_a_passage_twice_keeps_one_copy(index, packs):
    (chunk,) = chunks_of(index, "notes.md")
    _, added = packs.add("Escalation", chunk)
    passage, again = packs.add("escalation", chunk)
    assert (added, again) == (True, False)
    assert [p.entry for p in packs.get("Escalation").passages] == [passage.entry]


def test_remove_delete_and_the_list_of_packs(index, packs):
    assert packs.names() == [] and not packs.path.exists()  # reading makes no file
    (chunk,) = chunks_of(index, "notes.md")
    passage, _ = packs.add("First", chunk)
    packs.create("Second")
    assert [(name, count) for name, count, _ in packs.names()] == [("Second", 0), ("First", 1)]
    packs.remove("First", passage.entry)
    assert packs.get("First").passages == ()
    packs.delete("Second")
    assert [name for name, _, _ in packs.names()] == ["First"]


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda p: p.get("Missing"),
            UnknownPack,
            "no pack is called 'Missing'; the packs are: Real",
        ),
        (
            lambda p: p.set_note("Real", 999, "x"),
            UnknownPassage,
            "the pack 'Real' holds no passage 999",
        ),
        (lambda p: p.move("Missing", 1, 1), UnknownPack, "no pack is called 'Missing'"),
        (lambda p: p.get(999), UnknownPack, "no pack has the number 999; the packs are: Real"),
        (lambda p: p.remove(999, 1), UnknownPack, "no pack has the number 999"),
        (
            lambda p: p.set_note("Real", 1, "x" * 5000),
            UsageError,
            "a note is 5000 characters long; the limit is 4000",
        ),
    ],
)
def test_unknown_packs_and_passages_are_refused_by_name(index, packs, call, error, message):
    packs.add("Real", chunks_of(index, "notes.md")[0])
    with pytest.raises(error) as raised:
        call(packs)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "typed, saved",
    [
        ("one\r\ntwo", "one\ntwo"),  # a browser sends a textarea's line breaks as CRLF
        ("one\rtwo\r\n\r\nthree\n", "one\ntwo\n\nthree"),
        (
            "x" * 3998 + "\r\ny",
            "x" * 3998 + "\ny",
        ),  # 4000 characters as the textarea's maxlength counts them
    ],
)
def test_a_note_keeps_its_line_breaks_as_newlines_and_is_measured_so(index, packs, typed, saved):
    passage, _ = packs.add("Notes", chunks_of(index, "notes.md")[0])
    packs.set_note("Notes", passage.entry, typed)
    assert packs.get("Notes").passages[0].note == saved


def test_a_passage_cannot_be_moved_in_another_pack(index, packs):
    passage, _ = packs.add("One", chunks_of(index, "notes.md")[0])
    packs.create("Two")
    with pytest.raises(UnknownPassage):
        packs.remove("Two", passage.entry)
    assert len(packs.get("One").passages) == 1


RULE = "use 1 to 60 characters on one line: letters, digits, spaces, any punctuation"


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "a pack's name cannot be blank"),
        ("   ", "a pack's name cannot be blank"),
        ("\u3000 \xa0", "a pack's name cannot be blank"),  # spaces of other widths
        ("x" * 61, f"'{'x' * 61}' cannot name a pack: it is 61 characters long"),
        (" " + "x" * 59 + "  y ", f"'{'x' * 59}  y' cannot name a pack: it is 61 characters long"),
        ("Neglect\nL3", "'Neglect\\nL3' cannot name a pack: it holds a line break"),
        ("Neglect\r\nL3", "'Neglect\\r\\nL3' cannot name a pack: it holds a line break"),
        ("Neglect\u2028L3", "'Neglect\\u2028L3' cannot name a pack: it holds a line break"),
        ("tab\there", "'tab\\there' cannot name a pack: it holds a control or invisible character"),
        ("bell\x07", "'bell\\x07' cannot name a pack: it holds a control or invisible character"),
        (
            "esc\x1b[31m",
            "'esc\\x1b[31m' cannot name a pack: it holds a control or invisible character",
        ),
        ("\x00", "'\\x00' cannot name a pack: it holds a control or invisible character"),
        (
            "over\u202eride",
            "'over\\u202eride' cannot name a pack: it holds a control or invisible character",
        ),
        (
            "zero\u200bwidth",
            "'zero\\u200bwidth' cannot name a pack: it holds a control or invisible character",
        ),
    ],
)
def test_bad_pack_names_are_refused_saying_why_with_the_rule(packs, name, message):
    with pytest.raises(BadPackName) as raised:
        packs.create(name)
    assert str(raised.value).startswith(message) and str(raised.value).endswith(RULE)
    assert packs.names() == []


@pytest.mark.parametrize(
    "name, stored",
    [
        ("Neglect – level 3", "Neglect – level 3"),
        ("  DA   & CSE (Luton) ", "DA & CSE (Luton)"),
        ("Séance d'équipe", "Séance d'équipe"),
        ("2025-26 v1.2", "2025-26 v1.2"),
        ("no\xa0break\u2009thin", "no break thin"),  # spaces pasted from a document: plain ones
        ("  " + "x" * 60 + "  ", "x" * 60),  # 60 once trimmed
    ],
)
def test_good_pack_names_are_kept_with_spaces_tidied(packs, name, stored):
    assert packs.create(name) == stored


@pytest.mark.parametrize(
    "name",
    [
        "Neglect L3 12/03/2027",
        "DA: session #2",
        "Neglect L3 12/03/2027 #2: DA?",
        "a/b\\c ? % & = ; ~ ` ! @ $ ^ * | <> [] {} \"quoted\" 'too'",
        "-starts-with-a-dash",
        "_underscore",
        "<script>",
        "2026",
        "..",
        "Émoji 🧒 and ﬁ ligature",
        "x" * 60,
    ],
)
def test_a_name_may_hold_any_punctuation(packs, name):
    assert packs.create(name) == name
    assert packs.get(name).name == name


def test_names_of_any_punctuation_are_still_one_pack_whatever_their_case(index, packs):
    (chunk,) = chunks_of(index, "notes.md")
    packs.add("Neglect L3 12/03/2027 #2: DA?", chunk)
    _, added = packs.add("NEGLECT l3  12/03/2027 #2: da?", chunk)
    assert added is False
    assert [name for name, _, _ in packs.names()] == ["Neglect L3 12/03/2027 #2: DA?"]


def test_a_pack_survives_a_reindex_in_which_its_document_changed(
    index, corpus_dir, count_tokens, packs
):
    (note,) = chunks_of(index, "notes.md")
    (founding,) = chunks_of(index, FOUNDING.name)
    packs.add("Escalation", note)
    packs.add("Escalation", founding)
    assert [
        p.out_of_date
        for p in check(packs.get("Escalation"), Published.open(index.index_dir)).passages
    ] == [False, False]

    (corpus_dir / "notes.md").write_text(
        "# Practice notes\n\n## Escalation\n\n"
        "Use the revised escalation policy (2026) when agencies disagree.\n",
        encoding="utf-8",
    )
    summary = reindex(index, FakeEmbedder, count_tokens)
    assert summary.updated == ["notes.md"]

    pack = check(Packs(index.index_dir).get("Escalation"), Published.open(index.index_dir))
    changed, unchanged = pack.passages
    assert changed.out_of_date and not unchanged.out_of_date
    assert (
        changed.text == note.text == "Use the escalation policy when agencies disagree."
    )  # the saved copy stays
    assert (changed.section, changed.page, changed.title) == ("Escalation", 1, "Practice notes")

    (corpus_dir / "notes.md").unlink()
    assert reindex(index, FakeEmbedder, count_tokens).removed == ["notes.md"]
    pack = check(Packs(index.index_dir).get("Escalation"), Published.open(index.index_dir))
    assert [p.out_of_date for p in pack.passages] == [True, False]
    assert pack.passages[0].text == note.text


def two_page_chunk(settings):
    return next(
        chunk
        for chunk in Published.open(settings.index_dir).chunks()
        if chunk.page_end > chunk.page
    )


def test_a_passage_a_page_break_cuts_is_saved_with_both_pages(index, packs):
    chunk = two_page_chunk(index)
    packs.add("Across pages", chunk)
    (saved,) = Packs(index.index_dir).get("Across pages").passages
    assert (saved.page, saved.page_end) == (chunk.page, chunk.page_end)
    assert saved.pages == f"pages {chunk.page}–{chunk.page_end}"


# packs.sqlite as kb wrote it before passages kept the page they end on.
OLD_SCHEMA = """
CREATE TABLE packs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                    created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, pack INTEGER NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, chunk_id TEXT NOT NULL, document TEXT NOT NULL,
    sha256 TEXT NOT NULL, title TEXT NOT NULL, agency TEXT NOT NULL,
    section TEXT NOT NULL, page INTEGER NOT NULL, text TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    added TEXT NOT NULL, UNIQUE (pack, chunk_id));
INSERT INTO packs VALUES
    (1, 'Kept from before', '2025-01-01T00:00:00+00:00', '2025-01-02T00:00:00+00:00');
INSERT INTO passages VALUES
    (1, 1, 1, 'aaaa', 'old.pdf', 'f00d', 'An old report', 'ELFT', 'Audit', 7, 'A case file audit.',
     'Ask why.', '2025-01-01T00:00:00+00:00'),
    (2, 1, 2, 'bbbb', 'notes.md', 'beef', 'Practice notes', '', 'Escalation', 1, 'Use the policy.',
     '', '2025-01-01T00:00:00+00:00');
"""


def test_a_packs_file_from_before_end_pages_opens_keeps_its_passages_and_exports(tmp_path, index):
    from docx import Document

    from kb.export import render, sheet

    folder = tmp_path / "old-index"
    packs = packs_file_from(folder, OLD_SCHEMA)

    assert [(name, count) for name, count, _ in packs.names()] == [("Kept from before", 2)]
    pack = packs.get("Kept from before")
    assert [(p.id, p.page, p.page_end, p.note) for p in pack.passages] == [
        ("aaaa", 7, 7, "Ask why."),
        ("bbbb", 1, 1, ""),
    ]  # an old passage ends on the page it starts on
    markdown = render(sheet(pack.name, pack.passages), "md").decode()
    assert "ELFT · An old report · Audit · page 7 (source 1)" in markdown and "Ask why." in markdown
    rows = list(
        csv.DictReader(
            io.StringIO(render(sheet(pack.name, pack.passages), "csv").decode("utf-8-sig"))
        )
    )
    assert [(row["page"], row["page_end"]) for row in rows] == [("7", "7"), ("1", "1")]
    word = Document(io.BytesIO(render(sheet(pack.name, pack.passages), "docx")))
    assert "ELFT · An old report · Audit · page 7 (source 1)" in [
        paragraph.text for paragraph in word.paragraphs
    ]
    with closing(sqlite3.connect(folder / "packs.sqlite")) as db:  # upgraded in place, once
        assert "page_end" in {row[1] for row in db.execute("PRAGMA table_info(passages)")}

    chunk = two_page_chunk(index)
    packs.add("Kept from before", chunk)
    assert [p.pages for p in packs.get("Kept from before").passages] == [
        "page 7",
        "page 1",
        f"pages {chunk.page}–{chunk.page_end}",
    ]


# --- owner, history, deleting and restoring ----------------------------------------------------


def test_a_pack_keeps_its_owner_and_a_history_of_who_did_what(index, packs):
    first, second = chunks_of(index, FOUNDING.name, 2)
    packs.add("Neglect", first, who="alice")
    passage, _ = packs.add("Neglect", second, who="bob")
    packs.add("Neglect", second, who="bob")  # already there: nothing done, nothing recorded
    packs.set_note("Neglect", passage.entry, "Ask why.", who="carol")
    packs.set_note("Neglect", passage.entry, "Ask why.", who="carol")  # the same note: no change
    packs.move("Neglect", passage.entry, -1, who="bob")
    packs.move("Neglect", passage.entry, -1, who="bob")  # already first: no change
    packs.remove("Neglect", passage.entry, who="alice")

    assert packs.get("Neglect").owner == "alice"
    assert [found.owner for found in packs.summaries()] == ["alice"]
    changes = packs.history("neglect")
    where = f"the passage from {second.title or second.document}, {second.pages}"
    assert [(change.who, change.what) for change in changes] == [
        ("alice", "created the pack"),
        ("alice", f"added the passage from {first.title or first.document}, {first.pages}"),
        ("bob", f"added {where}"),
        ("carol", f"changed the note on {where}"),
        ("bob", f"moved {where} from 2 to 1"),
        ("alice", f"removed {where}"),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", c.at) for c in changes)
    assert packs.history("Neglect", last=2) == changes[-2:]


def test_a_deleted_pack_waits_to_be_restored_and_its_name_can_be_used_meanwhile(index, packs):
    (chunk,) = chunks_of(index, "notes.md")
    packs.add("Escalation", chunk, who="alice")
    deleted = packs.delete("Escalation", who="bob")
    assert (deleted.name, deleted.passages, deleted.deleted_by) == ("Escalation", 1, "bob")
    assert packs.names() == []
    with pytest.raises(UnknownPack):
        packs.get("Escalation")
    assert packs.history("Escalation")[-1].what == "deleted the pack"  # the deleted pack's

    packs.create("escalation", who="carol")  # the name is free again
    assert packs.restore("Escalation", who="dave") == "Escalation (restored)"
    restored = packs.get("Escalation (restored)")
    assert (restored.owner, [p.id for p in restored.passages]) == ("alice", [chunk.id])
    assert [(c.who, c.what) for c in packs.history("Escalation (restored)")][-2:] == [
        ("bob", "deleted the pack"),
        (
            "dave",
            "restored the pack as 'Escalation (restored)', since another pack is called "
            "'Escalation'",
        ),
    ]
    assert packs.deleted() == []
    with pytest.raises(UnknownPack) as raised:
        packs.restore("Escalation")
    assert str(raised.value) == (
        "no deleted pack is called 'Escalation'; the deleted packs that can be restored are: none"
    )


def test_restoring_by_id_when_the_name_is_free_keeps_the_name(index, packs):
    packs.add("Kept", chunks_of(index, "notes.md")[0], who="alice")
    deleted = packs.delete("Kept", who="alice")
    assert packs.restore(deleted.id, who="bob") == "Kept"
    assert [name for name, _, _ in packs.names()] == ["Kept"]


def test_a_pack_is_found_by_its_id_which_stays_its_own_when_restored_under_another_name(
    index, packs
):
    first, second = chunks_of(index, FOUNDING.name, 2)
    packs.add("DA: session #2", first, who="alice")
    passage, _ = packs.add("DA: session #2", second, who="alice")
    pack_id = packs.get("DA: session #2").id
    assert [found.id for found in packs.summaries()] == [pack_id]

    packs.set_note(pack_id, passage.entry, "Ask who knew.", who="bob")
    packs.move(pack_id, passage.entry, -1, who="bob")
    assert [(p.id, p.note) for p in packs.get(pack_id).passages] == [
        (second.id, "Ask who knew."),
        (first.id, ""),
    ]
    assert packs.remove(pack_id, passage.entry, who="bob").id == second.id
    assert packs.delete(pack_id, who="bob").id == pack_id
    with pytest.raises(UnknownPack) as raised:
        packs.get(pack_id)
    assert str(raised.value) == (
        "the pack 'DA: session #2' was deleted: restore it from the list of packs before it is "
        "purged"
    )
    assert packs.history(pack_id)[-1].what == "deleted the pack"  # a deleted pack's, by its id

    packs.create("da: SESSION #2", who="carol")
    assert packs.restore(pack_id) == "DA: session #2 (restored)"
    assert packs.get(pack_id).name == "DA: session #2 (restored)"
    assert packs.get("DA: session #2").id != pack_id


def test_deleted_packs_are_purged_after_the_days_kept_on_the_next_write(index, tmp_path):
    packs = Packs(tmp_path / "index", keep_deleted_days=30)
    packs.add("Old", chunks_of(index, "notes.md")[0])
    old = packs.delete("Old")
    with closing(sqlite3.connect(packs.path)) as db, db:
        db.execute("UPDATE packs SET deleted = '2000-01-01T00:00:00.000000+00:00'")
    assert [found.name for found in packs.deleted()] == ["Old"]  # reading purges nothing
    assert packs.deleted()[0].until == "2000-01-31T00:00:00+00:00"
    packs.create("New")
    assert packs.deleted() == []
    with closing(sqlite3.connect(packs.path)) as db:
        assert db.execute("SELECT count(*) FROM passages").fetchone() == (0,)
        assert db.execute("SELECT what FROM history").fetchall() == [("created the pack",)]
    assert packs.get("New").id > old.id  # a link to the purged pack never opens another


# packs.sqlite as kb made it before links named packs by id, whose ids SQLite could use again.
PREVIOUS_SCHEMA = (
    SCHEMA.replace("AUTOINCREMENT", "")
    + """
INSERT INTO packs (id, name, owner, created, updated) VALUES
    (3, 'Kept', 'alice', '2025-01-01T00:00:00+00:00', '2025-01-02T00:00:00+00:00'),
    (7, 'Also kept', 'bob', '2025-01-01T00:00:00+00:00', '2025-01-03T00:00:00+00:00');
INSERT INTO passages (id, pack, position, chunk_id, document, sha256, title, agency, section,
    page, page_end, text, note, added) VALUES
    (1, 7, 1, 'aaaa', 'old.pdf', 'f00d', 'An old report', 'ELFT', 'Audit', 7, 7,
     'A case file audit.', 'Ask why.', '2025-01-01T00:00:00+00:00');
INSERT INTO history (pack, at, who, what) VALUES
    (7, '2025-01-01T00:00:00+00:00', 'bob', 'created the pack');
"""
)


def packs_file_from(folder: Path, schema: str) -> Packs:
    """The packs of an index folder whose packs.sqlite an older kb wrote with this schema."""
    folder.mkdir()
    with closing(sqlite3.connect(folder / "packs.sqlite")) as db:
        db.executescript(schema)
    return Packs(folder)


def test_a_packs_file_from_before_ids_were_kept_for_good_keeps_its_packs_ids(tmp_path):
    packs = packs_file_from(tmp_path / "previous-index", PREVIOUS_SCHEMA)
    assert [(found.id, found.name, found.passages, found.owner) for found in packs.summaries()] == [
        (7, "Also kept", 1, "bob"),
        (3, "Kept", 0, "alice"),
    ]
    assert packs.get(7).passages[0].note == "Ask why."
    assert [change.who for change in packs.history(7)] == ["bob"]
    packs.delete(7)
    with closing(sqlite3.connect(packs.path)) as db, db:
        db.execute("UPDATE packs SET deleted = '2000-01-01T00:00:00.000000+00:00' WHERE id = 7")
    packs.create("New")  # purges pack 7 first, and is not given its id
    assert [(found.id, found.name) for found in packs.summaries()] == [(8, "New"), (3, "Kept")]


def test_an_old_packs_file_gets_owners_unknown_a_history_and_restore(tmp_path):
    packs = packs_file_from(tmp_path / "old-index", OLD_SCHEMA)
    assert [(found.name, found.passages, found.owner) for found in packs.summaries()] == [
        ("Kept from before", 2, "")
    ]
    assert packs.history("Kept from before") == []
    packs.delete("Kept from before", who="alice")
    packs.create("Kept from before", who="bob")  # the old UNIQUE constraint is gone
    assert packs.restore("Kept from before") == "Kept from before (restored)"
    assert len(packs.get("Kept from before (restored)").passages) == 2  # passages kept throughout
