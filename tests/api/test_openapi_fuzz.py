"""Property-based run of the API against its own OpenAPI document (schemathesis), bounded.

Every operation gets generated requests, valid and invalid; no answer may be a 5xx, and each
must match the document (status code, content type, headers, body schema).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation

from .conftest import bearer

Operation = APIOperation[Any, Any, Any, Any]

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
BOUND = settings(
    max_examples=int(os.environ.get("TASKROW_FUZZ_EXAMPLES", "15")),
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)


def test_api_conforms_to_its_openapi_document(app: Flask, key: str) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [operation_of(result) for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]

    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
        )

        @BOUND
        @given(case=cases)
        def run(case: schemathesis.Case[Operation]) -> None:
            case.call_and_validate(headers=bearer(key), checks=CHECKS)

        run()


def operation_of(result: Ok[Operation] | Err[InvalidSchema]) -> Operation:
    """The operation, or the document's error about it raised."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()
