"""The JSON API against its own OpenAPI document, with inputs schemathesis generates.

Every operation in /api/openapi.json is called in-process (WSGI) with schema-valid and
schema-invalid arguments schemathesis generates, and the search with a few odd ones it seldom
reaches (NUL bytes, 10,000 characters, k of 1e400 or 7.0).
Each answer must not be a 5xx, must carry a documented status code and content type, and its body
must match the documented schema; invalid arguments must be refused. The app is the one
tests/test_web.py builds: conftest's small index and FakeEmbedder, so no model is loaded.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks


@pytest.fixture(scope="module")
def api_schema(app):
    """The document the app serves, read through the app itself; cases are then sent to the app
    in-process."""
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    """schemathesis (4.32.5) from_fixture reads request.node._nodeid, which pytest 9.2 nodes no
    longer have."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def a_valid_search_is_answered(ctx, response, case) -> None:
    """schemathesis's positive_data_acceptance, less what no schema can say.

    A search naming an agency, document or collection the index does not hold is refused with 404
    (documented on the 404 answer), so only a schema-valid search without such a filter must be
    answered.
    """
    if (
        case.operation.label != "GET /api/search"
        or case.meta is None
        or not case.meta.generation.mode.is_positive
    ):
        return
    query = case.query or {}
    names = ("agency", "document", "collection")
    if any(str(query.get(name, "")).strip() for name in names):
        return
    assert response.status_code == 200, (
        f"a schema-valid search was refused: {response.status_code} {response.text[:300]}"
    )


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,  # what the schema calls invalid is refused with a 4xx
    checks.unsupported_method,  # a method a path does not take gets a 405 with an Allow header
    a_valid_search_is_answered,
]
# Left out of schemathesis's defaults: positive_data_acceptance, replaced above (an unknown agency
# is a 404 by design).


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_operation_answers_as_documented(case):
    """Each operation but GET /api/openapi.json, which schemathesis skips as the document itself."""
    case.call_and_validate(checks=CHECKS)


@pytest.mark.parametrize(
    "query, status",
    [
        ({"q": "\x00"}, 200),
        ({"q": "child\x00protection", "agency": "\x00", "document": "\x00"}, 404),
        ({"q": "x" * 10_000}, 400),
        (
            {"q": "child" + " " * 992 + "protection"},
            200,
        ),  # 1,007 characters; 16 once spaces collapse
        ({"q": "neglect", "agency": "a" * 10_000}, 404),
        ({"q": "neglect", "document": "../" * 3_000 + "etc/passwd"}, 404),
        ({"q": "neglect", "k": "1e400"}, 400),
        ({"q": "neglect", "k": "nan"}, 400),
        ({"q": "neglect", "k": "7.0"}, 200),
        ({"q": "\ufeff\u200b\U0001f600"}, 200),
    ],
)
def test_odd_input_is_answered_as_documented(api_schema, query, status):
    """Inputs the generator seldom reaches: NUL bytes, 10,000 characters, numbers that are not
    whole."""
    case = api_schema["/api/search"]["GET"].Case(query=query)
    response = case.call_and_validate(checks=CHECKS)
    assert response.status_code == status, response.text[:300]


@pytest.mark.parametrize("q", ["\x1d\x1d", "\x85", " \x1c\x1f "])
def test_a_query_of_separators_alone_is_outside_the_schema_as_kb_refuses_it(app, q):
    """Python reads U+001C-U+001F and U+0085 as whitespace and strips them; ECMA's \\S does not.
    schemathesis found "%1D%1D" valid by the schema and refused by kb."""
    import re

    spec = app.test_client().get("/api/openapi.json").get_json()
    (query,) = [p for p in spec["paths"]["/api/search"]["get"]["parameters"] if p["name"] == "q"]
    # The pattern as a JSON Schema validator reads it: ECMA-262's whitespace, not Python's.
    ecma_space = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
    ecma = query["schema"]["pattern"].replace(r"\S", f"[^{ecma_space}]").replace(r"\s", ecma_space)
    assert re.search(ecma, q) is None
    assert re.search(ecma, f"{q}a")
    assert app.test_client().get("/api/search", query_string={"q": q}).status_code == 400
