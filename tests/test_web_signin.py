"""Signing in to change packs, through Flask's test client: kb's own accounts, a trusted proxy's
header, and packs deleted and restored from the pages."""

from __future__ import annotations

import dataclasses
import logging
import re
import stat

import pytest
from conftest import copy_index, open_fake_searcher

from kb.packs import Packs
from kb.users import Users, local_user
from web import create_app
from web.signin import SIGN_IN_FIRST, WRONG

PASSWORD = "correct horse battery"
FORM_EXPIRED = "This form did not come from this page"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def module_index(template_index, tmp_path_factory):
    settings = copy_index(template_index, tmp_path_factory.mktemp("signin"))
    Users(settings.index_dir).add("alice", PASSWORD)
    Users(settings.index_dir).add("bob", PASSWORD)
    return settings


def make_app(settings, **changed):
    app = create_app(dataclasses.replace(settings, **changed), open_fake_searcher(settings))
    app.extensions["kb_clock"] = Clock()
    return app


@pytest.fixture
def app(module_index):
    """sign-in on, as kb serve --host 0.0.0.0 has it; a clock of its own, to move on."""
    built = make_app(module_index, sign_in="on")
    yield built
    built.extensions["kb"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def html_of(response) -> str:
    return response.get_data(as_text=True)


def token_in(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def chunk_id(client) -> str:
    return client.get("/api/search", query_string={"q": "escalation", "k": 1}).json["results"][0][
        "id"
    ]


def sign_in(client, name="alice", password=PASSWORD, next="/", **kwargs):
    token = token_in(html_of(client.get("/sign-in")))
    return client.post(
        "/sign-in",
        data={"csrf_token": token, "name": name, "password": password, "next": next},
        **kwargs,
    )


def add(client, token, pack="Signed", **kwargs):
    return client.post(
        "/packs/add",
        data={"csrf_token": token, "pack": pack, "chunk": chunk_id(client)},
        headers={"Accept": "application/json"},
        **kwargs,
    )


def test_reading_needs_no_sign_in_and_the_controls_say_sign_in_to_save(app, client):
    html = html_of(client.get("/", query_string={"q": "escalation policy"}))
    assert 'class="add-to-pack"' not in html
    # Said once above the results, not under each of them.
    assert (
        html.count('<a href="/sign-in?next=/?q%3Descalation%2Bpolicy">Sign in to save passages')
        == 1
    )
    assert html.count('<li class="hit">') > 1
    assert (
        '<div class="signed-in"><a href="/sign-in?next=/?q%3Descalation%2Bpolicy">Sign in</a>'
        in html
    )
    packs = Packs(app.config["KB_SETTINGS"].index_dir)
    packs.create("Readable", who="bob")
    url = f"/packs/{packs.get('Readable').id}"
    for path in ("/packs", url, f"{url}/print", f"{url}/export.md"):
        assert client.get(path).status_code == 200, path
    page = html_of(client.get(url))
    assert "Made by bob." in page and "Sign in to change this pack" in page
    assert "Delete this pack" not in page and 'class="new-pack"' not in html_of(
        client.get("/packs")
    )


def test_a_change_without_signing_in_is_refused_403_as_a_page_or_json(app, client):
    token = app.config["KB_CSRF_TOKEN"]
    refused = add(client, token)
    assert refused.status_code == 403 and refused.json == {"error": SIGN_IN_FIRST}
    page = client.post("/packs", data={"csrf_token": token, "name": "Sneaky"})
    assert page.status_code == 403 and SIGN_IN_FIRST in html_of(page)
    assert "Sneaky" not in [
        name for name, _, _ in Packs(app.config["KB_SETTINGS"].index_dir).names()
    ]
    url = f"/packs/{Packs(app.config['KB_SETTINGS'].index_dir).get('Readable').id}"
    for path in (f"{url}/delete", f"{url}/passages/1/remove"):
        asked = client.get(path)  # the confirmation pages send a visitor to sign in first
        assert asked.status_code == 303 and asked.headers["Location"].startswith("/sign-in?next=")


def test_signing_in_rotates_the_session_binds_the_form_token_and_records_who(app, client):
    before = app.config["KB_CSRF_TOKEN"]
    response = sign_in(client, next="/?q=escalation")
    assert response.status_code == 303 and response.headers["Location"] == "/?q=escalation"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("kb_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    html = html_of(client.get("/?q=escalation"))
    assert "Signed in as <strong>alice</strong>" in html and 'class="add-to-pack"' in html
    token = token_in(html)
    assert token != before  # the sign-in's own token
    assert add(client, before).status_code == 403  # a form from before signing in
    added = add(client, token, pack="Alice's")
    assert added.status_code == 200, added.json
    packs = Packs(app.config["KB_SETTINGS"].index_dir)
    assert packs.get("Alice's").owner == "alice"
    assert [(c.who, c.what.split(" ")[0]) for c in packs.history("Alice's")] == [
        ("alice", "created"),
        ("alice", "added"),
    ]
    assert "alice created the pack" in html_of(client.get(added.json["url"]))


@pytest.mark.parametrize("next_url", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_sign_in_returns_only_to_this_site(client, next_url):
    assert sign_in(client, next=next_url).headers["Location"] == "/"


@pytest.mark.parametrize("name, password", [("alice", "wrong password!"), ("nobody", PASSWORD)])
def test_a_wrong_name_or_password_gets_one_message_and_is_logged_escaped(
    client, caplog, name, password
):
    with caplog.at_level(logging.INFO, logger="kb.web"):
        response = sign_in(client, name=name + "\x1b[2J", password=password)
    html = html_of(response)
    assert response.status_code == 400
    # GOV.UK's error summary, linked to the first field; both fields marked, the name kept.
    assert f'<li><a href="#sign-in-name">{WRONG}</a></li>' in html
    assert html.count('aria-invalid="true"') == 2 and "<title>Error: Sign in" in html
    assert 'value="' + name in html
    assert "Signed in as" not in html_of(client.get("/"))
    assert f"sign-in failed: {name}\\x1b[2J from 127.0.0.1" in caplog.text
    assert password not in caplog.text and "\x1b" not in caplog.text


def test_five_failures_refuse_the_name_for_fifteen_minutes_even_with_the_right_password(
    app, client
):
    for _ in range(5):
        assert sign_in(client, password="not the password").status_code == 400
    refused = sign_in(client)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "901"
    assert "Too many failed sign-ins for this name or from this computer. Try again after" in (
        html_of(refused)
    )
    assert "(in 15 minutes)" in html_of(refused)
    app.extensions["kb_clock"].now += 15 * 60
    assert sign_in(client).status_code == 303


def test_five_failures_from_one_address_refuse_every_name_from_it(client):
    for n in range(5):
        sign_in(client, name=f"guess{n}", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    from_there = {"REMOTE_ADDR": "10.0.0.7"}
    token = token_in(html_of(client.get("/sign-in")))
    data = {"csrf_token": token, "name": "bob", "password": PASSWORD}
    assert client.post("/sign-in", data=data, environ_base=from_there).status_code == 429
    assert client.post("/sign-in", data=data).status_code == 303  # from elsewhere


def test_a_sign_in_expires_after_the_hours_set(app, client):
    sign_in(client)
    token = token_in(html_of(client.get("/")))
    app.extensions["kb_clock"].now += 8 * 3600 - 1
    assert add(client, token).status_code == 200
    app.extensions["kb_clock"].now += 2
    assert "Signed in as" not in html_of(client.get("/"))
    assert add(client, token).status_code == 403


def test_signing_out_or_a_new_password_ends_the_sign_in_even_for_a_copied_cookie(app, client):
    sign_in(client, name="bob")
    copied = client.get_cookie("kb_session").value
    token = token_in(html_of(client.get("/")))
    out = client.post("/sign-out", data={"csrf_token": token, "next": "/packs"})
    assert out.status_code == 303 and out.headers["Location"] == "/packs"
    assert "Signed out." in html_of(client.get("/packs"))
    client.set_cookie("kb_session", copied)
    assert "Signed in as" not in html_of(client.get("/"))

    sign_in(client, name="bob")
    assert "Signed in as <strong>bob</strong>" in html_of(client.get("/"))
    Users(app.config["KB_SETTINGS"].index_dir).set_password("bob", PASSWORD)
    assert "Signed in as" not in html_of(client.get("/"))


def test_the_cookie_key_is_kept_in_the_index_folder_so_a_restart_keeps_sign_ins(app, client):
    sign_in(client)
    key = app.config["KB_SETTINGS"].index_dir / "session.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    restarted = make_app(app.config["KB_SETTINGS"])
    again = restarted.test_client()
    again.set_cookie("kb_session", client.get_cookie("kb_session").value)
    assert "Signed in as <strong>alice</strong>" in html_of(again.get("/"))
    restarted.extensions["kb"].close()


def test_on_this_machine_with_auto_no_sign_in_is_needed_and_changes_are_the_machines_user(
    module_index,
):
    local = make_app(module_index)  # sign_in auto, host 127.0.0.1
    client = local.test_client()
    html = html_of(client.get("/", query_string={"q": "escalation"}))
    assert 'class="add-to-pack"' in html and "Sign in" not in html
    assert add(client, local.config["KB_CSRF_TOKEN"], pack="On this machine").status_code == 200
    assert Packs(module_index.index_dir).get("On this machine").owner == local_user()
    local.extensions["kb"].close()


@pytest.fixture
def proxied(module_index):
    """Behind a proxy that signs staff in and names them in X-Remote-User."""
    built = make_app(
        module_index,
        trusted_user_header="X-Remote-User",
        trusted_proxies=("127.0.0.1", "::1"),
    )
    yield built
    built.extensions["kb"].close()


@pytest.mark.parametrize(
    "address, value, allowed",
    [
        ("127.0.0.1", "jane.doe@example.org", True),
        ("10.0.0.5", "jane.doe@example.org", False),  # not through the proxy: not believed
        ("127.0.0.1", "", False),
        ("127.0.0.1", "jane\tadmin", False),
        ("127.0.0.1", "jane\x1b[31m", False),
        ("127.0.0.1", "j" * 101, False),
    ],
)
def test_a_trusted_header_signs_in_only_from_a_trusted_proxy_and_only_a_clean_name(
    proxied, address, value, allowed
):
    client = proxied.test_client()
    from_there = {"environ_base": {"REMOTE_ADDR": address}}
    headers = {"X-Remote-User": value} if value else {}
    html = html_of(client.get("/", headers=headers, **from_there))
    assert ("Signed in as <strong>jane.doe@example.org</strong>" in html) is allowed
    response = client.post(
        "/packs",
        data={"csrf_token": proxied.config["KB_CSRF_TOKEN"], "name": "Proxied"},
        headers=headers,
        **from_there,
    )
    assert response.status_code == (303 if allowed else 403)
    if allowed:
        assert Packs(proxied.config["KB_SETTINGS"].index_dir).get("Proxied").owner == value
        Packs(proxied.config["KB_SETTINGS"].index_dir).delete("Proxied")


def test_behind_a_proxy_kbs_own_sign_in_form_is_not_used(proxied):
    client = proxied.test_client()
    html = html_of(client.get("/sign-in"))
    assert "signed in by your organisation’s own sign-on" in html and 'name="password"' not in html
    token = proxied.config["KB_CSRF_TOKEN"]
    data = {"csrf_token": token, "name": "alice", "password": PASSWORD}
    assert client.post("/sign-in", data=data).status_code == 404


def test_delete_asks_first_then_offers_to_restore_and_restore_brings_it_back(app, client):
    sign_in(client)
    token = token_in(html_of(client.get("/")))
    url = add(client, token, pack="Goes and comes back").json["url"]
    asked = client.get(f"{url}/delete")
    assert asked.status_code == 200
    assert "Delete the pack “Goes and comes back”?" in html_of(asked)
    assert "can be restored from Session packs\n    for 30 days" in html_of(asked)
    deleted = client.post(f"{url}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303 and deleted.headers["Location"].startswith("/packs?deleted=")
    page = html_of(client.get(deleted.headers["Location"]))
    assert "Deleted the pack “Goes and comes back”." in page and "Restore it" in page
    assert "<h2>Recently deleted</h2>" in page
    assert re.search(r"1 passage, deleted [\d -:]+ UTC by alice; kept until", page)
    pack_id = re.search(r'name="pack" value="(\d+)"', page).group(1)

    client.post("/packs", data={"csrf_token": token, "name": "Goes and comes back"})
    restored = client.post("/packs/restore", data={"csrf_token": token, "pack": pack_id})
    assert restored.headers["Location"] == url  # the same pack's page, under its new name
    page = html_of(client.get(restored.headers["Location"]))
    assert (
        "Restored the pack as “Goes and comes back (restored)”, since another pack is called "
        "“Goes and comes back”." in page
    )
    assert "alice restored the pack as" in page and "1 passage," in page


def test_remove_asks_first_and_says_what_went(app, client):
    sign_in(client)
    token = token_in(html_of(client.get("/")))
    entry = add(client, token, pack="Trimmed")
    url = entry.json["url"]
    html = html_of(client.get(url))
    (passage,) = re.findall(r'id="passage-(\d+)"', html)
    asked = html_of(client.get(f"{url}/passages/{passage}/remove"))
    assert "Remove this passage from “Trimmed”?" in asked and "Remove the passage" in asked
    assert entry.status_code == 200
    response = client.post(f"{url}/passages/{passage}/remove", data={"csrf_token": token})
    assert response.status_code == 303
    page = html_of(client.get(url))
    assert "Removed the passage from Practice notes, page 1." in page
    assert "This pack is empty." in page
    assert client.get(f"{url}/passages/99999/remove").status_code == 404
