"""Packs, comparing agencies, themes, more like this and downloads, through Flask's test client on a
small index."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from conftest import FakeEmbedder, open_fake_searcher
from markupsafe import escape

from kb.clean import without_markup
from kb.explore import PER_AGENCY, default_themes
from kb.packs import Packs
from kb.settings import Settings
from kb.store import Published
from web import create_app

NOTES_QUERY = "escalation policy when agencies disagree"
OWN_SCRIPT = '<script src="/static/kb.js" defer></script>'
SCRIPT, IMG = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def small_index(shared_index) -> Settings:
    return shared_index


@pytest.fixture
def token(app) -> str:
    return app.config["KB_CSRF_TOKEN"]


def html_of(response) -> str:
    return response.get_data(as_text=True)


def hits(client, query: str, **args) -> list[dict]:
    return client.get("/api/search", query_string={"q": query, **args}).json["results"]


def add(client, token, pack: str, chunk_id: str, next: str):
    """Add as a browser's form does, without the script."""
    data = {"csrf_token": token, "pack": pack, "chunk": chunk_id, "next": next}
    return client.post("/packs/add", data=data, headers={"Accept": "text/html,*/*;q=0.8"})


def add_json(client, token, pack: str, chunk_id: str):
    response = client.post(
        "/packs/add",
        data={"csrf_token": token, "pack": pack, "chunk": chunk_id},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def passage_ids(html: str) -> list[int]:
    return [
        int(found) for found in re.findall(r'<li class="pack-passage" id="passage-(\d+)">', html)
    ]


def link(html: str, text: str) -> str:
    """Where the page's one link that starts with `text` goes."""
    (found,) = re.findall(rf'<a [^>]*href="([^"]*)"[^>]*>{re.escape(text)}', html)
    return unescape(found)


def form_to(html: str, ending: str) -> str:
    """Where the page's one form whose address ends with `ending` is sent."""
    (found,) = [
        unescape(action)
        for action in re.findall(r'<form [^>]*action="([^"]*)"', html)
        if unescape(action).endswith(ending)
    ]
    return found


def pack_url(client, name: str) -> str:
    """A pack's page, as the list of packs links to it."""
    return link(html_of(client.get("/packs")), str(escape(name)) + "</a>")


def read_docx(data: bytes) -> str:
    from docx import Document

    return "\n".join(paragraph.text for paragraph in Document(io.BytesIO(data)).paragraphs)


def citation(hit: dict, source: int) -> str:
    """A hit's citation as the downloads write it: agency · report · section · pages (source n)."""
    pages = (
        f"page {hit['page']}"
        if hit["page"] == hit["page_end"]
        else f"pages {hit['page']}–{hit['page_end']}"
    )
    parts = [
        hit["agency"] or "No agency named",
        hit["title"] or hit["document"],
        hit["section"],
        pages,
    ]
    return " · ".join(part for part in parts if part) + f" (source {source})"


def source_numbers(found: list[dict]) -> dict[str, int]:
    """Each document's source number: the order it is first cited in."""
    return {
        document: number
        for number, document in enumerate(dict.fromkeys(hit["document"] for hit in found), 1)
    }


# --- the results page offers the trainer's actions ---------------------------------------------


def test_each_result_has_one_save_that_opens_the_pack_form_and_more_like_this(client, token):
    found = hits(client, "training", k=3)
    html = html_of(client.get("/", query_string={"q": "training", "k": 3}))
    # One "Save" per passage, a disclosure that holds the form: no pack box under every result.
    forms = re.findall(
        r'<details class="save">\s*<summary>Save<span class="visually-hidden"> passage \d to a '
        r"pack</span></summary>\s*"
        r'<form class="add-to-pack" method="post" action="/packs/add">(.*?)</form>\s*</details>',
        html,
        re.S,
    )
    assert len(forms) == 3
    for form, hit in zip(forms, found):
        assert f'name="csrf_token" value="{token}"' in form
        assert f'name="chunk" value="{hit["id"]}"' in form
        assert 'name="next" value="/?q=training&amp;k=3"' in form
        assert re.search(r'<label for="pack-\d">Add to pack</label>', form)
    for hit in found:
        assert f'href="/passages/{hit["id"]}/similar"' in html
    assert '<datalist id="pack-names">' in html
    assert (
        'href="/export.docx?q=training&amp;k=3"' in html
        and 'href="/export.csv?q=training&amp;k=3"' in html
    )
    assert 'href="/compare?q=training"' in html
    assert OWN_SCRIPT in html  # the enhancement; the form works without it


def test_the_start_page_offers_the_themes(client):
    html = html_of(client.get("/"))
    for theme in default_themes():
        assert f'<a href="/compare?theme={theme.name}">{theme.title}</a>' in html


# --- adding, without and with JavaScript -------------------------------------------------------


def test_adding_without_javascript_comes_back_to_the_results_saying_where_it_went(client, token):
    hit = hits(client, NOTES_QUERY, k=1)[0]
    response = add(client, token, "No script pack", hit["id"], next="/?q=escalation&k=3&added=Old")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/" and location.fragment == f"result-{hit['id']}"
    assert parse_qs(location.query) == {
        "q": ["escalation"],
        "k": ["3"],
        "added": ["No script pack"],
    }
    html = html_of(client.get(f"{location.path}?{location.query}"))
    assert "Added to the pack “No script pack”." in html
    assert link(html, "Open the pack") == pack_url(client, "No script pack")
    assert 'value="No script pack"' in html  # the next add goes to the same pack
    assert f'id="result-{hit["id"]}"' in html


def test_adding_with_javascript_answers_json_and_keeps_one_copy(client, token):
    hit = hits(client, "training", k=1)[0]
    first = add_json(client, token, "Script pack", hit["id"])
    again = add_json(client, token, "script PACK", hit["id"])
    assert first == {
        "pack": "Script pack",
        "passages": 1,
        "added": True,
        "url": pack_url(client, "Script pack"),
    }
    assert again == {**first, "added": False}
    assert "<h1>Script pack</h1>" in html_of(client.get(first["url"]))


@pytest.mark.parametrize(
    "data, headers, status, message",
    [
        (
            {"pack": "X", "chunk": "feedface"},
            {},
            403,
            "This form did not come from this page",
        ),  # no token
        ({"pack": "X", "chunk": "feedface", "csrf_token": "guess"}, {}, 403, "reload the page"),
        (
            {"pack": "X", "chunk": "feedface", "csrf_token": "{token}"},
            {"Sec-Fetch-Site": "cross-site"},
            403,
            "reload",
        ),
        (
            {"pack": "X", "chunk": "feedface", "csrf_token": "{token}"},
            {},
            400,
            "That passage is no longer in the index",
        ),
        (
            {"pack": "Neglect\nL3", "chunk": "{chunk}", "csrf_token": "{token}"},
            {},
            400,
            "cannot name a pack: it holds a line break; use 1 to 60 characters on one line",
        ),
        (
            {"pack": "  ", "chunk": "{chunk}", "csrf_token": "{token}"},
            {},
            400,
            "A pack&#39;s name cannot be blank",
        ),
    ],
)
def test_a_bad_or_foreign_add_is_refused_and_nothing_is_saved(
    client, token, app, data, headers, status, message
):
    chunk = hits(client, "training", k=1)[0]["id"]
    data = {name: value.format(token=token, chunk=chunk) for name, value in data.items()}
    before = app.extensions["kb_packs"].names()
    response = client.post("/packs/add", data=data, headers=headers)
    assert response.status_code == status
    assert message in html_of(response)
    assert app.extensions["kb_packs"].names() == before


FORM_EXPIRED = (
    "This form did not come from this page, or kb was restarted since it was shown: "
    "reload the page and try again."
)


@pytest.mark.parametrize(
    "method, path, data, headers, status, message",
    [
        ("post", "/packs/add", {"pack": "X", "chunk": "x"}, {}, 403, FORM_EXPIRED),  # no token
        (
            "post",
            "/packs/add",
            {"pack": "X", "chunk": "x", "csrf_token": "stale"},
            {},
            403,
            FORM_EXPIRED,
        ),
        (
            "post",
            "/packs/add",
            {"pack": "X", "chunk": "x", "csrf_token": "{token}"},
            {"Sec-Fetch-Site": "cross-site"},
            403,
            FORM_EXPIRED,
        ),
        (
            "post",
            "/packs/add",
            {"pack": "<b>", "chunk": "x", "csrf_token": "{token}"},
            {},
            400,
            "that passage is no longer in the index: search again and add it from the results",
        ),
        (
            "get",
            "/export.pdf?q=training",
            {},
            {},
            404,
            "unknown format 'pdf'; choose from: md, csv, docx",
        ),
    ],
)
def test_a_refusal_to_the_script_is_json_with_the_message_it_shows(
    client, token, method, path, data, headers, status, message
):
    kwargs = (
        {"data": {name: value.format(token=token) for name, value in data.items()}}
        if method == "post"
        else {}
    )
    response = getattr(client, method)(
        path, headers={"Accept": "application/json", **headers}, **kwargs
    )
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.json == {"error": message}


def test_a_wrong_method_is_json_to_the_script_and_a_page_to_a_browser(client):
    to_script = client.get("/packs/Session/passages/1/move", headers={"Accept": "application/json"})
    assert (
        to_script.status_code == 405
        and to_script.is_json
        and "not allowed" in to_script.json["error"]
    )
    assert set(to_script.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    to_browser = client.get("/packs/Session/passages/1/move")
    assert (
        to_browser.status_code == 405
        and "<!doctype html>" in to_browser.get_data(as_text=True).lower()
    )


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        # A URL parser drops tabs and newlines, and a browser reads "//" after them as another host.
        "/\t///evil.example",
        "/\n/evil.example",
        "/\r\n//evil.example",
        "\t//evil.example",
        "/\x00//evil.example",
        " //evil.example",
        "/\t\\evil.example",
    ],
)
def test_adding_never_redirects_off_the_site(client, token, next_url):
    hit = hits(client, "training", k=1)[0]
    response = add(client, token, "Redirects", hit["id"], next=next_url)
    assert response.status_code == 303
    assert response.headers["Location"] == pack_url(client, "Redirects")


# --- the pack page: notes, order, remove, delete ------------------------------------------------


def test_a_trainer_orders_notes_and_trims_a_pack(client, token):
    found = hits(client, "training", k=3)
    url = [add_json(client, token, "Level 3 neglect", hit["id"]) for hit in found][-1]["url"]
    html = html_of(client.get(url))
    first, second, third = passage_ids(html)
    assert "3 passages, in the order they will be exported." in html
    for hit in found:
        assert str(escape(hit["text"])) in html
        assert f'<span class="page">page {hit["page"]}</span>' in html
    assert html.count(f'name="csrf_token" value="{token}"') == 3 * 2  # note and move each
    for passage in (first, second, third):  # Remove asks first, on a page of its own
        assert f'href="{url}/passages/{passage}/remove"' in html
    assert f'href="{url}/delete"' in html
    assert (
        "disabled>Move up" in html and "disabled>Move down" in html
    )  # the first can't go up, the last down

    response = client.post(
        f"{url}/passages/{second}/note",
        data={"csrf_token": token, "note": "Ask: who should the nurse tell?"},
    )
    assert response.status_code == 303 and response.headers["Location"] == (
        f"{url}#passage-{second}"
    )
    client.post(f"{url}/passages/{third}/move", data={"csrf_token": token, "direction": "up"})
    client.post(f"{url}/passages/{first}/move", data={"csrf_token": token, "direction": "down"})
    html = html_of(client.get(url))
    assert passage_ids(html) == [third, first, second]
    assert (
        f'<textarea id="note-{second}" name="note" rows="3" maxlength="4000">'
        "Ask: who should the nurse tell?</textarea>" in html
    )

    client.post(f"{url}/passages/{first}/remove", data={"csrf_token": token})
    assert passage_ids(html_of(client.get(url))) == [third, second]
    assert "Level 3 neglect" in html_of(client.get("/packs"))
    assert client.post(f"{url}/delete", data={"csrf_token": token}).status_code == 303
    response = client.get(url)
    assert response.status_code == 404
    assert "The pack &#39;Level 3 neglect&#39; was deleted: restore it" in html_of(response)
    assert f'href="{url}"' not in html_of(client.get("/packs"))


def test_a_new_pack_from_the_packs_page(client, token):
    response = client.post("/packs", data={"csrf_token": token, "name": "  Empty   one "})
    assert response.status_code == 303
    assert response.headers["Location"] == pack_url(client, "Empty one")
    html = html_of(client.get(response.headers["Location"]))
    assert "<h1>Empty one</h1>" in html and "This pack is empty." in html


@pytest.mark.parametrize(
    "typed, message",
    [
        ("   ", "Enter a name for the pack"),
        ("x" * 61, "The pack’s name must be 60 characters or fewer"),
        (
            "Neglect\nL3",
            "The pack’s name must be on one line, of letters, digits, spaces and punctuation",
        ),
    ],
)
def test_a_name_a_pack_cannot_have_is_summarised_and_linked_to_the_box_with_what_was_typed(
    client, token, typed, message
):
    before = html_of(client.get("/packs"))
    response = client.post("/packs", data={"csrf_token": token, "name": typed})
    html = html_of(response)
    assert response.status_code == 400
    assert f'<li><a href="#new-pack-name">{escape(message)}</a></li>' in html
    assert f'<span class="visually-hidden">Error:</span> {escape(message)}</p>' in html
    assert 'aria-describedby="new-pack-hint new-pack-error" aria-invalid="true"' in html
    assert f'value="{escape(typed)}"' in html  # kept, to mend rather than type again
    assert "<title>Error: Session packs" in html
    # Nothing was made.
    assert re.findall(r'class="pack-list".*?</ul>', html, re.S) == re.findall(
        r'class="pack-list".*?</ul>', before, re.S
    )


def test_an_old_link_by_name_goes_to_the_pack_of_that_name_for_this_time_only(client, token):
    """A permanent redirect is cached: after "Loop" is deleted and "loop" made, /packs/loop would
    still open the deleted pack's id."""
    client.post("/packs", data={"csrf_token": token, "name": "Loop"})
    first = pack_url(client, "Loop")
    response = client.get("/packs/loop")
    assert response.status_code == 307 and response.headers["Location"] == first
    assert client.post(f"{first}/delete", data={"csrf_token": token}).status_code == 303
    client.post("/packs", data={"csrf_token": token, "name": "loop"})
    response = client.get("/packs/loop", follow_redirects=True)
    assert response.status_code == 200 and "<h1>loop</h1>" in html_of(response)
    assert response.request.path == pack_url(client, "loop") != first


@pytest.mark.parametrize(
    "method, path, data, status, message",
    [
        ("get", "/packs/Nobody", {}, 404, "No pack is called &#39;Nobody&#39;"),
        ("get", "/packs/Nobody/export.docx", {}, 404, "No pack is called"),
        ("get", "/packs/99999", {}, 404, "No pack has the number 99999; the packs are: "),
        ("get", "/packs/99999/print", {}, 404, "No pack has the number 99999"),
        ("post", "/packs/99999/passages/{id}/note", {"note": "x"}, 404, "No pack has the number"),
        ("post", "{pack}/passages/99999/note", {"note": "x"}, 404, "holds no passage 99999"),
        (
            "post",
            "{pack}/passages/{id}/move",
            {"direction": "sideways"},
            400,
            "Move a passage up or down, not &#39;sideways&#39;",
        ),
        ("post", "{pack}/passages/{id}/note", {"note": "n" * 4001}, 400, "the limit is 4000"),
        (
            "post",
            "{pack}/passages/{id}/remove",
            {"csrf_token": "stale"},
            403,
            "reload the page",
        ),
        (
            "get",
            "{pack}/export.pdf",
            {},
            404,
            "Unknown format &#39;pdf&#39;; choose from: md, csv, docx",
        ),
    ],
)
def test_pack_requests_that_cannot_be_done_say_why(
    client, token, method, path, data, status, message
):
    passage = add_json(client, token, "Moves", hits(client, "training", k=1)[0]["id"])
    pid = passage_ids(html_of(client.get(passage["url"])))[0]
    kwargs = {"data": {"csrf_token": token, **data}} if method == "post" else {}
    response = getattr(client, method)(path.format(pack=passage["url"], id=pid), **kwargs)
    assert response.status_code == status
    assert message in html_of(response)
    assert passage["passages"] == 1 and len(passage_ids(html_of(client.get(passage["url"])))) == 1


# --- a name with any punctuation, and links by name from before --------------------------------


def test_a_pack_named_with_any_punctuation_works_by_every_link_its_pages_give(client, token):
    name = "Neglect L3 12/03/2027 #2: DA?"
    created = client.post("/packs", data={"csrf_token": token, "name": name})
    assert created.status_code == 303
    url = created.headers["Location"]
    assert re.fullmatch(r"/packs/\d+", url)  # by its id, which no "/" or "#" in a name can upset
    assert link(html_of(client.get("/packs")), f"{name}</a>") == url

    # Added as a browser's form does, without the script: back on the results, the banner opens
    # the pack; the script's answer names the same page.
    first, second = hits(client, "training", k=2)
    back = add(client, token, name, first["id"], next="/?q=training&k=2")
    assert back.status_code == 303
    results = html_of(client.get(back.headers["Location"]))
    assert f"Added to the pack “{name}”." in results
    html = html_of(client.get(link(results, "Open the pack")))
    assert f"<title>{name} – " in html and f"<h1>{name}</h1>" in html
    assert add_json(client, token, name, second["id"])["url"] == url
    html = html_of(client.get(url))
    earlier, later = passage_ids(html)
    assert f"<code>kb pack history &#39;{name}&#39;</code>" in html

    printed = html_of(client.get(link(html, "Print view")))
    assert f"<h1>{name}</h1>" in printed and printed.count('<article class="card"') == 2
    assert link(printed, "Back to the pack") == url
    downloads = [unescape(found) for found in re.findall(r'href="([^"]*)" download>', html)]
    assert len(downloads) == 3
    for download in downloads:
        response = client.get(download)
        suffix = download.rsplit(".", 1)[1]
        assert response.status_code == 200
        assert response.headers["Content-Disposition"] == (
            f"attachment; filename=Neglect-L3-12-03-2027-2-DA.{suffix}"
        )
        if suffix == "docx":
            assert read_docx(response.data).startswith(f"{name}\n")

    noted = client.post(
        form_to(html, f"/passages/{later}/note"), data={"csrf_token": token, "note": "Ask why."}
    )
    assert noted.status_code == 303
    html = html_of(client.get(noted.headers["Location"]))
    assert 'maxlength="4000">Ask why.</textarea>' in html
    moved = client.post(
        form_to(html, f"/passages/{later}/move"), data={"csrf_token": token, "direction": "up"}
    )
    html = html_of(client.get(moved.headers["Location"]))
    assert passage_ids(html) == [later, earlier]

    asked = html_of(client.get(link(html, 'Remove<span class="visually-hidden"> passage 2')))
    assert f"Remove this passage from “{name}”?" in asked
    assert link(asked, "No, keep it") == f"{url}#passage-{earlier}"
    removed = client.post(form_to(asked, f"/passages/{earlier}/remove"), data={"csrf_token": token})
    html = html_of(client.get(removed.headers["Location"]))
    assert passage_ids(html) == [later] and "Removed the passage from" in html

    asked = html_of(client.get(link(html, "Delete this pack")))
    assert f"Delete the pack “{name}”?" in asked and link(asked, "No, keep it") == url
    deleted = client.post(form_to(asked, "/delete"), data={"csrf_token": token})
    listed = html_of(client.get(deleted.headers["Location"]))
    assert f"Deleted the pack “{name}”." in listed
    # Restored while another pack has the name: under another name, at the same address.
    client.post("/packs", data={"csrf_token": token, "name": name.lower()})
    offer = re.search(r'<div class="added" role="status">.*?</div>', listed, re.S).group(0)
    pack_id = re.search(r'name="pack" value="(\d+)"', offer).group(1)
    restored = client.post(
        form_to(offer, "/packs/restore"), data={"csrf_token": token, "pack": pack_id}
    )
    assert restored.headers["Location"] == url
    html = html_of(client.get(url))
    assert f"<h1>{name} (restored)</h1>" in html and passage_ids(html) == [later]


def test_a_link_by_name_from_before_goes_on_to_the_same_page_by_the_packs_number(client, token):
    url = add_json(client, token, "Out of hours DA", hits(client, "training", k=1)[0]["id"])["url"]
    for old, new in [
        ("/packs/Out%20of%20hours%20DA", url),
        ("/packs/out%20of%20hours%20da/print", f"{url}/print"),
        ("/packs/Out%20of%20hours%20DA/export.docx", f"{url}/export.docx"),
    ]:
        response = client.get(old)
        assert response.status_code == 307 and response.headers["Location"] == new, old
    assert client.get("/packs/Out%20of%20hours%20DA", follow_redirects=True).status_code == 200

    # A note sent from a page shown before the upgrade is sent on, as a browser sends a form on
    # after a 307, to be saved: not lost.
    entry = passage_ids(html_of(client.get(url)))[0]
    note = {"csrf_token": token, "note": "Kept."}
    sent = client.post(f"/packs/Out%20of%20hours%20DA/passages/{entry}/note", data=note)
    assert sent.status_code == 307
    assert sent.headers["Location"] == f"{url}/passages/{entry}/note"
    saved = client.post(sent.headers["Location"], data=note, follow_redirects=True)
    assert 'maxlength="4000">Kept.</textarea>' in html_of(saved)

    # A pack called only by digits was at /packs/2026, which is now the address of pack 2026.
    numbered = add_json(client, token, "2026", hits(client, "training", k=1)[0]["id"])["url"]
    response = client.get("/packs/2026")
    assert response.status_code == 307 and response.headers["Location"] == numbered


# --- downloads and the print view --------------------------------------------------------------


@pytest.fixture
def exported_pack(client, token) -> tuple[str, list[dict]]:
    """(the pack's page, the hits it holds)."""
    found = hits(client, "training", k=2) + hits(client, NOTES_QUERY, k=1)
    url = [add_json(client, token, "Exported", hit["id"]) for hit in found][-1]["url"]
    pid = passage_ids(html_of(client.get(url)))[-1]
    client.post(
        f"{url}/passages/{pid}/note",
        data={"csrf_token": token, "note": "Use as a warm-up."},
    )
    return url, found


@pytest.mark.parametrize(
    "format_name, content_type",
    [
        ("md", "text/markdown; charset=utf-8"),
        ("csv", "text/csv; charset=utf-8"),
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ],
)
def test_a_pack_downloads_in_each_format_with_every_citation(
    client, exported_pack, format_name, content_type
):
    url, found = exported_pack
    response = client.get(f"{url}/export.{format_name}")
    assert (
        response.status_code == 200 and response.headers["Content-Type"] == content_type
    )  # one charset, said once
    assert response.headers["Content-Disposition"] == f"attachment; filename=Exported.{format_name}"
    sources = source_numbers(found)
    if format_name == "csv":
        rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
        cited = [
            (
                row["agency"],
                row["report"],
                row["section"],
                row["page"],
                row["page_end"],
                row["source"][:4],
            )
            for row in rows
        ]
        assert cited == [
            (
                hit["agency"],
                hit["title"],
                hit["section"],
                str(hit["page"]),
                str(hit["page_end"]),
                f"[{sources[hit['document']]}] ",
            )
            for hit in found
        ]
        assert rows[-1]["note"] == "Use as a warm-up."
        return
    text = read_docx(response.data) if format_name == "docx" else response.data.decode("utf-8")
    text = re.sub(r"\\(.)", r"\1", text) if format_name == "md" else text
    for hit in found:
        assert citation(hit, sources[hit["document"]]) in text, format_name
        assert f"File: {hit['document']}." in text
    assert "Use as a warm-up." in text


def test_the_print_view_has_one_card_per_passage_and_the_sources(client, exported_pack):
    url, found = exported_pack
    html = html_of(client.get(f"{url}/print"))
    cards = re.findall(r'<article class="card".*?</article>', html, re.S)
    assert len(cards) == 3
    assert "Use as a warm-up." in cards[2]
    for card, hit in zip(cards, found):
        assert str(escape(hit["text"])) in card and f"page {hit['page']}" in card
    assert (
        '<h2 id="sources-heading">Sources</h2>' in html and "File: notes.md. Page cited: 1." in html
    )


def test_a_search_downloads_with_its_citations(client):
    response = client.get("/export.docx", query_string={"q": NOTES_QUERY, "k": 2})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith(
        "attachment; filename=escalation-policy-when"
    )
    text = read_docx(response.data)
    assert "Use the escalation policy when agencies disagree." in text and "notes.md" in text
    assert client.get("/export.md", query_string={"q": ""}).status_code == 400


@pytest.fixture(scope="module")
def two_pages(small_index):
    """A passage a page break cuts."""
    return next(
        chunk
        for chunk in Published.open(small_index.index_dir).chunks()
        if chunk.page_end > chunk.page
    )


def test_a_passage_a_page_break_cuts_is_cited_with_both_pages_in_the_pack_its_print_view_and_downloads(  # noqa: E501 - a test's name, which pytest reports and -k selects, cannot be split
    client, token, two_pages
):
    cited = f"pages {two_pages.page}–{two_pages.page_end}"
    url = add_json(client, token, "Across pages", two_pages.id)["url"]
    assert f'<span class="page">{cited}</span>' in html_of(client.get(url))

    html = html_of(client.get(f"{url}/print"))
    (card,) = re.findall(r'<article class="card".*?</article>', html, re.S)
    assert f", {cited} (source 1)" in card
    assert f"Pages cited: {two_pages.page}, {two_pages.page_end}." in html

    markdown = re.sub(r"\\(.)", r"\1", client.get(f"{url}/export.md").get_data(as_text=True))
    word = read_docx(client.get(f"{url}/export.docx").data)
    for text in (markdown, word):
        assert (
            f"{two_pages.agency} · {two_pages.title} · {two_pages.section} · {cited} (source 1)"
            in text
        )
    table = client.get(f"{url}/export.csv").data.decode("utf-8-sig")
    (row,) = csv.DictReader(io.StringIO(table))
    assert (row["page"], row["page_end"]) == (str(two_pages.page), str(two_pages.page_end))


# --- comparing agencies, themes, more like this ------------------------------------------------


def test_compare_shows_each_agency_side_by_side(client):
    html = html_of(client.get("/compare", query_string={"theme": "training"}))
    assert "<h1>Compare agencies: Training</h1>" in html
    agencies = re.findall(r'<h3 id="agency-\d+">([^<]*)</h3>', html)
    assert len(agencies) >= 3 and "ELFT" in agencies
    columns = re.findall(r'<section class="agency-column".*?</section>', html, re.S)
    cards = [column.count('<article class="hit-card"') for column in columns]
    assert len(columns) == len(agencies) and all(1 <= count <= PER_AGENCY for count in cards), cards
    assert 'href="/compare/export.docx?theme=training"' in html
    assert '<a href="/compare?theme=training" aria-current="page">Training</a>' in html

    word = read_docx(client.get("/compare/export.docx?theme=training").data)
    assert word.startswith("Training\n")
    assert all(agency in word for agency in agencies)


def test_compare_shows_passages_that_name_no_agency_last_and_cites_both_pages_of_a_cut_passage(
    client, two_pages
):
    html = html_of(client.get("/compare", query_string={"q": NOTES_QUERY}))
    columns = re.findall(r'<section class="agency-column".*?</section>', html, re.S)
    headings = [
        re.search(r'<h3 id="agency-\d+">([^<]*)</h3>', column).group(1) for column in columns
    ]
    assert (
        len(headings) >= 4
        and headings[-1] == "No agency named"
        and headings.count("No agency named") == 1
    )
    assert f'<h2 id="results-heading">{len(headings) - 1} agencies on' in html
    assert "Use the <mark>escalation</mark> <mark>policy</mark>" in columns[-1]
    assert "All of" not in columns[-1]  # no link to search for "no agency" as if it were a name

    word = read_docx(
        client.get("/compare/export.docx", query_string={"q": NOTES_QUERY}).data
    ).splitlines()
    assert [
        line for line in word if line in headings
    ] == headings  # the same groups, in the same order
    assert f"of each of {len(headings) - 1} agencies" in word[1]

    words = " ".join(two_pages.text.split()[:12])
    html = html_of(client.get("/compare", query_string={"q": words}))
    card = re.search(
        rf'<article class="hit-card" id="result-{two_pages.id}".*?</article>', html, re.S
    ).group(0)
    assert f'<span class="page">pages {two_pages.page}–{two_pages.page_end}</span>' in card


def test_compare_with_nothing_asked_lists_the_themes_and_an_unknown_theme_says_which_exist(client):
    html = html_of(client.get("/compare"))
    assert all(theme.title in html for theme in default_themes()) and 'class="columns"' not in html
    response = client.get("/compare", query_string={"theme": "cooking"})
    assert (
        response.status_code == 404
        and "No theme is called &#39;cooking&#39;; the themes are: domestic-abuse"
        in html_of(response)
    )


def test_more_like_this_shows_other_agencies_first(client):
    start = hits(client, "domestic abuse clinic", agency="Bedfordshire", k=1)[0]
    html = html_of(client.get(f"/passages/{start['id']}/similar"))
    assert str(escape(without_markup(start["text"]))) in html
    cited = (
        f"page {start['page']}"
        if start["page"] == start["page_end"]
        else f"pages {start['page']}–{start['page_end']}"
    )
    title = (
        f"Passages like: {escape(start['title'] or start['document'])}, {cited} "
        "– Safeguarding reports search"
    )
    assert re.search(r"<title>(.*?)</title>", html).group(1) == title
    others = html[html.index("From other agencies") : html.index("From Bedfordshire")]
    own = html[html.index("From Bedfordshire") :]
    assert re.findall(r'<span class="agency">([^<]*)</span>', others)
    assert "Bedfordshire" not in "".join(re.findall(r'<span class="agency">([^<]*)</span>', others))
    assert set(re.findall(r'<span class="agency">([^<]*)</span>', own)) == {start["agency"]}
    assert client.get("/passages/feedface/similar").status_code == 404


# --- safety ------------------------------------------------------------------------------------


TRAINER_PAGES = [
    "/packs",
    "{pack}",
    "{pack}/print",
    "/compare",
    "/compare?theme=neglect",
    "/?q=training",
]


@pytest.mark.parametrize("path", TRAINER_PAGES)
def test_trainer_pages_carry_the_headers_and_no_inline_script_or_style(client, token, path):
    pack = add_json(client, token, "Safe", hits(client, "training", k=1)[0]["id"])["url"]
    response = client.get(path.format(pack=pack))
    assert response.status_code == 200
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    html = html_of(response).replace(OWN_SCRIPT, "")
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert not re.search(r"\son\w+=", html)


def test_hostile_document_text_and_notes_are_escaped_on_every_trainer_page(
    tmp_path, count_tokens, corpus_dir, index
):
    from kb.reindex import reindex

    (corpus_dir / "hostile.md").write_text(
        # As entities, which ingest unescapes into tags in the text (raw tags it strips).
        "# Zebra &lt;script&gt;alert(1)&lt;/script&gt; report\n\n"
        "## Zebra section &lt;img src=x onerror=alert(1)&gt;\n\n"
        "Zebra crossings &lt;script&gt;alert(1)&lt;/script&gt; near "
        "&lt;img src=x onerror=alert(1)&gt; Tom &amp; Jerry.\n",
        encoding="utf-8",
    )
    assert reindex(index, FakeEmbedder, count_tokens).added == ["hostile.md"]
    hostile_app = create_app(index)
    client, token = hostile_app.test_client(), hostile_app.config["KB_CSRF_TOKEN"]
    (hit,) = hits(client, "zebra crossings", document="hostile.md")
    assert SCRIPT in hit["text"]
    url = add_json(client, token, "Hostile", hit["id"])["url"]
    pid = passage_ids(html_of(client.get(url)))[0]
    client.post(
        f"{url}/passages/{pid}/note",
        data={"csrf_token": token, "note": f"note {SCRIPT} {IMG}"},
    )

    pages = [
        url,
        f"{url}/print",
        f"/passages/{hit['id']}/similar",
        "/compare?"
        + urlencode(
            {"q": f"zebra {SCRIPT}"}
        ),  # shown under "No agency named"; the query is hostile too
        "/?" + urlencode({"q": "zebra crossings", "added": SCRIPT}),
        "/packs",
    ]
    for path in pages:
        response = client.get(path)
        html = html_of(response).replace(OWN_SCRIPT, "")
        assert response.status_code == 200, path
        assert "<script" not in html and "<img" not in html, path
        assert (
            "&lt;script&gt;" in html or "&lt;<mark>script</mark>&gt;" in html or path == "/packs"
        ), path
    markdown = client.get(f"{url}/export.md").get_data(as_text=True)
    assert "<script>" not in markdown and "\\<script\\>" in markdown


def test_a_pack_name_holding_markup_is_only_text_on_every_page_that_shows_it(client, token):
    name = f'{IMG} "quoted"'  # any punctuation is allowed in a name now, "<" and quotes too
    back = add(client, token, name, hits(client, "training", k=1)[0]["id"], next="/?q=training")
    url = pack_url(client, name)
    entry = passage_ids(html_of(client.get(url)))[0]
    pages = [
        back.headers["Location"],  # the banner, the Add form's field and the list of names
        "/packs",
        url,
        f"{url}/print",
        f"{url}/passages/{entry}/remove",
        f"{url}/delete",
    ]
    for path in pages:
        html = html_of(client.get(path))
        assert "&lt;img src=x onerror=alert(1)&gt; &#34;quoted&#34;" in html, path
        assert "<img" not in html, path


def test_packs_outlive_the_app(small_index, client, token):
    url = add_json(client, token, "Kept", hits(client, "training", k=1)[0]["id"])["url"]
    restarted = create_app(small_index, open_fake_searcher(small_index))
    assert "Kept" in [name for name, _, _ in Packs(small_index.index_dir).names()]
    assert restarted.config["KB_CSRF_TOKEN"] != client.application.config["KB_CSRF_TOKEN"]
    assert restarted.test_client().get(url).status_code == 200


def test_a_note_sent_from_a_page_older_than_the_server_is_shown_again_to_send_not_lost(
    client, token, app
):
    chunk = hits(client, "training", k=1)[0]["id"]
    add(client, token, "Stale note", chunk, "/")
    url = pack_url(client, "Stale note")
    passage = passage_ids(html_of(client.get(url)))[0]
    path = f"{url}/passages/{passage}/note"
    note = "Ask: who would you call at 2 a.m.? <b>not bold</b>"
    page = {"Sec-Fetch-Site": "same-origin", "Accept": "text/html"}
    response = client.post(
        path, data={"csrf_token": "before-a-restart", "note": note}, headers=page
    )
    html = html_of(response)
    assert response.status_code == 403 and "<h1>Nothing was saved yet</h1>" in html
    assert f">{escape(note)}</textarea>" in html  # what was typed, escaped, to send again
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert fresh == token and f'action="{path}"' in html
    assert (
        client.post(path, data={"csrf_token": fresh, "note": note}, headers=page).status_code == 303
    )
    saved = app.extensions["kb_packs"].get("Stale note").passages[0]
    assert saved.note == note
    # Nothing is offered to send again where the browser does not say the page was this site's,
    # nor for a password.
    for headers in (
        {"Accept": "text/html"},
        {"Sec-Fetch-Site": "cross-site", "Accept": "text/html"},
    ):
        refused = client.post(path, data={"csrf_token": "x", "note": "forged"}, headers=headers)
        assert refused.status_code == 403 and "Send again" not in html_of(refused)
    signing_in = client.post(
        "/sign-in", data={"csrf_token": "x", "name": "a", "password": "secret words"}, headers=page
    )
    assert signing_in.status_code == 403 and "secret words" not in html_of(signing_in)
