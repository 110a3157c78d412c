"""One way to answer an error: its status from one table, JSON to the API and the page's script,
a page to a browser."""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from kb.errors import (
    DiskFull,
    IndexDamaged,
    IndexMissing,
    KbError,
    StoreFailed,
    UnknownName,
    UsageError,
    printable,
    store_failure,
    unusable,
)

# An error's status, by the first of its classes found here: a request that names something kb
# does not hold (an agency, a document, a pack, a passage) is 404; any other refused request 400;
# an index that cannot be read or written, 503 (the page is unavailable until it is mended).
STATUS: dict[type[KbError], int] = {
    UnknownName: 404,
    UsageError: 400,
    IndexDamaged: 503,
    IndexMissing: 503,
    StoreFailed: 503,
}
log = logging.getLogger("kb.web")
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


def refused(error: KbError) -> Response:
    """A refusal kb raised, answered as the HTTP error its status names."""
    status = status_of(error)
    if status >= 500:
        log.error("%s", printable(str(error)))  # the administrator's log says what to run
    return http_error(_http_error(status, str(error)))


def storage_failed(error: sqlite3.DatabaseError) -> Response:
    """A pack or keyword file that cannot be written (a full disk) or read (damaged): one line
    saying what happened, not a bare 500."""
    if isinstance(error, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        raise error  # kb's own mistake, not the file's: a 500, logged with its traceback
    where = current_app.config["KB_SETTINGS"].index_dir
    failure = store_failure(error, str(where))
    if isinstance(failure, DiskFull):  # said as to someone saving, not to the administrator
        failure = unusable("the index folder", where, error)
    return refused(
        failure
        or StoreFailed(
            f"the index folder {where} could not be used ({error}): ask the administrator to look "
            "at it"
        )
    )


# A page's heading for each status, in the words public-service sites use (GOV.UK's patterns),
# not the protocol's ("Not Found", "Service Unavailable").
HEADINGS = {
    400: "There is a problem with your request",
    403: "You cannot do that here",
    404: "Page not found",
    405: "Page not found",
    413: "That was too much to send",
    429: "Too many attempts",
    500: "Sorry, there is a problem with the service",
    503: "Sorry, the service is unavailable",
}
NOT_FOUND = (
    "If you typed the web address, check it is correct. If you pasted the web address, check you "
    "copied the entire address."
)


def sentence(text: str | None) -> str:
    """kb's messages begin in lower case, to follow "kb: " in a terminal; on a page, a sentence."""
    text = (text or "").strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!", ")")) else text + "."


def http_error(error: HTTPException) -> Response:
    """JSON for the API's paths and for the page's script, a page for the rest."""
    if request.path.startswith(JSON_PATHS) or wants_json():
        response = make_response(jsonify({"error": error.description}), error.code)
    else:
        code = error.code or 500
        # Werkzeug's own words, where kb gave none of its own, are replaced by plain ones.
        default = type(error).description
        said = error.description if error.description != default else ""
        if not said and code in (404, 405):
            said = NOT_FOUND
        said = sentence(said)
        page = render_template(
            "error.html",
            error=error,
            heading=HEADINGS.get(code, HEADINGS[500 if code >= 500 else 400]),
            said=said or "",
        )
        response = make_response(page, code)
    allowed = getattr(error, "valid_methods", None)
    if allowed:  # a 405 says which methods the path takes (RFC 9110)
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _http_error(status: int, description: str) -> HTTPException:
    from werkzeug.exceptions import default_exceptions

    return default_exceptions[status](description=description)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(KbError, refused)
    app.register_error_handler(sqlite3.DatabaseError, storage_failed)
