"""Licence issuance and revocation in the registry."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import func, select, text

from govtrust.issuance import SealingService
from licence_registry import IssueRequest, get_licence, issue_licence, revoke_licence
from licence_registry.errors import LicenceNotFound, RegistryError
from licence_registry.models import Licence, LicenceEvent, LicenceStatus
from seal_service.levels import PadesLevel
from tests.conftest import Federation
from verifier.identifiers import make_uscc, parse_licence_identifier

CITIZEN_ID = "11010519491231002X"
USCC = make_uscc("9", "1", "330100", "MA2B3C4D")


def test_issue_records_everything(federation: Federation) -> None:
    identifier, pdf = federation.issue()
    parsed = parse_licence_identifier(identifier)
    with federation.runtime.database.transaction() as session:
        licence = get_licence(session, identifier)
        assert licence.status == LicenceStatus.ACTIVE
        assert licence.pdf == pdf
        assert licence.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
        assert parsed.serial == licence.serial and parsed.version == 1
        events = session.scalars(
            select(LicenceEvent.event).where(LicenceEvent.licence_id == licence.id)
        ).all()
        assert events == ["issued"]


def test_serials_increase_per_department(federation: Federation) -> None:
    first = parse_licence_identifier(federation.issue()[0])
    second = parse_licence_identifier(federation.issue()[0])
    assert second.serial == first.serial + 1
    assert second.issuer_uscc == first.issuer_uscc


def test_citizen_id_is_never_stored_in_clear(federation: Federation) -> None:
    identifier, _ = federation.issue(
        "张三", CITIZEN_ID, department="psb", licence_type="no-criminal-record"
    )
    with federation.runtime.database.transaction() as session:
        licence = get_licence(session, identifier)
        assert licence.holder_id_masked == "1****************X"
        assert (
            federation.runtime.data_protector.decrypt("holder-id", licence.holder_id_encrypted)
            == CITIZEN_ID
        )
        rows = session.execute(
            text("SELECT * FROM licence WHERE identifier = :i"), {"i": identifier}
        ).one()
    flattened = b"".join(
        value if isinstance(value, bytes) else str(value).encode() for value in rows
    )
    assert CITIZEN_ID.encode() not in flattened
    assert CITIZEN_ID[:17].encode() not in flattened


def test_wrong_department_for_type_is_refused(federation: Federation) -> None:
    with pytest.raises(RegistryError, match="issued by department 'psb'"):
        federation.issue("张三", CITIZEN_ID, department="amr", licence_type="no-criminal-record")


def test_revoke_is_final(federation: Federation) -> None:
    identifier, _ = federation.issue()
    with federation.runtime.database.transaction() as session:
        licence = revoke_licence(session, identifier, "营业执照被吊销")
        assert licence.status == LicenceStatus.REVOKED and licence.revoked_at is not None
    with (
        federation.runtime.database.transaction() as session,
        pytest.raises(RegistryError, match="is revoked: it cannot be revoked"),
    ):
        revoke_licence(session, identifier, "again")
    with federation.runtime.database.transaction() as session:
        licence = get_licence(session, identifier)
        events = session.scalars(
            select(LicenceEvent.event)
            .where(LicenceEvent.licence_id == licence.id)
            .order_by(LicenceEvent.id)
        ).all()
        assert events == ["issued", "revoked"]


def test_unknown_licence(federation: Federation) -> None:
    identifier, _ = federation.issue()
    parsed = parse_licence_identifier(identifier)
    unknown = type(parsed).build(parsed.type_code, parsed.issuer_uscc, 10**9, 1)
    with federation.runtime.database.transaction() as session, pytest.raises(LicenceNotFound):
        get_licence(session, str(unknown))


def _issue_with_key(federation: Federation, key: str) -> tuple[str, bytes]:
    runtime = federation.runtime
    licence = issue_licence(
        runtime.database.transaction,
        IssueRequest("330000", "amr", "business-licence", "幂等测试有限公司", USCC),
        sealer=SealingService.for_pdf(runtime, PadesLevel.B_T),
        protector=runtime.data_protector,
        status_signers=runtime.status_signer,
        idempotency_key=key,
    )
    return licence.identifier, licence.pdf


def test_an_idempotency_key_issues_once(federation: Federation) -> None:
    key = f"batch-{uuid.uuid4()}:row-1"
    first = _issue_with_key(federation, key)
    again = _issue_with_key(federation, key)
    assert again == first
    with federation.runtime.database.transaction() as session:
        count = session.scalar(
            select(func.count()).select_from(Licence).where(Licence.idempotency_key == key)
        )
    assert count == 1
    # The retry took no serial: the next licence follows directly.
    following = parse_licence_identifier(federation.issue()[0])
    assert following.serial == parse_licence_identifier(first[0]).serial + 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 101, "引号"])
def test_bad_idempotency_keys_are_refused(federation: Federation, key: str) -> None:
    with pytest.raises(RegistryError, match="idempotency key"):
        _issue_with_key(federation, key)
