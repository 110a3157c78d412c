"""The search page, the documents and the JSON API, through Flask's test client on a small index."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import socket
from collections import Counter
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from conftest import BRADFORD, FOUNDING, NOTES, FakeEmbedder, copy_index, small_app
from markupsafe import escape
from werkzeug.exceptions import NotFound

from kb.clean import without_markup
from kb.cli import cli
from kb.passage import IndexedDocument
from kb.settings import Settings
from kb.store import Published
from web import create_app

ROOT = Path(__file__).resolve().parent.parent
PDF = BRADFORD.name
NOTES_QUERY = "escalation policy when agencies disagree"
SCRIPT, IMG = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"
# the one script, a static file; pages work without it
OWN_SCRIPT = '<script src="/static/kb.js" defer></script>'
ESCAPED_SCRIPT, ESCAPED_IMG = (
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&lt;img src=x onerror=alert(1)&gt;",
)
CLOSEST_ONLY = (
    "None of these passages uses your words; they are the closest in meaning. Try other words."
)


@pytest.fixture(scope="module")
def shared_index(template_index, tmp_path_factory) -> Settings:
    """conftest's small index, for the tests here that only read it."""
    root = tmp_path_factory.mktemp("web")
    settings = copy_index(template_index, root)
    corpus = settings.corpus_dir
    # Beside the corpus and inside it but not indexed: neither may ever be served.
    (root / "secret.txt").write_text("the secret next to the corpus")
    (corpus / "README.md").write_text("# Not a report\n\nthe secret in the corpus folder\n")
    return settings


def url_for_search(**args) -> str:
    return "/?" + urlencode(args)


def title_of(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1)


def hrefs(html: str) -> list[str]:
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]*)"', html)]


def hits_of(client, query: str, **args) -> list[dict]:
    response = client.get("/api/search", query_string={"q": query, **args})
    assert response.status_code == 200, response.json
    return response.json["results"]


def labels_of(client) -> dict[str, str]:
    """Each document's name in the page's lists of documents, by its file."""
    from web.pages import document_label

    rows = client.get("/api/documents").json["documents"]
    return {
        row["document"]: document_label(
            IndexedDocument(
                row["document"],
                row["title"],
                row["agency"],
                tuple(row["agencies"]),
                row["pages"],
                row["chunks"],
                row["date"],
            )
        )
        for row in rows
    }


# --- the search page ---------------------------------------------------------------------------


def test_empty_state_has_a_labelled_box_examples_and_the_documents(client):
    html = client.get("/").get_data(as_text=True)
    assert '<label for="q">Search the reports</label>' in html
    assert '<input id="q" name="q" type="search" value=""' in html
    assert 'method="get"' in html
    assert html.index('class="skip-link" href="#main"') < html.index('id="q"')
    assert "/?q=what+does+the+hospital+do+for+DA+out+of+hours?" in hrefs(html)
    assert f"/documents/{PDF}#page=1" in hrefs(html)
    assert "/documents/notes.md/text" in hrefs(html)
    assert 'id="results"' not in html


def test_a_query_shows_cited_passages_with_words_marked(client):
    expected = hits_of(client, NOTES_QUERY, k=3)
    response = client.get("/", query_string={"q": NOTES_QUERY, "k": 3})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<a class="skip-link" href="#results">Skip to results</a>' in html
    assert f"3 passages for “{NOTES_QUERY}”" in html
    assert "Took " not in html  # the page is for the answer, not for timing it
    assert html.count('<li class="hit">') == 3
    first = expected[0]
    assert first["document"] == "notes.md"
    # Each result is headed by what tells it apart (its agency and section; here, a report that
    # names no agency, its section), and cited by document, date and page under that heading.
    assert re.search(
        r'<h3 id="hit-1" class="hit-title"><span class="section">Escalation</span></h3>\s*'
        r'<p class="cite">\s*<span class="agency">No agency named</span>\s*'
        rf'<span class="document">{first["title"]}</span>',
        html,
    )
    assert '<span class="agency">No agency named</span>' in html
    assert '<span class="page">page 1</span>' in html
    marked = (
        "Use the <mark>escalation</mark> <mark>policy</mark> when <mark>agencies</mark> "
        "<mark>disagree</mark>."
    )
    assert marked in html
    assert f"/documents/notes.md/text#chunk-{first['id']}" in hrefs(html)
    assert (
        '<input id="q" name="q" type="search" value="escalation policy when agencies disagree"'
        in html
    )


def test_open_links_go_to_the_pdf_page_or_the_passage(client):
    html = client.get(
        "/", query_string={"q": "Bradford leaders", "document": PDF, "k": 5}
    ).get_data(as_text=True)
    hits = hits_of(client, "Bradford leaders", document=PDF, k=5)
    assert {hit["document"] for hit in hits} == {PDF}
    for hit in hits:
        assert f"/documents/{PDF}#page={hit['page']}" in hrefs(html)
    assert f"Open the PDF at page {hits[0]['page']}" in html


def test_expanded_query_says_what_else_was_searched(client):
    html = client.get("/", query_string={"q": "DA clinic"}).get_data(as_text=True)
    assert re.search(r"Also searched for: [^<]*\bdomestic abuse\b", html)
    assert "<mark>Domestic</mark> <mark>Abuse</mark> <mark>Clinic</mark>" in html


def test_facets_count_the_top_passages_and_narrow_the_search(client):
    html = client.get("/", query_string={"q": "training"}).get_data(as_text=True)
    top = hits_of(client, "training", k=50)
    by_agency = Counter(hit["agency"] for hit in top if hit["agency"])
    label = labels_of(client)
    by_title = Counter(label[hit["document"]] for hit in top)
    assert len(by_agency) > 1 and len(by_title) > 1
    for name, count in [*by_agency.items(), *by_title.items()]:
        assert f'{escape(name)} <span class="count">({count})</span>' in html

    agency = by_agency.most_common()[-1][0]  # the smallest, so narrowing visibly removes passages
    link = url_for_search(q="training", agency=agency)
    assert link in hrefs(html)
    narrowed = client.get(link).get_data(as_text=True)
    assert set(re.findall(r'<span class="agency">([^<]*)</span>', narrowed)) == {
        str(escape(agency))
    }
    assert narrowed.count('<li class="hit">') >= min(
        by_agency[agency], 10
    )  # beyond the top 50 there may be more
    assert (
        f'<input type="hidden" name="agency" value="{escape(agency)}">' in narrowed
    )  # a new query keeps it
    assert (
        '<a href="/?q=training" aria-current="true">' in narrowed
    )  # the selected facet removes it


def test_with_an_agency_chosen_each_group_is_counted_under_the_other_groups_filters(client):
    """Documents are counted among the chosen agency's best 50 passages, so their counts agree
    with what is shown; agencies among everyone's, so another agency can be chosen instead."""
    chosen = "Bedfordshire Hospitals Foundation Trust"
    html = client.get("/", query_string={"q": "training", "agency": chosen}).get_data(as_text=True)
    agencies = Counter(hit["agency"] for hit in hits_of(client, "training", k=50) if hit["agency"])
    label = labels_of(client)
    documents = Counter(
        label[hit["document"]] for hit in hits_of(client, "training", k=50, agency=chosen)
    )
    groups = dict(re.findall(r"<h3>(By \w+)</h3>\s*<ul>(.*?)</ul>", html, re.S))
    counted = {
        heading: {
            unescape(label.strip()): int(count)
            for label, count in re.findall(
                r'(?:</span>)?([^<>]+?) <span class="count">\((\d+)\)</span>', group
            )
        }
        for heading, group in groups.items()
    }
    assert counted["By agency"] == dict(agencies) and len(agencies) > 1
    assert counted["By document"] == dict(documents)
    assert sum(counted["By document"].values()) == sum(documents.values())
    assert "counted under the filters chosen in the other groups" in html


@pytest.mark.parametrize(
    "agency, selected",
    [
        ("Bradford Children and Families Trust", ["Bradford Children and Families Trust"]),
        (
            "bradford",
            ["Bradford Children and Families Trust"],
        ),  # part of the name, as the search takes it
        ("  BRADFORD   children ", ["Bradford Children and Families Trust"]),
        (
            "trust",
            ["Bedfordshire Hospitals Foundation Trust", "Bradford Children and Families Trust"],
        ),
    ],
)
def test_the_agency_facets_the_filter_chose_are_selected_and_remove_it(client, agency, selected):
    html = client.get("/", query_string={"q": "training", "agency": agency}).get_data(as_text=True)
    chosen = re.findall(
        r'<a href="([^"]*)" aria-current="true"><span class="visually-hidden">'
        r"Selected, follow to remove: </span>([^<]*) <span",
        html,
    )
    assert chosen == [("/?q=training", name) for name in selected]


def test_k_in_the_url_sets_how_many_passages(client):
    html = client.get("/?q=training&k=2").get_data(as_text=True)
    assert html.count('<li class="hit">') == 2
    assert '<input type="hidden" name="k" value="2">' in html


def test_no_results_suggests_fewer_words_and_removing_filters(client):
    args = {
        "q": "training",
        "agency": "Bradford",
        "document": "notes.md",
    }  # no Bradford passage is in the notes
    html = client.get("/", query_string=args).get_data(as_text=True)
    assert "0 passages for" in html and "No passages found" in html
    assert "Try fewer words, or more general ones." in html
    assert "/?q=training&document=notes.md" in hrefs(html)
    assert "/?q=training&agency=Bradford" in hrefs(html)


SHOW_K = "show from 1 to 100 passages"


@pytest.mark.parametrize(
    "args, field, message, title, status",
    [
        (
            {"q": "x" * 10_000},
            "q",
            "Your search is 10,000 characters long: shorten it to 1,000 characters or fewer",
            "the query is too long",
            400,
        ),
        (
            {"q": "neglect", "agency": "Police"},
            "filter-agency",
            "No agency in the reports is called “Police”: choose one below, or remove the filter "
            "to search every agency",
            "no agency has that name",
            404,
        ),
        (
            {"q": "neglect", "document": "missing.pdf"},
            "filter-document",
            "No document in the index is called “missing.pdf”: remove the filter to search every "
            "document, or choose one from the list on the search page",
            "no document has that name",
            404,
        ),
        (
            {"q": "neglect", "collection": "nowhere"},
            "filter-collection",
            "No collection is called “nowhere”: choose one below, or remove the filter to search "
            "the usual collections",
            "no collection has that name",
            404,
        ),
        (
            {"q": "neglect", "year": "last year"},
            "filter-year",
            "Enter the year as four digits, such as 2024, not “last year”",
            "the year is not a year",
            400,
        ),
        ({"q": "neglect", "k": "ten"}, "q", "Show from 1 to 100 passages, not “ten”", SHOW_K, 400),
        ({"q": "neglect", "k": "0"}, "q", "Show from 1 to 100 passages, not “0”", SHOW_K, 400),
        ({"q": "neglect", "k": "101"}, "q", "Show from 1 to 100 passages, not “101”", SHOW_K, 400),
    ],
)
def test_bad_input_on_the_page_is_summarised_first_and_linked_to_its_field(
    client, args, field, message, title, status
):
    """400 for a request that is wrong, 404 for one naming an agency or document not indexed; the
    page says so as GOV.UK's pages do: a summary first, linking to the field, said again there."""
    response = client.get("/", query_string=args)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    summary = re.search(r'<div class="error-summary" role="alert".*?</div>', html, re.S)
    assert summary and html.index(summary.group(0)) < html.index("<h1>")
    said = str(escape(message))
    assert f'<li><a href="#{field}">{said}' in summary.group(0)
    assert said[0].isupper()  # a sentence, not a log line
    # The field it links to is on the page, with the same words beside it.
    assert f'id="{field}"' in html
    beside = html[html.index(f'id="{field}"') - 600 : html.index(f'id="{field}"') + 900]
    assert f'<span class="visually-hidden">Error:</span> {said}' in beside
    if field == "q":
        assert 'aria-describedby="q-hint q-error"' in html and 'aria-invalid="true"' in html
    assert title_of(html).startswith("Error: ") and title in title_of(html)
    assert '<label for="q">' in html  # the form is still there to try again


def test_an_unknown_agency_offers_the_agencies_the_reports_name(client):
    html = client.get("/", query_string={"q": "neglect", "agency": "Police"}).get_data(as_text=True)
    choices = re.search(r'<ul class="choices">(.*?)</ul>', html, re.S).group(1)
    assert "/?q=neglect&agency=Bedfordshire+Hospitals+Foundation+Trust" in hrefs(choices)
    assert "Police" not in choices


@pytest.mark.parametrize(
    "args, passages, more",
    [
        ({"q": "training"}, 10, "/?q=training&k=20#hit-11"),
        (
            {"q": "training", "agency": "bradford", "document": PDF, "k": "5"},
            5,
            f"/?q=training&agency=bradford&document={PDF}&k=15#hit-6",
        ),
        ({"q": "training", "k": "95"}, 95, "/?q=training&k=100#hit-96"),  # no further than k=100
        ({"q": "training", "k": "100"}, 100, None),
        ({"q": "training", "document": "notes.md"}, 1, None),  # fewer than k: there are no more
    ],
)
def test_show_more_passages_asks_for_ten_more_and_lands_on_the_first_new_one(
    client, args, passages, more
):
    html = client.get("/", query_string=args).get_data(as_text=True)
    assert html.count('<li class="hit">') == passages
    links = re.findall(
        r'<p class="more-passages"><a href="([^"]*)">Show more passages</a></p>', html
    )
    assert [link.replace("&amp;", "&") for link in links] == ([more] if more else [])
    if more:
        path, _, anchor = more.partition("#")
        shown = client.get(path).get_data(as_text=True)
        assert (
            shown.count('<li class="hit">') == min(passages + 10, 100) and f'id="{anchor}"' in shown
        )


@pytest.mark.parametrize(
    "query, closest_only",
    [
        (
            "xqzzy blorf",
            True,
        ),  # no passage holds either word: the model's nearest passages are shown
        ("what does the", True),  # words the keyword search leaves out match nothing either
        (NOTES_QUERY, False),
        ("DA clinic", False),  # a word it was expanded to counts
    ],
)
def test_passages_without_the_querys_words_are_said_to_be_the_closest_in_meaning(
    client, query, closest_only
):
    html = client.get("/", query_string={"q": query}).get_data(as_text=True)
    assert f"10 passages for “{query}”" in html
    assert ("<mark>" in html) is not closest_only
    notice = f'<p class="closest-only">{CLOSEST_ONLY}</p>'
    assert (notice in html) is closest_only
    if closest_only:
        assert (
            html.index('id="results-heading"')
            < html.index(notice)
            < html.index('<ol class="hits">')
        )


@pytest.mark.parametrize("k", ["0", "ten", "101"])
def test_a_bad_k_keeps_the_filters_the_user_chose(client, k):
    response = client.get(
        "/", query_string={"q": "neglect", "agency": "ELFT", "document": "notes.md", "k": k}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and f"Show from 1 to 100 passages, not “{k}”" in html
    assert '<input type="hidden" name="agency" value="ELFT">' in html
    assert '<input type="hidden" name="document" value="notes.md">' in html
    assert '<ul class="filters" aria-label="Filters in use">' in html
    assert "/?q=neglect&document=notes.md" in hrefs(html) and "/?q=neglect&agency=ELFT" in hrefs(
        html
    )  # "remove"


@pytest.mark.parametrize("q", ["", "   "])
def test_an_empty_query_on_the_page_is_the_start_page(client, q):
    response = client.get("/", query_string={"q": q})
    assert response.status_code == 200 and "What you can search" in response.get_data(as_text=True)


def test_the_icon_is_served_where_browsers_look_for_it(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"


def test_unknown_page_is_a_404_page(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "text/html" and "Go to the search page" in response.get_data(
        as_text=True
    )


# --- documents ---------------------------------------------------------------------------------


def test_a_pdf_is_served_as_the_original_file(client):
    response = client.get(f"/documents/{PDF}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data == BRADFORD.read_bytes()


def test_a_text_document_is_served_as_plain_text(client):
    response = client.get("/documents/notes.md")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == NOTES


def test_text_view_has_an_anchor_per_passage_in_order(client, shared_index):
    name = FOUNDING.name
    chunks = sorted(
        (c for c in Published.open(shared_index.index_dir).chunks() if c.document == name),
        key=lambda c: c.position,
    )
    html = client.get(f"/documents/{name}/text").get_data(as_text=True)
    anchors = re.findall(r'id="chunk-([0-9a-f]+)"', html)
    assert len(anchors) > 10 and anchors == [chunk.id for chunk in chunks]
    notes = client.get("/documents/notes.md/text").get_data(as_text=True)
    assert "<h1>Practice notes</h1>" in notes and "<h3>Escalation</h3>" in notes
    assert "Use the escalation policy when agencies disagree." in notes


def test_every_open_link_on_a_results_page_resolves(client):
    html = client.get("/", query_string={"q": "domestic abuse clinic", "k": 20}).get_data(
        as_text=True
    )
    links = [href for href in hrefs(html) if href.startswith("/documents/")]
    assert links
    for link in links:
        path, _, anchor = link.partition("#")
        response = client.get(path)
        assert response.status_code == 200, link
        if anchor.startswith("chunk-"):
            assert f'id="{anchor}"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/documents/missing.pdf",
        "/documents/missing.pdf/text",
        "/documents/../secret.txt",
        "/documents/%2e%2e/secret.txt",
        "/documents/%2e%2e%2fsecret.txt",
        "/documents/..%5csecret.txt",
        "/documents/%2e%2e/%2e%2e/pyproject.toml",
        "/documents/../corpus/notes.md",
        "/documents//etc/passwd",
        "/documents/%2fetc%2fpasswd",
        "/documents/%2Fetc%2Fpasswd/text",
        "/documents/README.md",  # in the corpus folder, but not an indexed document
    ],
)
def test_only_indexed_documents_are_served(client, path):
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 404
    assert b"secret" not in response.data.replace(b"secret.txt", b"")
    assert b"root:" not in response.data


# --- the JSON API ------------------------------------------------------------------------------


def test_api_search_answers_as_kb_search_json(client, shared_index, monkeypatch):
    monkeypatch.setenv("KB_MODEL", FakeEmbedder.name)
    args = ["search", NOTES_QUERY, "--json", "-k", "3", "--index", str(shared_index.index_dir)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    cli_answer = json.loads(result.stdout)
    response = client.get("/api/search", query_string={"q": NOTES_QUERY, "k": 3})
    assert response.status_code == 200 and response.mimetype == "application/json"
    answer = response.json
    assert list(answer) == ["query", "expanded", "results", "took_ms", "weak"]
    assert {**answer, "took_ms": 0} == {**cli_answer, "took_ms": 0}


def test_api_search_filters_by_agency_and_document(client):
    bradford = hits_of(client, "training", agency="bradford", k=5)  # a part of the name
    assert {hit["agency"] for hit in bradford} == {"Bradford Children and Families Trust"}
    assert {hit["document"] for hit in hits_of(client, "training", document=PDF, k=5)} == {PDF}
    assert len(hits_of(client, "training")) == 10


@pytest.mark.parametrize(
    "args, message, status",
    [
        ({}, "give a query: /api/search?q=", 400),
        ({"q": ""}, "the query is empty", 400),
        ({"q": "  \n "}, "the query is empty", 400),
        ({"q": "x" * 10_000}, "the query is 10000 characters long; the limit is 1000", 400),
        (
            {"q": "neglect", "agency": "Police"},
            "no agency matches 'Police'; the index holds: Bedfordshire Hospitals",
            404,
        ),
        (
            {"q": "neglect", "document": "../pyproject.toml"},
            "no document is called '../pyproject.toml'; the index",
            404,
        ),
        ({"q": "neglect", "k": "ten"}, "k must be a whole number from 1 to 100, not 'ten'", 400),
        ({"q": "neglect", "k": "1.5"}, "k must be a whole number from 1 to 100, not '1.5'", 400),
        ({"q": "neglect", "k": "0"}, "k must be a whole number from 1 to 100, not '0'", 400),
        ({"q": "neglect", "k": "101"}, "k must be a whole number from 1 to 100, not '101'", 400),
        ({"q": "neglect", "k": "-3"}, "k must be a whole number from 1 to 100, not '-3'", 400),
        ({"q": "neglect", "year": "24"}, "year must be a year such as 2024, not '24'", 400),
    ],
)
def test_api_bad_input_is_refused_with_a_json_message(client, args, message, status):
    """The same statuses as the page's: 404 for a name not indexed, 400 for the rest."""
    response = client.get("/api/search", query_string=args)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert list(response.json) == ["error"] and message in response.json["error"]


def test_an_empty_year_as_a_form_sends_it_is_every_year(client):
    every = client.get("/api/search", query_string={"q": "neglect"}).json["results"]
    for year in ("", " "):
        answer = client.get("/api/search", query_string={"q": "neglect", "year": year})
        assert answer.status_code == 200 and answer.json["results"] == every


def test_api_documents_lists_what_is_indexed(client):
    answer = client.get("/api/documents").json
    assert [row["document"] for row in answer["documents"]] == sorted(
        [PDF, FOUNDING.name, "notes.md"]
    )
    notes = next(row for row in answer["documents"] if row["document"] == "notes.md")
    expected = {
        "document": "notes.md",
        "title": "Practice notes",
        "agency": "",
        "pages": 1,
        "chunks": 1,
    }
    assert {name: notes[name] for name in expected} == expected
    assert {
        "Bedfordshire Hospitals Foundation Trust",
        "Bradford Children and Families Trust",
    } <= set(answer["agencies"])


def test_healthz_counts_the_passages(client, shared_index):
    response = client.get("/healthz")
    assert response.status_code == 200
    store = Published.open(shared_index.index_dir)
    assert response.json == {
        "status": "ok",
        "chunks": store.count(),
        "generation": store.generation,
    }
    assert response.json["chunks"] > 10


@pytest.mark.parametrize(
    "path, method", [("/api/nothing", "get"), ("/api/search", "post"), ("/healthz/x", "get")]
)
def test_api_errors_are_json(client, path, method):
    response = getattr(client, method)(path)
    assert response.status_code in (404, 405)
    assert response.mimetype == "application/json" and response.json["error"]


def test_openapi_description_is_valid_and_matches_the_routes(client, app):
    from openapi_spec_validator import validate

    spec = client.get("/api/openapi.json").json
    validate(spec)
    json_routes = {
        rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
    }
    assert set(spec["paths"]) == json_routes
    q = spec["paths"]["/api/search"]["get"]["parameters"][0]
    assert q["schema"]["maxLength"] == 1000
    assert q["description"] == (
        "The query; not only spaces. Its length, at most 1000 characters, is counted after "
        "each run of whitespace is collapsed to one space and any at either end removed."
    )


@pytest.mark.parametrize(
    "path, schema",
    [
        ("/api/search?q=training&k=3", "Results"),
        ("/api/search?q=neglect&agency=Police", "Error"),
        ("/api/documents", "Catalogue"),
        ("/healthz", "Health"),
    ],
)
def test_answers_match_their_openapi_schemas(client, path, schema):
    from jsonschema import Draft202012Validator

    components = client.get("/api/openapi.json").json["components"]
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": components}
    )
    validator.validate(client.get(path).json)


# --- security ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?q=training",
        "/?q=x&k=0",
        "/api/search?q=training",
        "/api/search",
        "/healthz",
        f"/documents/{PDF}",
        "/documents/notes.md/text",
        "/nowhere",
        "/static/kb.css",
    ],
)
def test_every_response_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    directives = (
        "default-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
    assert all(directive in csp for directive in directives), csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    "listen, allowed, host, answered",
    [
        ("127.0.0.1", (), "localhost:5000", True),
        ("127.0.0.1", (), "127.0.0.1:5000", True),
        ("127.0.0.1", (), "[::1]:5000", True),
        ("127.0.0.1", (), "attacker.example:5000", False),  # DNS rebinding: another site's name
        (
            "127.0.0.1",
            (),
            "192.168.1.5:5000",
            False,
        ),  # listening on loopback, only loopback addresses
        ("127.0.0.1", ("kb.lscp.local",), "KB.lscp.local", True),
        ("0.0.0.0", (), "192.168.1.5:5000", True),
        ("0.0.0.0", (), "[fe80::1]:5000", True),
        ("0.0.0.0", (), "attacker.example", False),
        ("0.0.0.0", (), "attacker.example.127.0.0.1.nip.io", False),
        ("0.0.0.0", ("kb.lscp.local",), "kb.lscp.local:80", True),
        ("kb.lscp.local", (), "kb.lscp.local:5000", True),
    ],
)
def test_a_request_for_another_sites_name_is_refused(shared_index, listen, allowed, host, answered):
    app = small_app(dataclasses.replace(shared_index, host=listen, allowed_hosts=allowed))
    client = app.test_client()
    for path in ("/", "/api/search?q=training", "/packs"):
        response = client.get(path, headers={"Host": host})
        assert (response.status_code == 200) is answered, (path, response.status_code)
        if not answered:
            assert response.status_code == 400 and "KB_ALLOWED_HOSTS" in response.get_data(
                as_text=True
            )


def test_this_machines_own_name_is_answered_when_listening_beyond_loopback(shared_index):
    app = small_app(dataclasses.replace(shared_index, host="0.0.0.0"))
    assert (
        app.test_client()
        .get("/healthz", headers={"Host": f"{socket.gethostname()}:5000"})
        .status_code
        == 200
    )
    loopback_only = small_app(shared_index).test_client()
    assert (
        loopback_only.get("/healthz", headers={"Host": f"{socket.gethostname()}:5000"}).status_code
        == 400
    )


def test_pages_hold_no_inline_script_or_style(client):
    for path in ("/", "/?q=training", "/?q=x&k=0", "/documents/notes.md/text", "/nowhere"):
        html = client.get(path).get_data(as_text=True).replace(OWN_SCRIPT, "")
        assert "<script" not in html and "<style" not in html and " style=" not in html
        assert not re.search(r"\son\w+=", html)


@pytest.fixture
def hostile_client(index, corpus_dir, count_tokens):
    """A report whose text holds script and image tags, raw and as entities (which ingest
    unescapes)."""
    from kb.reindex import reindex

    (corpus_dir / "hostile.md").write_text(
        f"# Zebra &lt;script&gt;alert(1)&lt;/script&gt; report\n\n"
        f"## Zebra section &lt;img src=x onerror=alert(1)&gt;\n\n"
        f"Zebra crossings {SCRIPT} near &lt;script&gt;alert(1)&lt;/script&gt; and "
        f"&lt;img src=x onerror=alert(1)&gt; {IMG} Tom &amp; Jerry.\n",
        encoding="utf-8",
    )
    summary = reindex(index, FakeEmbedder, count_tokens)
    assert summary.added == ["hostile.md"], summary
    return create_app(index).test_client()


def test_a_hostile_document_is_escaped_everywhere(hostile_client):
    (hit,) = hits_of(hostile_client, "zebra crossings alert script onerror", document="hostile.md")
    assert SCRIPT in hit["text"] and IMG in hit["text"]  # the tags reach the web layer as text
    assert SCRIPT in hit["title"] and IMG in hit["section"]

    pages = {
        "results": hostile_client.get(
            "/", query_string={"q": "zebra crossings alert script onerror img"}
        ),
        "text view": hostile_client.get("/documents/hostile.md/text"),
        "start page": hostile_client.get("/"),
        "filtered": hostile_client.get("/", query_string={"q": "zebra", "document": "hostile.md"}),
    }
    for name, response in pages.items():
        html = response.get_data(as_text=True).replace(OWN_SCRIPT, "")
        assert response.status_code == 200, name
        assert "<script" not in html and "<img" not in html and "onerror=alert(1)>" not in html, (
            name
        )
        assert (
            "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&lt;<mark>script</mark>&gt;" in html
        ), name
    results = pages["results"].get_data(as_text=True)
    assert "&lt;<mark>script</mark>&gt;<mark>alert</mark>(1)&lt;/<mark>script</mark>&gt;" in results
    assert "&lt;<mark>img</mark> src=x <mark>onerror</mark>=<mark>alert</mark>(1)&gt;" in results
    assert "Tom &amp; Jerry" in results
    assert ESCAPED_SCRIPT in pages["text view"].get_data(as_text=True)
    assert ESCAPED_IMG in pages["text view"].get_data(as_text=True)


def test_a_hostile_query_is_escaped_where_it_is_shown(client):
    for args in (
        {"q": f"training {SCRIPT}"},
        {"q": SCRIPT, "agency": IMG},
        {"q": IMG, "k": SCRIPT},
    ):
        html = client.get("/", query_string=args).get_data(as_text=True).replace(OWN_SCRIPT, "")
        assert "<script" not in html and "<img" not in html
        assert ESCAPED_SCRIPT in html or ESCAPED_IMG in html


def test_query_text_is_not_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.get("/", query_string={"q": "zanzibar hospital rota"})
    client.get("/api/search", query_string={"q": "zanzibar clinic rota"})
    client.get("/", query_string={"q": "zanzibar " * 300})  # refused as too long
    assert (
        "GET / 200" in caplog.text
        and "GET /api/search 200" in caplog.text
        and "GET / 400" in caplog.text
    )
    assert "zanzibar" not in caplog.text


# --- the pieces --------------------------------------------------------------------------------


def test_serve_without_an_index_says_to_reindex(settings):
    result = CliRunner().invoke(cli, ["serve", "--port", "0"])
    assert result.exit_code == 1
    assert "no index at" in result.stderr and "run `kb reindex` first" in result.stderr


def test_templates_and_css_ship_with_the_package():
    import tomllib

    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["web"]
    shipped = {path for pattern in package_data for path in (ROOT / "web").glob(pattern)}
    assert {ROOT / "web/templates/base.html", ROOT / "web/static/kb.css"} <= shipped


@pytest.mark.parametrize(
    "args",
    [
        {"q": "domestic abuse"},
        {"q": "neglect", "agency": "Community", "k": "3"},
        {"q": "leaders", "document": BRADFORD.name, "k": "60"},
    ],
)
def test_the_page_shows_the_same_passages_in_the_same_order_as_the_api(client, args):
    """The page takes its results from the facets' wider search; they must be the API's own."""
    api = client.get("/api/search", query_string=args).get_json()["results"]
    html = client.get("/", query_string=args).get_data(as_text=True)
    pages = re.findall(r'<span class="page">pages? (\d+)(?:–(\d+))?</span>', html)
    passages = re.findall(r'<p class="passage">(.*?)</p>', html, re.S)
    assert api and len(pages) == len(passages) == len(api)
    assert [(int(first), int(last or first)) for first, last in pages] == [
        (hit["page"], hit["page_end"]) for hit in api
    ]
    assert [re.sub(r"</?mark>", "", text) for text in passages] == [
        str(escape(without_markup(hit["text"])))
        for hit in api  # shown without Markdown's marks
    ]


@pytest.mark.parametrize("path", ["/api/search", "/"])
def test_a_method_a_path_does_not_take_is_a_405_naming_the_ones_it_does(client, path):
    response = client.delete(path)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"] and "DELETE" not in response.headers["Allow"]


def test_a_passage_a_page_break_cuts_is_cited_with_both_pages(client, shared_index):
    spanning = next(
        chunk
        for chunk in Published.open(shared_index.index_dir).chunks()
        if chunk.page_end > chunk.page
    )
    query = " ".join(spanning.text.split()[:25])
    answer = client.get("/api/search?" + urlencode({"q": query, "k": 20})).json
    found = next(hit for hit in answer["results"] if hit["id"] == spanning.id)
    assert (found["page"], found["page_end"]) == (spanning.page, spanning.page_end)
    assert all(hit["page_end"] >= hit["page"] for hit in answer["results"])
    page = client.get("/?" + urlencode({"q": query, "k": 20})).get_data(as_text=True)
    assert f"pages {spanning.page}–{spanning.page_end}" in page
    as_text = client.get(f"/documents/{spanning.document}/text").get_data(as_text=True)
    assert f"pages {spanning.page}–{spanning.page_end}" in as_text


def test_a_page_that_does_not_exist_is_a_plain_page_not_found(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "<h1>Page not found</h1>" in page and "<title>Page not found" in page
    assert "If you typed the web address, check it is correct." in page
    assert "requested URL was not found on the server" not in page  # Werkzeug's words
    assert client.get("/api/no-such-thing").json == {"error": NotFound.description}


def test_an_error_kb_explains_keeps_its_explanation_in_a_sentence(client):
    response = client.get("/packs/nothing-here")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "<h1>Page not found</h1>" in page
    assert "<p>No pack is called &#39;nothing-here&#39;" in page  # a sentence, not a log line


def test_the_answer_comes_first_quoted_from_the_first_passage_with_its_citation(client):
    response = client.get("/", query_string={"q": NOTES_QUERY, "k": 3})
    html = response.get_data(as_text=True)
    first = hits_of(client, NOTES_QUERY, k=3)[0]
    quoted = re.search(r'<blockquote class="answer-quote"[^>]*><p>“(.*?)”</p>', html, re.S)
    assert quoted, "no answer above the passages"
    assert html.index('class="answer"') < html.index('id="results-heading"')
    assert quoted.group(1) in first["text"]  # a quotation from the first passage, nothing made up
    citation = html[html.index('class="answer-citation"') :].split("</p>")[0]
    assert first["section"] in citation and "page" in citation
    assert f'href="/documents/{first["document"]}' in citation


def test_passages_show_no_markdown_marks(client):
    raw = [hit["text"] for hit in hits_of(client, "Make Every Contact Count MECC", k=10)]
    assert any("*MECC*" in text for text in raw)  # the report's own text holds the marks
    html = client.get("/", query_string={"q": "Make Every Contact Count MECC"}).get_data(
        as_text=True
    )
    assert "*MECC*" not in html and "*<mark>MECC</mark>*" not in html
    assert "(<mark>MECC</mark>)" in html


@pytest.mark.parametrize(
    "title, agencies, date, label",
    [
        (  # dozens of reports share this title: the council and date tell them apart
            "Inspection of children’s social care services",
            ("London Borough of Bromley",),
            "2018-11-30",
            "London Borough of Bromley: Inspection of children’s social care services, "
            "30 November 2018",
        ),
        (  # the title names the authority by a word of its own name
            "Inspection of Haringey local authority children’s services",
            ("London Borough of Haringey",),
            "2024-03",
            "Inspection of Haringey local authority children’s services, March 2024",
        ),
        (  # a partnership's report: many agencies, none of them its author
            "Partners' snapshot",
            ("ELFT", "Luton Borough Council"),
            "2024",
            "Partners' snapshot, 2024",
        ),
        ("", ("ELFT",), "", "ELFT: notes.md"),
    ],
)
def test_a_document_is_listed_by_a_name_that_sets_it_apart(title, agencies, date, label):
    from web.pages import document_label

    entry = IndexedDocument("notes.md", title, agencies[0], agencies, 3, 9, date)
    assert document_label(entry) == label
