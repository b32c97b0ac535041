"""API fuzzing: schemathesis generates requests for every operation of the served OpenAPI
schema, without a credential and with a staff token holding every role. No answer may be
a 5xx, and every error must be a problem document. A private federation takes the abuse
(operators may add services or publish trust lists with whatever the fuzzer makes).

GOVTRUST_FUZZ_EXAMPLES sets the examples per operation (default 8 here; `make fuzz` runs
many more)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from govtrust.app import create_app
from govtrust.settings import Settings
from identity.signin import ACR_PASSWORD, API_AUDIENCE
from tests.api_support import PROBLEM_JSON
from tests.conftest import Federation, private_federation

EXAMPLES = int(os.environ.get("GOVTRUST_FUZZ_EXAMPLES", "8"))
ALL_ROLES = ["clerk", "signer", "auditor", "operator"]


BINARY_BODIES = ("application/ocsp-request", "application/timestamp-query", "application/pdf")


@schemathesis.serializer(*BINARY_BODIES)
def as_bytes(_context: object, value: object) -> bytes:
    """The protocol bodies (OCSP, RFC 3161 requests, PDFs) as the raw bytes generated."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "replace")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return private_federation(Path(tmp_path_factory.mktemp("federation-fuzz")))


@pytest.fixture(scope="module")
def api_schema(fuzzed: Federation) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzzed.settings))


def _operation_labels() -> list[str]:
    """Every operation of the schema, read at collection time from an app that touches no
    database (schemathesis' own pytest plugin does not support this pytest)."""
    app = create_app(Settings(home=Path(tempfile.mkdtemp(prefix="govtrust-schema-"))))
    paths = app.openapi()["paths"]
    return sorted(f"{method.upper()} {path}" for path, item in paths.items() for method in item)


@pytest.mark.parametrize("label", _operation_labels())
def test_no_request_makes_a_server_error(
    label: str, api_schema: schemathesis.BaseSchema, fuzzed: Federation
) -> None:
    method, path = label.split(" ", 1)
    (operation,) = [
        result.ok()
        for result in api_schema.get_all_operations()
        if (result.ok().method.upper(), result.ok().path) == (method, path)
    ]
    token = fuzzed.runtime.identity_issuer("330000").issue(
        "fuzz-staff", API_AUDIENCE, ALL_ROLES, ACR_PASSWORD, department="amr"
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy())
    def answers_without_a_server_error(case: schemathesis.Case) -> None:
        for headers in ({}, {"Authorization": f"Bearer {token}"}):
            response = case.call(headers=headers)
            where = (case.method, case.formatted_path, case.query, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400:
                media_type = response.headers.get("content-type", [""])
                if isinstance(media_type, list):
                    media_type = media_type[0]
                assert media_type == PROBLEM_JSON, where

    answers_without_a_server_error()
