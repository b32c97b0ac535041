"""The HTTP API: health, the signed trust list, OpenAPI, and errors as problem documents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from govtrust.app import create_app
from tests.conftest import Federation
from verifier.timeutil import utc_now
from verifier.trust_list import verify_trust_list


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        yield client


def test_health(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_trust_list_is_the_signed_published_list(
    client: TestClient, federation: Federation
) -> None:
    response = client.get("/api/v1/trust-list")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jose")
    assert response.text.strip() == federation.settings.trust_list_path.read_text().strip()
    trust_list = verify_trust_list(response.text, federation.root_fingerprint, at=utc_now())
    assert response.headers["x-trust-list-sequence"] == str(trust_list.sequence)
    assert {r.code for r in trust_list.regions} == {"330000", "440000"}


def test_openapi_and_docs(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/v1/trust-list" in schema["paths"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("get", "/api/v1/no-such-thing", 404), ("post", "/api/v1/trust-list", 405)],
)
def test_errors_are_problem_documents(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"]
