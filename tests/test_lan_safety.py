"""What a file in the corpus, a request or a damaged index can do to a kb served on a network
(issue 18): each test is one finding of the adversarial pass, and fails on the code before it."""

import logging
import os
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import small_app, start_chroma

from kb.cli import cli
from kb.errors import printable
from kb.store import Published


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output + (
        result.stderr if result.stderr_bytes is not None else ""
    )


def indexed(settings) -> dict[str, str]:
    store = Published.open(settings.index_dir, settings.chroma_url)
    try:
        return store.document_hashes()
    finally:
        store.close()


# --- 1. links in the corpus ---------------------------------------------------------------------


def test_a_link_to_a_file_outside_the_corpus_is_skipped_and_named(settings, corpus_dir, tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n" * 20)
    (corpus_dir / "passwd_link.txt").symlink_to(secret)
    (corpus_dir / "loop.txt").symlink_to(corpus_dir / "loop.txt")
    (corpus_dir / "dangling.md").symlink_to(tmp_path / "gone.md")
    code, out = run("reindex")
    assert code == 0, out
    for name in ("passwd_link.txt", "loop.txt", "dangling.md"):
        assert f"skipped: {name}: a symbolic link, which kb does not follow" in out
        assert name not in indexed(settings)
    assert len(indexed(settings)) == 3  # the corpus's own reports


def test_a_link_to_a_folder_is_not_followed_even_inside_the_corpus(settings, corpus_dir, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "private.txt").write_text("A private note that is not a report.\n" * 5)
    (corpus_dir / "linked").symlink_to(outside)
    (corpus_dir / "again").symlink_to(corpus_dir)
    code, out = run("reindex")
    assert code == 0
    assert "skipped: linked/: a symbolic link" in out and "skipped: again/: a symbolic link" in out
    assert not any(name.startswith(("linked/", "again/")) for name in indexed(settings))


def test_an_indexed_file_replaced_by_a_link_is_no_longer_served(index, corpus_dir, tmp_path):
    app = small_app(index)
    try:
        client = app.test_client()
        assert client.get("/documents/notes.md").status_code == 200
        secret = tmp_path / "secret.txt"
        secret.write_text("not for the network")
        (corpus_dir / "notes.md").unlink()
        (corpus_dir / "notes.md").symlink_to(secret)
        response = client.get("/documents/notes.md")
        assert response.status_code == 404
        assert b"not for the network" not in response.data
    finally:
        app.extensions["kb"].close()


# --- 5. text files have limits -------------------------------------------------------------------


def test_a_text_file_over_the_limit_is_named_not_parsed(settings, corpus_dir, monkeypatch):
    line = "The partnership board met and agreed the plan for the year ahead.\n"
    (corpus_dir / "huge.txt").write_text(line * 20_000)  # 1.3 MB
    monkeypatch.setenv("KB_TEXT_MAX_MB", "1")
    code, out = run("reindex")
    assert code == 1
    assert "failed: huge.txt: a text file of 1.3 MB, over the 1 MB that KB_TEXT_MAX_MB" in out
    assert "huge.txt" not in indexed(settings) and len(indexed(settings)) == 3
    monkeypatch.setenv("KB_TEXT_MAX_MB", "2")  # raised: the file is tried again, and read
    code, out = run("reindex")
    assert code == 0 and "1 added" in out and "huge.txt" in indexed(settings)


# --- 8. control characters in names --------------------------------------------------------------


def test_a_file_named_with_a_line_break_cannot_forge_a_line_of_the_summary(settings, corpus_dir):
    forged = "evil\nfailed: forged.txt: the index was deleted\n.txt"
    (corpus_dir / forged).write_text("A note.\n")
    (corpus_dir / "bell\x07.md").write_text("# Note\n\nAnother note.\n")
    code, out = run("reindex")
    assert code == 0, out
    assert "\nfailed: forged.txt" not in out and "\x07" not in out
    assert "skipped: evil\\nfailed: forged.txt: the index was deleted\\n.txt: its name" in out
    assert "skipped: bell\\x07.md: its name holds a control character" in out
    assert len(indexed(settings)) == 3


@pytest.mark.parametrize(
    "text, shown",
    [
        ("plain name.pdf", "plain name.pdf"),
        ("évaluation – 2024.pdf", "évaluation – 2024.pdf"),
        ("a\nb", "a\\nb"),
        ("a\r\x1b[2Kb", "a\\r\\x1b[2Kb"),
        ("\u202egnp.exe", "\\u202egnp.exe"),
        ("a\x85b", "a\\x85b"),
    ],
)
def test_printable_escapes_what_would_forge_or_disguise_a_line(text, shown):
    assert printable(text) == shown


def test_a_path_with_a_line_break_cannot_forge_a_line_of_the_server_log(client, caplog):
    with caplog.at_level(logging.INFO, logger="kb.web"):
        client.get("/x%0A2026-12-06 kb.web INFO GET /packs 200 1 ms")
    lines = [record.getMessage() for record in caplog.records if record.name == "kb.web"]
    assert lines and all("\n" not in line for line in lines)
    assert any("/x\\n2026-12-06" in line for line in lines)


def test_no_corpus_name_with_a_control_character_reaches_a_listing(corpus_dir):
    from kb.reindex import corpus_files

    (corpus_dir / "tab\there.txt").write_text("text")
    os.mkfifo(corpus_dir / "pipe.txt")
    listing = corpus_files(corpus_dir)
    assert all(printable(name) == name for name in listing.files)
    assert dict(listing.skipped)["pipe.txt"].startswith("not a regular file")
    assert "tab\there.txt" in dict(listing.skipped)


# --- 3 and 4. connections and bodies on a real server ---------------------------------------------


@pytest.fixture
def served(shared_index):
    """kb's own server (web/server.py) on 127.0.0.1, with small limits so a test can reach them."""
    import dataclasses
    import threading

    from waitress import wasyncore

    from web.server import make_server

    settings = dataclasses.replace(
        shared_index,
        host="127.0.0.1",
        port=0,
        connections_per_client=5,
        request_timeout=2.0,
        idle_timeout=30,
        max_body_kb=64,
    )
    app = small_app(settings)
    server = make_server(app, settings)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield int(server.effective_port)
    server.task_dispatcher.shutdown()
    wasyncore.close_all(server._map)
    app.extensions["kb"].close()


def half_open(port: int, source: str):
    """A connection from source that sends part of a request's headers, and no more."""
    import socket

    connection = socket.socket()
    connection.bind((source, 0))
    connection.connect(("127.0.0.1", port))
    connection.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode())
    return connection


def get(port: int, path: str = "/healthz", timeout: float = 5) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.status


def closed_by_server(connection, within: float) -> bool:
    """Whether the server closes (or answers and closes) the connection within so many seconds."""

    connection.settimeout(within)
    try:
        while True:
            data = connection.recv(4096)
            if not data:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_half_open_connections_from_one_client_do_not_lock_others_out(served):
    import time

    # 110 half-open connections from one address (127.0.0.2: loopback too, another client).
    attacker = [half_open(served, "127.0.0.2") for _ in range(110)]
    try:
        started = time.monotonic()
        assert get(served) == 200  # a practitioner at 127.0.0.1 is answered at once
        assert time.monotonic() - started < 3
        # Only five were kept; the rest were closed at once.
        assert sum(closed_by_server(connection, 0.2) for connection in attacker[20:]) == 90
        # And the five kept are cut off once the request timeout (2 s here) has passed.
        assert all(closed_by_server(connection, 5) for connection in attacker[:5])
        assert get(served) == 200
    finally:
        for connection in attacker:
            connection.close()


def test_a_huge_body_is_refused_from_its_length_before_it_is_read(served):
    import socket
    import time

    connection = socket.create_connection(("127.0.0.1", served))
    try:
        connection.sendall(
            f"POST /packs HTTP/1.1\r\nHost: 127.0.0.1:{served}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 300000000\r\n\r\nname=x&csrf_token=".encode()
        )
        started = time.monotonic()
        connection.settimeout(5)
        answer = connection.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
        assert time.monotonic() - started < 2  # not after reading 300 MB
    finally:
        connection.close()
    assert get(served) == 200


def test_the_app_refuses_a_body_over_the_limit_under_any_server(client):
    response = client.post(
        "/packs",
        data={"name": "x" * 300_000, "csrf_token": "guess"},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 413


# --- 6 and 7. a damaged index, a full disk, a lost server: reported, not served ----------------


def served_home(settings):
    from kb.store.generations import current, home

    return home(settings.index_dir, current(settings.index_dir))


def damage(path):
    """Overwrite all but a file's first page with noise, as a failing disk or a stray write
    might."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(4096)
        handle.write(os.urandom(size - 4096))


def test_a_damaged_keyword_index_is_reported_by_healthz_and_searches_answer_503(index):
    app = small_app(index)
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        damage(served_home(index) / "keyword.sqlite")
        health = client.get("/healthz")
        assert health.status_code == 503
        assert "kb reindex --rebuild" in health.json["error"]
        for path in ("/?q=neglect+graded+care+profile", "/api/search?q=missing+education"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert b"kb reindex --rebuild" in response.data
            assert b"Traceback" not in response.data
    finally:
        app.extensions["kb"].close()
    code, out = run("reindex", "--rebuild")
    assert code == 0, out
    assert "built again from the corpus, as --rebuild asks" in out
    app = small_app(index)
    try:
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        app.extensions["kb"].close()


def test_reindex_rebuilds_a_damaged_vector_store_and_keeps_the_packs(index, corpus_dir):
    from kb.packs import Packs

    Packs(index.index_dir).create("Neglect level 3")
    damage(served_home(index) / "chroma" / "chroma.sqlite3")
    (corpus_dir / "minutes.txt").write_text("Minutes of the board: the neglect strategy agreed.\n")
    code, out = run("reindex")
    assert code == 0, out
    assert "Traceback" not in out
    assert "The index could not be read, so it was built again from the corpus" in out
    assert "database disk image is malformed" in out
    assert "minutes.txt" in indexed(index) and len(indexed(index)) == 4
    assert [name for name, *_ in Packs(index.index_dir).names()] == ["Neglect level 3"]


def test_a_damaged_store_at_start_is_one_line_saying_what_to_run(index):
    damage(served_home(index) / "chroma" / "chroma.sqlite3")
    code, out = run("search", "neglect")
    assert code == 1
    assert out.startswith("kb: the index at ") and "kb reindex --rebuild" in out
    assert "Traceback" not in out and len(set(out.splitlines())) == 1


@pytest.mark.parametrize(
    "failure",
    [
        OSError(28, "No space left on device"),
        sqlite3.OperationalError("database or disk is full"),
        Exception("error returned from database: (code: 13) database or disk is full"),
    ],
    ids=["os", "sqlite", "chroma"],
)
def test_a_full_disk_mid_reindex_is_one_line_and_leaves_no_half_written_generation(
    index, corpus_dir, monkeypatch, failure
):
    from kb.store import Writer

    before = sorted(path.name for path in (index.index_dir / "generations").iterdir())
    served_before = indexed(index)

    def full(self, chunks, vectors):
        raise failure

    monkeypatch.setattr(Writer, "add", full)
    (corpus_dir / "minutes.txt").write_text("Minutes of the board: the neglect strategy agreed.\n")
    code, out = run("reindex")
    assert code == 1
    assert out.strip().splitlines()[-1].startswith("kb: the disk holding ")
    assert "is full: free some space, then run `kb reindex` again" in out
    assert "Traceback" not in out
    assert sorted(path.name for path in (index.index_dir / "generations").iterdir()) == before
    assert indexed(index) == served_before


def test_what_a_killed_publish_leaves_is_deleted_by_the_next_reindex(index):
    for name in (".PREVIOUS.4242.partial", ".CURRENT.4243.partial"):
        (index.index_dir / name).write_text("20260101T000000-1-abcdef\n")
    (served_home(index) / ".keyword.sqlite.4244.partial").write_bytes(b"half")
    (served_home(index) / ".documents.json.4245.partial").write_text("{")
    code, out = run("reindex")
    assert code == 0, out
    assert not list(index.index_dir.glob(".*.partial"))
    assert not list(served_home(index).glob(".*.partial"))


def test_kb_search_does_not_rewrite_the_served_keyword_index_while_a_reindex_holds_the_lock(
    index,
):
    from conftest import open_fake_searcher

    from kb.store import writer_lock

    keyword = served_home(index) / "keyword.sqlite"
    keyword.unlink()  # stale or missing: a reader must build one to search
    with writer_lock(index.index_dir):
        searcher = open_fake_searcher(index)
        try:
            assert searcher.search("domestic abuse clinic", k=3)
            assert not keyword.exists()  # built in a file of its own, not in the served one
        finally:
            searcher.close()
    searcher = open_fake_searcher(index)  # the lock free: built where every reader finds it
    searcher.close()
    assert keyword.is_file()


def test_a_lost_chroma_server_is_one_line(settings, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on: a server that has gone
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KB_CHROMA_URL", f"http://127.0.0.1:{port}")
    code, out = run("reindex")
    assert code == 1 and "Traceback" not in out
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith(f"kb: cannot reach the Chroma server at http://127.0.0.1:{port}")
    )


def test_a_chroma_server_lost_mid_reindex_is_one_line_and_the_next_reindex_completes(
    settings, corpus_dir, tmp_path, monkeypatch
):
    import socket

    from kb.store import Writer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process, url = start_chroma(tmp_path / "chroma-data", port)
    try:
        monkeypatch.setenv("KB_CHROMA_URL", url)
        code, out = run("reindex")
        assert code == 0, out
        (corpus_dir / "minutes.txt").write_text("Minutes: the board agreed the neglect strategy.\n")
        add = Writer.add

        def server_dies_first(self, chunks, vectors):
            process.kill()
            process.wait()
            add(self, chunks, vectors)

        monkeypatch.setattr(Writer, "add", server_dies_first)
        code, out = run("reindex")
        assert code == 1 and "Traceback" not in out
        assert out.strip().splitlines()[-1].startswith(f"kb: lost the Chroma server at {url}")
        assert "start it again, then run `kb reindex`" in out
        monkeypatch.setattr(Writer, "add", add)
        process, _ = start_chroma(tmp_path / "chroma-data", port)
        code, out = run("reindex")
        assert code == 0, out
        store = Published.open(settings.index_dir, url)
        try:
            assert "minutes.txt" in store.document_hashes()
        finally:
            store.close()
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("where", ["packs.sqlite", "any store"])
def test_a_pack_write_on_a_full_disk_is_a_page_saying_so_not_a_bare_500(
    app, client, monkeypatch, where
):
    from kb import packs

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    page = client.get("/packs")
    if where == "packs.sqlite":  # inside the packs database's own connection, as SQLite says it
        monkeypatch.setattr(packs, "_upgrade", full)
    else:  # straight from SQLite to the page, past kb's own messages
        monkeypatch.setattr(packs.Packs, "create", full)
    token = page.data.split(b'name="csrf_token" value="')[1].split(b'"')[0].decode()
    response = client.post(
        "/packs",
        data={"name": "Neglect level 3", "csrf_token": token},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 503
    assert b"is full, so nothing could be saved" in response.data
    assert b"Traceback" not in response.data
