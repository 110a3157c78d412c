"""A hand-written OpenAPI 3.1 description of the JSON routes."""

from __future__ import annotations

from web.params import MAX_K


def _json(schema: str, description: str) -> dict:
    schema_ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {"application/json": {"schema": schema_ref}}}


def _query(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def openapi_spec(max_query_chars: int) -> dict:
    """The description, with the query length limit this server enforces."""
    error = _json("Error", "A missing, empty or too long query, or a bad k.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kb: cited search over safeguarding reports",
            "version": "1",
            "description": (
                "Passages from Local Safeguarding Children Partnership reports, inspections and "
                "guidance, each cited by agency, document, section and page."
            ),
        },
        "paths": {
            "/api/search": {
                "get": {
                    "operationId": "search",
                    "summary": (
                        "Passages that answer a query, best first "
                        "(the object `kb search --json` prints)."
                    ),
                    "parameters": [
                        _query(
                            "q",
                            f"The query; not only spaces. Its length, at most {max_query_chars} "
                            "characters, is counted after each run of whitespace is collapsed to "
                            "one space and any at either end removed.",
                            {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": max_query_chars,
                                # Not only whitespace as Python reads it: ECMA's \S would
                                # pass the separators U+001C-U+001F and U+0085, which kb strips.
                                "pattern": r"[^\s\x1c-\x1f\x85]",
                            },
                            True,
                        ),
                        {
                            **_query(
                                "k",
                                "How many passages; empty means the default.",
                                {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
                            ),
                            "allowEmptyValue": True,  # k= counts as no k (web/params.py, parse_k)
                        },
                        _query(
                            "agency",
                            "Only this agency's passages; part of its name will do.",
                            {"type": "string"},
                        ),
                        _query(
                            "document",
                            "Only this document's passages, by file name.",
                            {"type": "string"},
                        ),
                        {
                            **_query(
                                "year",
                                "Only passages of documents dated in this year; empty means every "
                                "year (spaces around it are ignored).",
                                {"type": "string", "pattern": r"^\s*((19|20|21)[0-9]{2})?\s*$"},
                            ),
                            "allowEmptyValue": True,  # year= counts as no year, as a form sends it
                        },
                        _query(
                            "collection",
                            "Only this collection's passages (a folder under the corpus); "
                            "'all' for every collection, whatever the administrator's default.",
                            {"type": "string"},
                        ),
                    ],
                    "responses": {
                        "200": _json("Results", "The passages found."),
                        "400": error,
                        "404": _json("Error", "No agency, document or collection has that name."),
                    },
                }
            },
            "/api/documents": {
                "get": {
                    "operationId": "documents",
                    "summary": "Every indexed document and every agency.",
                    "responses": {
                        "200": _json("Catalogue", "The documents and agencies in the index.")
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description.",
                    "responses": {
                        "200": {
                            "description": "An OpenAPI 3.1 document.",
                            "content": {"application/json": {}},
                        }
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "OK once the index and the model are loaded.",
                    "responses": {
                        "200": _json("Health", "Ready, with the number of passages indexed."),
                        "503": _json("Health", "The index cannot be read."),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Hit": {
                    "type": "object",
                    "required": [
                        "id",
                        "text",
                        "agency",
                        "document",
                        "title",
                        "section",
                        "page",
                        "score",
                        "page_end",
                    ],
                    "properties": {
                        "id": {"type": "string"},
                        "text": {
                            "type": "string",
                            "description": (
                                "The passage as plain text: escape it to show it as HTML."
                            ),
                        },
                        "agency": {
                            "type": "string",
                            "description": "Empty when the document names none.",
                        },
                        "document": {
                            "type": "string",
                            "description": "File name; /documents/{document} serves it.",
                        },
                        "title": {"type": "string"},
                        "section": {"type": "string"},
                        "page": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "The page a PDF viewer shows.",
                        },
                        "page_end": {
                            "type": "integer",
                            "minimum": 1,
                            "description": (
                                "The last page the passage runs onto (page when it fits on one)."
                            ),
                        },
                        "score": {"type": "number"},
                        "date": {
                            "type": "string",
                            "description": (
                                "The document's date, ISO to the precision known "
                                "(2025-05-13, 2024-08, 2024); empty if unknown."
                            ),
                        },
                        "collection": {
                            "type": "string",
                            "description": "The folder under the corpus the document is in.",
                        },
                        "standard": {
                            "type": "integer",
                            "minimum": 0,
                            "description": (
                                "In how many documents these words stand word for word (a "
                                "publisher's back page): 0 for a document's own text."
                            ),
                        },
                        "newer_edition": {
                            "type": "string",
                            "description": "The date of a newer edition of the document, if any.",
                        },
                    },
                },
                "Results": {
                    "type": "object",
                    "required": ["query", "expanded", "results", "took_ms"],
                    "properties": {
                        "query": {
                            "type": "string",
                            "description": "The query as searched, spaces collapsed.",
                        },
                        "expanded": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "What was also searched for.",
                        },
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                        "took_ms": {"type": "number"},
                        "weak": {
                            "type": "boolean",
                            "description": "No passage answers the query well: the results are "
                            "only the closest in meaning.",
                        },
                    },
                },
                "Document": {
                    "type": "object",
                    "required": ["document", "title", "agency", "pages", "chunks"],
                    "properties": {
                        "document": {"type": "string"},
                        "title": {"type": "string"},
                        "agency": {
                            "type": "string",
                            "description": "The agency most of its passages are from.",
                        },
                        "agencies": {"type": "array", "items": {"type": "string"}},
                        "date": {"type": "string"},
                        "collection": {"type": "string"},
                        "newer_edition": {"type": "string"},
                        "pages": {"type": "integer", "minimum": 0},
                        "chunks": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Passages indexed.",
                        },
                    },
                },
                "Catalogue": {
                    "type": "object",
                    "required": ["documents", "agencies"],
                    "properties": {
                        "documents": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Document"},
                        },
                        "agencies": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "unavailable"]},
                        "chunks": {"type": "integer", "minimum": 0},
                        "generation": {
                            "type": "string",
                            "description": (
                                "The index build being served; a reindex makes a new one."
                            ),
                        },
                        "error": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string", "description": "What was wrong, in one line."}
                    },
                },
            }
        },
    }
