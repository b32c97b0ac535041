"""The audit trail: every POST by staff, through the API or the pages, is recorded with
who, what, on which object and the answer's status, refused ones too; nothing of the
request body; nobody else's requests."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from govtrust.app import create_app
from govtrust.audit_trail import AuditRecord
from tests.api_support import bearer
from tests.conftest import Federation
from tests.web.web_support import csrf, legal_person, sign_in, staff


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        yield client


def records_for(federation: Federation, identifier: str) -> list[AuditRecord]:
    with federation.runtime.database.transaction() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        return [r for r in rows if identifier in r.target]


def test_a_signer_action_and_a_refused_one_are_both_recorded(
    client: TestClient, federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    identifier, _ = federation.issue("审计留痕有限公司", legal_person(federation).holder_id)
    outsider = bearer(federation.staff_token("440000", "clerk", "amr"))
    refused = client.post(
        f"/api/v1/licences/{identifier}/revoke", json={"reason": "越权尝试"}, headers=outsider
    )
    assert refused.status_code == 403
    signer = bearer(federation.staff_token("330000", "signer", "amr"))
    with caplog.at_level(logging.INFO, logger="govtrust.audit_trail"):
        done = client.post(
            f"/api/v1/licences/{identifier}/revoke", json={"reason": "个人隐私原因"}, headers=signer
        )
    assert done.status_code == 200
    first, second = records_for(federation, identifier)
    assert (first.actor, first.status) == ("440000/test-clerk-440000", 403)
    assert (second.actor, second.roles, second.status) == (
        "330000/test-signer-330000",
        "signer",
        200,
    )
    assert second.action == f"POST /api/v1/licences/{identifier}/revoke"
    assert json.loads(second.target) == {"identifier": identifier}
    # The body (the reason, which may name a person) is not in the trail.
    assert all("个人隐私原因" not in f"{r.target}{r.action}" for r in (first, second))
    logged = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "govtrust.audit_trail"
    ]
    assert any(e["target"] == {"identifier": identifier} and e["status"] == 200 for e in logged)


def test_requests_of_no_staff_member_are_not_actions(
    client: TestClient, federation: Federation
) -> None:
    with federation.runtime.database.transaction() as session:
        before = len(session.scalars(select(AuditRecord.id)).all())
    client.post("/api/v1/identity/330000/token", data={"grant_type": "password"})
    holder = bearer(federation.holder_token(legal_person(federation).holder_id or ""))
    client.post("/api/v1/licences/x/revoke", json={"reason": "x"}, headers=holder)
    with federation.runtime.database.transaction() as session:
        assert len(session.scalars(select(AuditRecord.id)).all()) == before


def test_an_action_through_the_pages_is_recorded_too(federation: Federation) -> None:
    identifier, _ = federation.issue("网页留痕有限公司", legal_person(federation).holder_id)
    app = create_app(federation.settings)
    clerk = sign_in(app, staff(federation, "clerk"))
    response = clerk.post(
        f"/department/licences/{identifier}/suspend",
        data={"csrf_token": csrf(clerk), "reason": "核查中"},
    )
    assert response.status_code == 303
    (record,) = records_for(federation, identifier)
    assert record.action == f"POST /department/licences/{identifier}/suspend"
    assert record.actor.startswith("330000/") and record.status == 303
