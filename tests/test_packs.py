import pytest

from conftest import FOUNDING, FakeEmbedder
from kb.errors import UsageError
from kb.packs import BadPackName, Packs, UnknownPack, UnknownPassage, check
from kb.reindex import reindex
from kb.store import Store


def chunks_of(settings, document: str, n: int = 1):
    found = sorted(Store(settings.index_dir).chunks(document=document), key=lambda chunk: chunk.position)
    return found[:n]


@pytest.fixture
def packs(tmp_path):
    return Packs(tmp_path / "index")


def test_a_pack_keeps_its_passages_in_order_with_notes(index, packs):
    first, second, third = chunks_of(index, FOUNDING.name, 3)
    for chunk in (first, second, third):
        packs.add("Neglect level 3", chunk)
    ids = [passage.id for passage in packs.get("Neglect level 3").passages]
    packs.set_note("Neglect level 3", ids[1], "  Ask the group what the hospital does next.  ")
    packs.move("Neglect level 3", ids[2], -1)
    packs.move("Neglect level 3", ids[0], +5)  # past the end stays at the end

    reopened = Packs(index.index_dir).get("neglect LEVEL 3")  # a new connection; names ignore case
    assert reopened.name == "Neglect level 3"
    assert [p.chunk_id for p in reopened.passages] == [third.id, second.id, first.id]
    assert reopened.passages[1].note == "Ask the group what the hospital does next."
    saved = reopened.passages[0]
    assert (saved.text, saved.agency, saved.title, saved.section, saved.page, saved.document, saved.sha256) == (
        third.text, third.agency, third.title, third.section, third.page, third.document, third.sha256)


def test_adding_a_passage_twice_keeps_one_copy(index, packs):
    (chunk,) = chunks_of(index, "notes.md")
    _, added = packs.add("Escalation", chunk)
    passage, again = packs.add("escalation", chunk)
    assert (added, again) == (True, False)
    assert [p.id for p in packs.get("Escalation").passages] == [passage.id]


def test_remove_delete_and_the_list_of_packs(index, packs):
    assert packs.names() == [] and not packs.path.exists()  # reading makes no file
    (chunk,) = chunks_of(index, "notes.md")
    passage, _ = packs.add("First", chunk)
    packs.create("Second")
    assert [(name, count) for name, count, _ in packs.names()] == [("Second", 0), ("First", 1)]
    packs.remove("First", passage.id)
    assert packs.get("First").passages == ()
    packs.delete("Second")
    assert [name for name, _, _ in packs.names()] == ["First"]


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: p.get("Missing"), UnknownPack, "no pack is called 'Missing'; the packs are: Real"),
        (lambda p: p.set_note("Real", 999, "x"), UnknownPassage, "the pack 'Real' holds no passage 999"),
        (lambda p: p.move("Missing", 1, 1), UnknownPack, "no pack is called 'Missing'"),
        (lambda p: p.set_note("Real", 1, "x" * 5000), UsageError, "a note is 5000 characters long; the limit is 4000"),
    ],
)
def test_unknown_packs_and_passages_are_refused_by_name(index, packs, call, error, message):
    packs.add("Real", chunks_of(index, "notes.md")[0])
    with pytest.raises(error) as raised:
        call(packs)
    assert message in str(raised.value)


def test_a_passage_cannot_be_moved_in_another_pack(index, packs):
    passage, _ = packs.add("One", chunks_of(index, "notes.md")[0])
    packs.create("Two")
    with pytest.raises(UnknownPassage):
        packs.remove("Two", passage.id)
    assert len(packs.get("One").passages) == 1


@pytest.mark.parametrize("name", ["", "   ", "-starts-with-a-dash", "a/b", "x" * 61, "<script>", "tab\there?", "a\\b"])
def test_bad_pack_names_are_refused_with_the_rule(packs, name):
    with pytest.raises(BadPackName) as raised:
        packs.create(name)
    assert "cannot name a pack: use 1 to 60 letters, digits, spaces" in str(raised.value)


@pytest.mark.parametrize("name, stored", [("Neglect – level 3", "Neglect – level 3"), ("  DA   & CSE (Luton) ", "DA & CSE (Luton)"),
                                          ("Séance d'équipe", "Séance d'équipe"), ("2025-26 v1.2", "2025-26 v1.2")])
def test_good_pack_names_are_kept_with_spaces_tidied(packs, name, stored):
    assert packs.create(name) == stored


def test_a_pack_survives_a_reindex_in_which_its_document_changed(index, corpus_dir, count_tokens, packs):
    (note,) = chunks_of(index, "notes.md")
    (founding,) = chunks_of(index, FOUNDING.name)
    packs.add("Escalation", note)
    packs.add("Escalation", founding)
    assert [p.out_of_date for p in check(packs.get("Escalation"), Store(index.index_dir)).passages] == [False, False]

    (corpus_dir / "notes.md").write_text(
        "# Practice notes\n\n## Escalation\n\nUse the revised escalation policy (2026) when agencies disagree.\n",
        encoding="utf-8",
    )
    summary = reindex(index, FakeEmbedder, count_tokens)
    assert summary.updated == ["notes.md"]

    pack = check(Packs(index.index_dir).get("Escalation"), Store(index.index_dir))
    changed, unchanged = pack.passages
    assert changed.out_of_date and not unchanged.out_of_date
    assert changed.text == note.text == "Use the escalation policy when agencies disagree."  # the saved copy stays
    assert (changed.section, changed.page, changed.title) == ("Escalation", 1, "Practice notes")

    (corpus_dir / "notes.md").unlink()
    assert reindex(index, FakeEmbedder, count_tokens).removed == ["notes.md"]
    pack = check(Packs(index.index_dir).get("Escalation"), Store(index.index_dir))
    assert [p.out_of_date for p in pack.passages] == [True, False]
    assert pack.passages[0].text == note.text
