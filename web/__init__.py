"""The practitioner's search page and JSON API: a Flask app factory over one kb Searcher."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import time
from typing import TYPE_CHECKING

from flask import Flask, abort, g, make_response, request
from werkzeug.exceptions import HTTPException

from kb.packs import Packs
from kb.settings import Settings

if (
    TYPE_CHECKING
):  # the search stack (chromadb, the model) is imported only when a searcher is built
    from kb.search import Searcher
    from web.follow import IndexFollower

# No 'unsafe-inline' anywhere: the pages have no inline script or style to allow.
CONTENT_SECURITY_POLICY = "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
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
    app.register_error_handler(HTTPException, http_error)

    answers_to = HostNames.for_settings(settings)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()
        if not answers_to.allow(request.host):
            abort(
                400,
                f"This server does not answer to the name {host_name(request.host)!r}. If that is a "
                "name of this machine, its administrator can add it to KB_ALLOWED_HOSTS.",
            )
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


LOOPBACK_NAMES = ("localhost",)
EVERY_ADDRESS = ("0.0.0.0", "::", "")


class HostNames:
    """Which Host headers the app answers, against DNS rebinding: a page on another site whose name
    is pointed at this machine sends its own name, and is refused. A page at an address (a Host that
    is an IP address) is not another site's, so addresses pass; when kb listens on loopback alone,
    only loopback addresses do."""

    def __init__(self, names: set[str], any_address: bool) -> None:
        self.names = {name.lower() for name in names}
        self.any_address = any_address

    @classmethod
    def for_settings(cls, settings: Settings) -> HostNames:
        names = {*LOOPBACK_NAMES, *settings.allowed_hosts}
        address = _address(settings.host)
        listening_beyond_loopback = settings.host not in LOOPBACK_NAMES and not (
            address and address.is_loopback
        )
        if listening_beyond_loopback:
            names.update({socket.gethostname(), socket.getfqdn()})
            if settings.host not in EVERY_ADDRESS:
                names.add(settings.host)
        return cls(names, any_address=listening_beyond_loopback)

    def allow(self, host: str) -> bool:
        """Whether a request's Host (name or address, with or without its port) is answered."""
        name = host_name(host)
        if name in self.names:
            return True
        address = _address(name)
        return address is not None and (self.any_address or address.is_loopback)


def host_name(host: str) -> str:
    """A Host header's name or address without its port: "[::1]:5000" -> "::1"."""
    host = host.lower()
    return host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def searcher() -> Searcher:
    """The searcher answering this request (the index generation it started on)."""
    return g.searcher


def follow_reindex(app: Flask, settings: Settings) -> IndexFollower:
    """Start moving the app onto each generation a reindex publishes, with the model already loaded."""
    from kb.search import open_searcher
    from kb.store import current_generation, forget_older
    from web.follow import IndexFollower

    embedder = app.extensions["kb"].embedder
    return IndexFollower(
        app,
        lambda: current_generation(settings.index_dir, settings.chroma_url),
        lambda generation: open_searcher(settings, embedder, generation),
        after_switch=lambda generation: forget_older(
            settings.index_dir, settings.chroma_url, generation
        ),
    ).start()


def http_error(error: HTTPException):
    """JSON for the API's paths and for the page's script (which asks for it), a page for the rest."""
    from web import api, pages, trainers

    if request.path.startswith(api.JSON_PATHS) or trainers.wants_json():
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
