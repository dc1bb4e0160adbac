"""Property-based fuzzing of the API from its own OpenAPI document (Schemathesis), on the
app with a small organization: no server error, no answer the document does not describe,
no access beyond a token's scope. A bounded number of examples per operation keeps the run
near a minute."""

from __future__ import annotations

import io

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pbflow.extensions import db
from pbflow.services import attachments, comments
from tests.api.helpers import token
from tests.pages_helpers import funding_case

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 10


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, from the document of an app without a database."""
    from pbflow import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        doc = app.test_client().get("/api/openapi.json").get_json()
    return [(m.upper(), p) for p, item in doc["paths"].items() for m in item]


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: str(v))
def test_the_api_holds_to_its_document(app, world, method, path):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("fuzzed on SQLite; tests/api's other tests run on both databases")
    case = funding_case(world)  # something to find: a case with a comment and a file
    comments.add_comment(world["branch_member"], case.id, "请审核")
    attachments.attach_to_case(
        world["branch_member"],
        case.id,
        attachments.Upload("budget.pdf", io.BytesIO(b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n")),
    )
    admin = token(world, "admin", "admin")
    reader = token(world, "secretary", "read")
    operation = schemathesis.openapi.from_wsgi("/api/openapi.json", app)[path][method]
    scope = operation.definition.raw.get("x-token-scope")

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {admin}"}, checks=CHECKS)
        # The same request with a read-only token: refused unless the operation only reads
        # (403; or 400 when the edge refused the input before anything else looked at it).
        response = case.call(headers={"Authorization": f"Bearer {reader}"})
        assert response.status_code < 500
        if scope in ("act", "admin"):
            assert response.status_code in (400, 403), (method, path, response.status_code)
        # Without a token: only the public operations answer anything but 401 (or the
        # edge's 400).
        if scope is not None:
            assert case.call().status_code in (400, 401), (method, path)

    run()
