"""The HTML pages: the search page, and each indexed document as its original file or as text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from kb import dates, organisations
from kb.clean import without_markup
from kb.errors import (
    EmptyQuery,
    QueryTooLong,
    UnknownAgency,
    UnknownCollection,
    UnknownDocument,
    UsageError,
)
from kb.ingest import regular_file
from kb.passage import NO_AGENCY, IndexedDocument
from kb.search import CANDIDATES, MAX_K
from web.context import searcher, settings
from web.errors import sentence, status_of
from web.highlight import highlight, query_pattern
from web.params import BadK, BadYear, SearchParams

bp = Blueprint("pages", __name__)

# Facets count over this many passages, so they show where else the answer may be. It is the
# searcher's candidate depth, so the page's results can be the top of the facets' search.
FACET_K = CANDIDATES
EXAMPLES = (
    "what does the hospital do for DA out of hours?",
    "children missing education",
    "sharing information without consent",
    "Bradford inspection leaders",
)
# A refused search's page title says in a few words what was wrong (WCAG 2.4.2); the page says it in
# full.
REFUSALS = {
    EmptyQuery: "the query is empty",
    QueryTooLong: "the query is too long",
    UnknownAgency: "no agency has that name",
    UnknownDocument: "no document has that name",
    UnknownCollection: "no collection has that name",
    BadK: f"show from 1 to {MAX_K} passages",
    BadYear: "the year is not a year",
}
MORE = 10  # passages "Show more passages" adds


@dataclass(frozen=True)
class Problem:
    """A refused search as the page says it (GOV.UK's error summary): in a sentence, linked to the
    field it is about, with the choices that would work."""

    field: str  # the id of what the summary links to: the search box, or a filter in use
    message: str
    choices: tuple[tuple[str, str], ...] = ()  # (label, the search with it chosen instead)


def _problem(error: UsageError, params: SearchParams, answering) -> Problem:
    """What went wrong with this search, for the person who typed it rather than for a log."""
    if isinstance(error, QueryTooLong):
        return Problem(
            "q",
            f"Your search is {len(params.q):,} characters long: shorten it to "
            f"{settings().max_query_chars:,} characters or fewer",
        )
    if isinstance(error, BadK):
        asked = request.args.get("k", "")[:20]
        return Problem("q", f"Show from 1 to {MAX_K} passages, not “{asked}”: search again")
    if isinstance(error, UnknownAgency):
        choices = tuple((name, search_url(params, agency=name)) for name in answering.agencies)
        return Problem(
            "filter-agency",
            f"No agency in the reports is called “{params.agency}”: choose one below, or remove "
            "the filter to search every agency",
            choices,
        )
    if isinstance(error, UnknownCollection):
        choices = tuple(
            (name, search_url(params, collection=name)) for name in answering.collections if name
        )
        return Problem(
            "filter-collection",
            f"No collection is called “{params.collection}”: choose one below, or remove the "
            "filter to search the usual collections",
            choices,
        )
    if isinstance(error, UnknownDocument):
        return Problem(
            "filter-document",
            f"No document in the index is called “{params.document}”: remove the filter to search "
            "every document, or choose one from the list on the search page",
        )
    if isinstance(error, BadYear):
        return Problem(
            "filter-year", f"Enter the year as four digits, such as 2024, not “{params.year[:20]}”"
        )
    return Problem("q", sentence(str(error)))


@dataclass(frozen=True)
class Facet:
    label: str
    count: int
    url: str
    selected: bool


@bp.get("/")
def search_page():
    """The search box; with a query, the passages that answer it and facets to narrow them."""
    answering = searcher()
    top_k = settings().top_k
    # Shown again, filters and all, if k is refused.
    params = SearchParams.as_typed(request.args, top_k)
    context: dict[str, Any] = {"params": params, "catalogue": answering.documents}
    try:
        params = context["params"] = SearchParams.from_args(request.args, top_k)
        if not params.q.strip():
            return render_template("search.html", examples=EXAMPLES, **context)
        # One search serves the results and the facets under both filters: for k up to FACET_K both
        # rank the same candidates, so the top k of the wider search are the top k.
        wide = answering.search(params.q, max(params.k, FACET_K), **params.filters())
        results = replace(wide, hits=wide.hits[: params.k])
        facets = _facets(answering, params, wide.hits[:FACET_K])
    except UsageError as error:
        refusal = REFUSALS.get(type(error), "the search was refused")
        problem = _problem(error, context["params"], answering)
        page = render_template("search.html", problem=problem, refusal=refusal, **context)
        return page, status_of(error)
    pattern = query_pattern([results.query, *results.expanded])

    @cache  # each passage is marked once: for the check that any word was found, then for the page
    def mark(text: str):
        return highlight(text, pattern)

    return render_template(
        "search.html",
        results=results,
        answer=answering.answer(results),
        facets=facets,
        facet_k=FACET_K,
        mark=mark,
        words_found=_words_found(results.hits, mark),
        more_url=_more_url(params, len(results.hits)),
        **context,
    )


def _words_found(hits: list, mark) -> bool:
    """Whether the highlighting marked a word of the query in any passage."""
    # The searcher does not say which passages its keyword side matched; the marks read words as it
    # does.
    return any("<mark" in mark(hit.text) for hit in hits)


def _more_url(params: SearchParams, shown: int) -> str | None:
    """The same search with more passages, landing on the first new one; None when there can be no
    more."""
    if shown < params.k or params.k >= MAX_K:
        return None
    args = params.url_args(k=min(params.k + MORE, MAX_K))
    # url_for's **values is Any, but mypy matches the dict against its _anchor and _external too
    return url_for("pages.search_page", **args, _anchor=f"hit-{params.k + 1}")  # type: ignore[arg-type]


FACETS = (
    ("By agency", "agency"),
    ("By document", "document"),
    ("By collection", "collection"),
    ("By year", "year"),
)


def _facets(searcher, params: SearchParams, top: list) -> list[tuple[str, list[Facet]]]:
    """Counts by agency, document, collection and year among the top passages, each under the
    other facets' filters: so a count is what following its link would find among the top
    passages, and never zero. `top` is the top passages under every filter, already searched."""
    searched: dict[SearchParams, list] = {params: top}

    def hits(without: str) -> list:
        wider = params.without(without)
        if wider not in searched:
            searched[wider] = searcher.search(params.q, FACET_K, **wider.filters()).hits
        return searched[wider]

    # Only the documents counted are named: naming all 469 of a library took 3 ms a page.
    entries = {entry.document: entry for entry in searcher.documents}
    # The agencies the filter chose, by the search's own rule: "devon" chooses "Devon local
    # authority".
    chosen = set(searcher.resolve_agency(params.agency)) if params.agency else set()
    value_of = {
        "agency": lambda hit: hit.agency,
        "document": lambda hit: hit.document,
        "collection": lambda hit: hit.collection,
        "year": lambda hit: hit.date[:4],
    }
    label_of: dict[str, Callable[[str], str]] = {
        "document": lambda value: document_label(entries[value]) if value in entries else value
    }
    groups = []
    for heading, name in FACETS:
        counts = Counter(value_of[name](hit) for hit in hits(name))
        counts.pop("", None)
        if name in ("collection", "year") and len(counts) < 2 and not getattr(params, name):
            continue  # one collection or one year: nothing to narrow
        selected = chosen if name == "agency" else {getattr(params, name)}
        order = sorted(counts, reverse=True) if name == "year" else None
        facets = [
            _facet(label_of.get(name, str)(value), value, count, value in selected, params, name)
            for value, count in (
                [(value, counts[value]) for value in order] if order else _ranked(counts)
            )
        ]
        if facets:
            groups.append((heading, facets))
    return groups


def _ranked(counts: Counter) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0].casefold()))


def _facet(
    label: str, value: str, count: int, selected: bool, params: SearchParams, name: str
) -> Facet:
    # A selected facet links to the search without it, so following it again removes the filter.
    args = params.url_args(**{name: "" if selected else value})
    # url_for's **values is Any, but mypy matches the dict against its _anchor and _external too
    return Facet(label, count, url_for("pages.search_page", **args), selected)  # type: ignore[arg-type]


@bp.app_template_global()
def document_label(entry: IndexedDocument) -> str:
    """A document as a list of them names it, one apart from the next: its title, the
    organisation's name where the title does not say it, and its date ("London Borough of Bromley:
    Inspection of children's social care services, November 2018"): a library holds dozens of
    reports with one title, and several editions of one authority's."""
    label = entry.title or entry.document
    if len(entry.agencies) == 1 and not organisations.named_in(label, entry.agency):
        label = f"{entry.agency}: {label}"
    return f"{label}, {dates.shown(entry.date)}" if entry.date else label


@bp.app_template_global()
def search_url(params: SearchParams, **changes) -> str:
    # url_for's **values is Any, but mypy matches the dict against its _anchor and _external too
    return url_for("pages.search_page", **params.url_args(**changes))  # type: ignore[arg-type]


bp.add_app_template_global(dates.shown, "shown_date")
# A passage as a reader should see it: Markdown's marks gone, bullets as bullets.
bp.add_app_template_filter(without_markup, "readable")
# How every page names a passage whose report names no agency.
# Flask's annotation asks for a callable; Jinja's globals take any value.
bp.add_app_template_global(NO_AGENCY, "no_agency")  # type: ignore[arg-type]


LEAD_WORDS = 10  # a result headed by its passage's lead shows this many of its words


@bp.app_template_global()
def lead_of(text: str) -> str:
    """The first words of a passage: what heads a result whose agency and section are not named."""
    words = without_markup(text).lstrip("• ").split()
    return " ".join(words[:LEAD_WORDS]) + ("…" if len(words) > LEAD_WORDS else "")


@bp.app_template_global()
def open_url(document: str, page: int, chunk_id: str | None = None) -> str:
    """Where "open" goes: a PDF at its page, a text document scrolled to the passage."""
    if document.lower().endswith(".pdf"):
        return url_for("pages.original", name=document, _anchor=f"page={page}")
    return url_for("pages.text", name=document, _anchor=f"chunk-{chunk_id}" if chunk_id else None)


@bp.get("/documents/<path:name>")
def original(name: str):
    """The original file, as it lies in the corpus folder; only an indexed document's."""
    entry = searcher().document(name)
    corpus = Path(settings().corpus_dir).resolve()
    if not regular_file(corpus / entry.document):
        # Replaced by a link (or removed) since it was indexed: kb serves only regular files.
        abort(404, description=f"{entry.document} is no longer a file in the corpus folder.")
    mimetype = "application/pdf" if name.lower().endswith(".pdf") else "text/plain"
    # send_from_directory refuses a name that would resolve outside the folder, as a second guard.
    return send_from_directory(corpus, entry.document, mimetype=mimetype, max_age=0)


@bp.get("/documents/<path:name>/text")
def text(name: str):
    """The document's passages in order, escaped, each with an anchor "open" can scroll to."""
    answering = searcher()
    entry: IndexedDocument = answering.document(name)
    return render_template("document.html", document=entry, passages=answering.passages_of(name))


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on pages that name no icon, such as a PDF."""
    return current_app.send_static_file("favicon.svg")
