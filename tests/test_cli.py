import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.users import Users

FIELDS = {"id", "text", "agency", "document", "title", "section", "page", "score"}


def run(*args, input=None):
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_help_is_instant_and_imports_nothing_heavy():
    code = (
        "import sys; from kb.cli import cli; print(any(m in sys.modules for m in "
        "('torch', 'chromadb', 'sentence_transformers', 'pypdf')))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
        == "False"
    )


def test_search_json_shape(index):
    code, out, _ = run("search", "escalation policy when agencies disagree", "--json", "-k", "3")
    assert code == 0
    (line,) = out.splitlines()
    answer = json.loads(line)
    assert answer["query"] == "escalation policy when agencies disagree"
    assert len(answer["results"]) == 3
    assert all(set(hit) >= FIELDS for hit in answer["results"])
    assert all(isinstance(hit["page"], int) and hit["page"] >= 1 for hit in answer["results"])
    scores = [hit["score"] for hit in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_human_output_cites_rank_agency_document_page_section(index):
    code, out, _ = run("search", "Use the escalation policy when agencies disagree", "-k", "2")
    assert code == 0
    first = next(block for block in out.split("\n\n") if block.startswith("1. ")).splitlines()
    assert first[0] == "1. No agency named | notes.md | page 1"  # a note with no agency says so
    assert first[1].strip() == "Escalation"
    assert first[2].strip() == "Use the escalation policy when agencies disagree."
    assert "\n2. " in out


def test_agency_filter_by_part_of_the_name(index):
    code, out, _ = run("search", "training", "--agency", "elft", "--json", "-k", "5")
    assert code == 0
    hits = json.loads(out)["results"]
    assert hits and {hit["agency"] for hit in hits} == {"ELFT"}


def test_batch_answers_each_line_with_one_model_load(index, tmp_path, fake_model):
    queries = tmp_path / "queries.txt"
    queries.write_text("neglect screening tool\n\nescalation policy\n")
    fake_model.loads = 0
    code, out, _ = run("search", "--batch", str(queries), "--json", "-k", "2")
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["query"] for a in answers] == ["neglect screening tool", "escalation policy"]
    assert fake_model.loads == 1


def test_batch_reports_a_bad_line_and_answers_the_rest(index, tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("neglect\n" + "x" * 5000 + "\nescalation\n")
    code, out, _ = run("search", "--batch", str(queries), "--json")
    answers = [json.loads(line) for line in out.splitlines()]
    assert code == 2
    assert [bool(a.get("error")) for a in answers] == [False, True, False]
    assert "limit is 1000" in answers[1]["error"]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["search", ""], 2, "the query is empty"),
        (["search", "   "], 2, "the query is empty"),
        (["search", "x" * 10_000], 2, "10000 characters long; the limit is 1000"),
        (
            ["search", "neglect", "--agency", "Police"],
            2,
            (
                "no agency matches 'Police'; the index holds: "
                "Bedfordshire Hospitals Foundation Trust; Bradford Children and Families Trust; "
                "Cambridgeshire Community Services; ELFT"
            ),
        ),
        (["search"], 2, "give a QUERY or --batch FILE"),
        (["search", "neglect", "-k", "0"], 2, "0 is not in the range"),
    ],
)
def test_bad_search_input_gets_a_clear_message(index, args, code, message):
    exit_code, _, err = run(*args)
    assert exit_code == code
    assert message in err


def test_search_without_an_index_says_to_reindex(settings):
    exit_code, _, err = run("search", "neglect")
    assert exit_code == 1
    assert "no index at" in err and "run `kb reindex` first" in err


@pytest.mark.parametrize("command", [["search", "neglect"], ["reindex"]])
def test_an_index_path_that_is_a_file_gets_a_one_line_message(settings, tmp_path, command):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    exit_code, _, err = run(
        *command, "--index", str(a_file)
    )  # no traceback: catch_exceptions is off
    assert (
        exit_code == 1
        and err.startswith("kb: ")
        and str(a_file) in err
        and len(err.strip().splitlines()) == 1
    )


def test_bad_setting_is_a_usage_error(index, monkeypatch):
    monkeypatch.setenv("KB_TOP_K", "ten")
    exit_code, _, err = run("search", "neglect")
    assert exit_code == 2 and "KB_TOP_K must be a whole number" in err


def test_document_filter_and_an_unknown_document(index):
    pdf = "bradford__childrens_services_inspection_-_21_may_2026.pdf"
    code, out, _ = run("search", "care leavers", "--document", pdf, "--json")
    assert code == 0
    assert {hit["document"] for hit in json.loads(out)["results"]} == {pdf}
    code, _, err = run("search", "care leavers", "--document", "../../etc/passwd")
    assert code == 2 and "no document is called '../../etc/passwd'; the index holds:" in err


def test_make_run_serves_on_the_port_asked_for():
    root = Path(__file__).resolve().parent.parent
    planned = subprocess.run(
        ["make", "-n", "run", "PORT=8080"],
        cwd=root,
        capture_output=True,
        text=True,
    ).stdout
    assert "kb serve --port 8080" in planned


# --- accounts, a pack's history and restoring ---------------------------------------------------

PASSWORD = "correct horse battery"


def test_kb_user_add_asks_twice_unseen_and_list_and_remove_manage_accounts(settings):
    code, out, err = run("user", "add", "alice", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, err
    assert "Added 'alice'" in out and PASSWORD not in out + err
    code, out, _ = run("user", "add", "bob", "--password-stdin", input=f"{PASSWORD}!\n")
    assert code == 0
    code, out, _ = run("user", "list")
    assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == ["alice", "bob"]
    assert re.match(r"alice\tadded \d{4}-\d\d-\d\d \d\d:\d\d UTC\tpassword set ", out)

    users = Users(settings.index_dir)
    assert users.verify("alice", PASSWORD) and users.verify("bob", PASSWORD + "!")
    code, out, _ = run("user", "password", "bob", "--password-stdin", input="a new long password\n")
    assert code == 0 and "signed out everywhere" in out
    assert users.verify("bob", "a new long password")
    code, out, _ = run("user", "remove", "BOB")
    assert (code, out) == (0, "Removed the account 'bob'.\n")
    assert [account.name for account in users.accounts()] == ["alice"]


@pytest.mark.parametrize(
    "args, typed, status, message",
    [
        # click asks again, and with nothing more typed, gives up (Aborted!, 1)
        (["add", "carol"], "twelve chars\ntwelve charz\n", 1, "Error: The two entered values"),
        (["add", "carol", "--password-stdin"], "short\n", 2, "kb: a password needs at least 12"),
        (["add", "carol x", "--password-stdin"], "", 2, "cannot name an account: use 1 to 100"),
        (["add", "alice", "--password-stdin"], f"{PASSWORD}\n", 2, "already an account called"),
        (["remove", "nobody"], "", 2, "kb: no account is called 'nobody'; the accounts are: alice"),
        (["password", "nobody"], "", 2, "kb: no account is called 'nobody'"),
    ],
)
def test_kb_user_refusals_say_why(settings, args, typed, status, message):
    run("user", "add", "alice", "--password-stdin", input=f"{PASSWORD}\n")
    code, out, err = run("user", *args, input=typed)
    assert code == status and message in out + err
    assert PASSWORD not in out + err
    assert [account.name for account in Users(settings.index_dir).accounts()] == ["alice"]


def test_kb_user_list_with_no_accounts_says_how_to_add_one(settings):
    code, out, _ = run("user", "list")
    assert code == 0 and "No accounts yet" in out and "kb user add NAME" in out


def test_kb_pack_history_and_restore(index, monkeypatch):
    from kb import users
    from kb.packs import Packs
    from kb.store import Published

    monkeypatch.setattr(users, "local_user", lambda: "trainer")
    chunk = next(iter(Published.open(index.index_dir).chunks(document="notes.md")))
    packs = Packs(index.index_dir)
    packs.add("Escalation", chunk, who="alice\x1b[31m")  # a name as a proxy's header might give
    packs.delete("Escalation", who="bob")
    code, out, _ = run("pack", "list")
    assert code == 0 and out.startswith("Deleted, and can be restored with kb pack restore NAME:\n")
    assert re.search(r"Escalation\t1 passage\tdeleted .* UTC by bob\tuntil .* UTC\n", out)

    code, out, _ = run("pack", "history", "escalation")
    lines = out.splitlines()
    assert code == 0 and [line.split("\t")[1:] for line in lines] == [
        ["alice\\x1b[31m", "created the pack"],
        ["alice\\x1b[31m", "added the passage from Practice notes, page 1"],
        ["bob", "deleted the pack"],
    ]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC$", lines[0].split("\t")[0])

    packs.create("Escalation", who="carol")
    code, out, _ = run("pack", "restore", "Escalation")
    assert (code, out) == (
        0,
        "Restored the pack as 'Escalation (restored)': a pack in use is called 'Escalation'.\n",
    )
    code, out, _ = run("pack", "history", "Escalation (restored)")
    assert out.splitlines()[-1].endswith(
        "\ttrainer\trestored the pack as 'Escalation (restored)', since another pack is called "
        "'Escalation'"
    )
    code, _, err = run("pack", "restore", "Escalation")
    assert code == 2 and "no deleted pack is called 'Escalation'" in err


def test_kb_pack_commands_take_a_name_with_any_punctuation(index, monkeypatch):
    from kb import users
    from kb.packs import Packs
    from kb.store import Published

    monkeypatch.setattr(users, "local_user", lambda: "trainer")
    name = "Neglect L3 12/03/2027 #2: DA?"
    chunk = next(iter(Published.open(index.index_dir).chunks(document="notes.md")))
    packs = Packs(index.index_dir)
    packs.add(name, chunk, who="alice")
    packs.add("-1 draft", chunk, who="alice")

    code, out, _ = run("pack", "list")
    assert code == 0 and f"\n{name}\t1 passage\tchanged " in f"\n{out}"
    code, out, _ = run("pack", "show", name)
    assert code == 0 and out.startswith(f"{name}: 1 passage\n")
    code, out, _ = run("pack", "export", name, "--format", "csv", "-o", "-")
    assert code == 0 and "Use the escalation policy when agencies disagree." in out
    code, out, _ = run("pack", "show", "--", "-1 draft")  # as `kb pack --help` says
    assert code == 0 and out.startswith("-1 draft: 1 passage\n")

    packs.delete(name, who="bob")
    code, out, _ = run("pack", "history", name)
    assert code == 0 and out.splitlines()[-1].endswith("\tbob\tdeleted the pack")
    code, out, _ = run("pack", "restore", name)
    assert (code, out) == (0, f"Restored the pack {name!r}.\n")


def test_kb_serve_refuses_sign_in_off_beyond_this_machine_before_loading_anything(
    settings, monkeypatch
):
    monkeypatch.setenv("KB_SIGN_IN", "off")
    code, _, err = run("serve", "--host", "0.0.0.0", "--port", "0")
    assert code == 2
    assert err.startswith("kb: KB_SIGN_IN=off with --host 0.0.0.0 would let anyone")
    assert "Loading the index" not in err
