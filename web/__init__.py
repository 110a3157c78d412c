"""The practitioner's search page and JSON API: a Flask app factory over one kb Searcher."""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING

from flask import Flask, g, make_response, request
from werkzeug.exceptions import HTTPException

from kb.packs import Packs
from kb.settings import Settings

if TYPE_CHECKING:  # the search stack (chromadb, the model) is imported only when a searcher is built
    from kb.search import Searcher
    from web.follow import IndexFollower

# No 'unsafe-inline' anywhere: the pages have no inline script or style to allow.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

log = logging.getLogger("kb.web")


def create_app(settings: Settings | None = None, searcher: Searcher | None = None) -> Flask:
    """The app, with the searcher built once (or the one given) at app.extensions["kb"]."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json.sort_keys = False  # the API answers in the same key order as `kb search --json`
    app.json.ensure_ascii = False
    app.config["KB_SETTINGS"] = settings
    app.extensions["kb"] = searcher or build_searcher(settings)
    app.extensions["kb_packs"] = Packs(settings.index_dir)
    # Every form carries this; a page on another site cannot read it. A restart makes a new one.
    app.config["KB_CSRF_TOKEN"] = secrets.token_urlsafe(32)

    from web import api, pages, trainers

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(trainers.bp)
    app.register_error_handler(HTTPException, _http_error)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()
        # One searcher for the whole request: after a reindex, the next request gets the new one.
        g.searcher = app.extensions["kb"]

    @app.after_request
    def secure_and_log(response):
        response.headers.update(SECURITY_HEADERS)
        # The path only: a query string holds what a practitioner searched for, which is not logged.
        took = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info("%s %s %s %.0f ms", request.method, request.path, response.status_code, took)
        return response

    return app


def searcher() -> Searcher:
    """The searcher answering this request (the index generation it started on)."""
    return g.searcher


def follow_reindex(app: Flask, settings: Settings) -> IndexFollower:
    """Start moving the app onto each generation a reindex publishes, with the model already loaded."""
    from kb.search import open_searcher
    from kb.store import current_generation
    from web.follow import IndexFollower

    embedder = app.extensions["kb"].embedder
    return IndexFollower(
        app, lambda: current_generation(settings.index_dir, settings.chroma_url),
        lambda generation: open_searcher(settings, embedder, generation),
    ).start()


def _http_error(error: HTTPException):
    """JSON for the API's paths, a page for the rest."""
    from web import api, pages

    if request.path.startswith(api.JSON_PATHS):
        response = api.error_json(error.description, error.code)
    else:
        response = pages.error_page(error)
    allowed = getattr(error, "valid_methods", None)
    if allowed:  # a 405 says which methods the path takes (RFC 9110)
        response = make_response(response)
        response.headers["Allow"] = ", ".join(allowed)
    return response


def build_searcher(settings: Settings) -> Searcher:
    """Load the index and the model once, as `kb search` does."""
    from kb.search import open_searcher

    return open_searcher(settings)
