"""The JSON API: search, the documents indexed, a health check and the OpenAPI description."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from kb.errors import UsageError
from web.context import searcher, settings
from web.openapi import openapi_spec
from web.params import SearchParams

bp = Blueprint("api", __name__)


@bp.get("/api/search")
def search() -> Response:
    """The same object as `kb search --json`."""
    if "q" not in request.args:
        raise UsageError("give a query: /api/search?q=domestic+abuse+clinic")
    params = SearchParams.from_args(request.args, settings().top_k)
    results = searcher().search(params.q, params.k, **params.filters())
    return jsonify(results.as_dict())


@bp.get("/api/documents")
def documents() -> dict[str, Any]:
    """Every indexed document (file name, title, agency, pages, passages) and every agency."""
    answering = searcher()
    return {
        "documents": [entry.as_dict() for entry in answering.documents],
        "agencies": answering.agencies,
    }


@bp.get("/api/openapi.json")
def openapi() -> dict[str, Any]:
    return openapi_spec(settings().max_query_chars)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    """OK with the number of passages and the index generation being served, counted by the store
    itself (not from memory), so a generation that has gone from under the server says so."""
    answering = searcher()
    try:
        chunks = answering.health()
    except Exception as error:
        return {"status": "unavailable", "error": str(error)}, 503
    return {"status": "ok", "chunks": chunks, "generation": answering.generation}, 200
