"""One way to answer an error: its status from one table, JSON to the API and the page's script,
a page to a browser."""

from __future__ import annotations

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from kb.errors import KbError, UnknownName, UsageError

# An error's status, by the first of its classes found here: a request that names something kb
# does not hold (an agency, a document, a pack, a passage) is 404; any other refused request 400.
STATUS: dict[type[KbError], int] = {UnknownName: 404, UsageError: 400}
JSON_PATHS = ("/api/", "/healthz")  # errors on these paths are answered in JSON, not as pages


def status_of(error: KbError) -> int:
    """The HTTP status of a refusal kb raised."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def wants_json() -> bool:
    """The page's script asks for JSON; a browser's form (and a request that says nothing) gets a
    page."""
    accept = request.accept_mimetypes
    return accept.quality("application/json") > accept.quality("text/html")


def refused(error: UsageError) -> Response:
    """A refusal kb raised, answered as the HTTP error its status names."""
    return http_error(_http_error(status_of(error), str(error)))


def http_error(error: HTTPException) -> Response:
    """JSON for the API's paths and for the page's script, a page for the rest."""
    if request.path.startswith(JSON_PATHS) or wants_json():
        response = make_response(jsonify({"error": error.description}), error.code)
    else:
        response = make_response(render_template("error.html", error=error), error.code)
    allowed = getattr(error, "valid_methods", None)
    if allowed:  # a 405 says which methods the path takes (RFC 9110)
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _http_error(status: int, description: str) -> HTTPException:
    from werkzeug.exceptions import default_exceptions

    return default_exceptions[status](description=description)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(UsageError, refused)
