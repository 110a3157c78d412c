"""The practitioner's search page and JSON API: a Flask app factory over one kb Searcher."""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING

from flask import Flask, Response, abort, g, request

from kb.errors import printable
from kb.packs import Packs
from kb.settings import Settings
from web import api, errors, pages, signin, trainers
from web.hosts import HostNames, host_name

if (
    TYPE_CHECKING
):  # the search stack (chromadb, the model) is imported only when a searcher is built
    from kb.search import Searcher
    from web.follow import IndexFollower

# No 'unsafe-inline' anywhere: the pages have no inline script or style to allow.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
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
    app.json.sort_keys = False  # type: ignore[attr-defined]  # the API's keys in `kb search --json`'s order
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config["KB_SETTINGS"] = settings
    # Under any WSGI server, a body over the limit is refused from its Content-Length, unread.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_kb * 1024
    app.extensions["kb"] = searcher or _open_searcher(settings)
    app.extensions["kb_packs"] = Packs(settings.index_dir, settings.deleted_pack_days)
    # Every form carries this, or a signed-in trainer's own; a page on another site cannot read
    # it. A restart makes a new one.
    app.config["KB_CSRF_TOKEN"] = secrets.token_urlsafe(32)
    signin.init(app, settings)

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(trainers.bp)
    errors.register(app)

    answers_to = HostNames.for_settings(settings)

    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()
        if not answers_to.allow(request.host):
            abort(
                400,
                f"This server does not answer to the name {host_name(request.host)!r}. If that is "
                "a name of this machine, its administrator can add it to KB_ALLOWED_HOSTS.",
            )
        # One searcher for the whole request: after a reindex, the next request gets the new one.
        g.searcher = app.extensions["kb"]

    @app.after_request
    def secure_and_log(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        # The path only: a query string holds what a practitioner searched for, which is not logged.
        took = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        # Escaped: a path can hold a line break (/x%0A…), which would forge a line of the log.
        path = printable(request.path)
        log.info("%s %s %s %.0f ms", printable(request.method), path, response.status_code, took)
        return response

    return app


def follow_reindex(app: Flask, settings: Settings) -> IndexFollower:
    """Start moving the app onto each generation a reindex publishes, with the model already
    loaded."""
    from kb.search import open_searcher
    from kb.store import current, forget_older
    from web.follow import IndexFollower

    embedder = app.extensions["kb"].embedder
    return IndexFollower(
        app,
        lambda: current(settings.index_dir, settings.chroma_url),
        lambda generation: open_searcher(settings, embedder, generation),
        after_switch=lambda generation: forget_older(
            settings.index_dir, settings.chroma_url, generation
        ),
    ).start()


def _open_searcher(settings: Settings) -> Searcher:
    """Load the index and the model once, as `kb search` does."""
    from kb.search import open_searcher

    return open_searcher(settings)
