"""The JSON API: search, the documents indexed, a health check and the OpenAPI description."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from kb.errors import UsageError
from web import searcher
from web.openapi import openapi_spec
from web.params import SearchParams

bp = Blueprint("api", __name__)

JSON_PATHS = ("/api/", "/healthz")  # errors on these paths are answered in JSON, not as pages


@bp.get("/api/search")
def search():
    """The same object as `kb search --json`."""
    settings = current_app.config["KB_SETTINGS"]
    if "q" not in request.args:
        raise UsageError("give a query: /api/search?q=domestic+abuse+clinic")
    params = SearchParams.from_args(request.args, settings.top_k)
    results = searcher().search(params.q, params.k, params.agency or None, params.document or None)
    return jsonify(results.as_dict())


@bp.get("/api/documents")
def documents():
    """Every indexed document (file name, title, agency, pages, passages) and every agency."""
    answering = searcher()
    return {"documents": answering.documents, "agencies": answering.agencies}


@bp.get("/api/openapi.json")
def openapi():
    return openapi_spec(current_app.config["KB_SETTINGS"].max_query_chars)


@bp.get("/healthz")
def healthz():
    """OK with the number of passages and the index generation being served, counted by the store
    itself (not from memory), so a generation that has gone from under the server says so."""
    store = searcher().store
    try:
        chunks = store.collection.count()
    except Exception as error:
        return {"status": "unavailable", "error": str(error)}, 503
    return {"status": "ok", "chunks": chunks, "generation": store.generation}


@bp.errorhandler(UsageError)
def usage_error(error: UsageError):
    return error_json(str(error), 400)


def error_json(message: str, status: int):
    return jsonify({"error": message}), status
