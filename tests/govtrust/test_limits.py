"""Every request body has a limit: refused with 413 before it is buffered, declared or
streamed, as a problem document; nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from govtrust.app import create_app
from licence_registry.models import Licence
from tests.api_support import assert_problem, bearer
from tests.conftest import Federation

ISSUE_URL = "/api/v1/departments/330000/amr/licences"


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        yield client


def licences(federation: Federation) -> int:
    with federation.runtime.database.transaction() as session:
        return session.scalar(select(func.count()).select_from(Licence)) or 0


def test_a_declared_oversized_body_is_refused_unread(
    client: TestClient, federation: Federation
) -> None:
    before = licences(federation)
    limit = federation.settings.max_request_bytes
    body = b'{"licence_type": "business-licence", "holder_name": "' + b"x" * limit + b'"}'
    response = client.post(
        ISSUE_URL,
        content=body,
        headers={
            **bearer(federation.staff_token("330000", "clerk", "amr")),
            "Content-Type": "application/json",
        },
    )
    assert_problem(response, 413)
    assert licences(federation) == before


def test_a_streamed_body_is_cut_off_at_the_limit(
    client: TestClient, federation: Federation
) -> None:
    limit = federation.settings.max_request_bytes
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"licence_type": "business-licence", "holder_name": "'
        while sent <= 4 * limit:
            sent += 64 * 1024
            yield b"x" * (64 * 1024)
        yield b'"}'

    response = client.post(
        ISSUE_URL,
        content=chunks(),
        headers={
            **bearer(federation.staff_token("330000", "clerk", "amr")),
            "Content-Type": "application/json",
        },
    )
    assert_problem(response, 413)


def test_unauthenticated_posts_are_limited_too(client: TestClient, federation: Federation) -> None:
    big = b"grant_type=password&username=" + b"a" * (federation.settings.max_request_bytes + 1)
    response = client.post(
        "/api/v1/identity/330000/token",
        content=big,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 413)
