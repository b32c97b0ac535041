"""Seals as records: made by the region CA, suspended, reinstated, retired (for good), and
refused for sealing whenever they must not seal.

Every test makes departments of its own in the shared federation: the dev departments'
seals are used by other tests and must stay active.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.authority import get_authority
from ca.keys import KeyRef
from ca.models import Department
from ca.profiles import DOCUMENT_SIGNING_EKU
from ca.revocation import revoke_certificate
from govtrust.db import make_engine, upgrade
from seal_service import (
    Seal,
    SealError,
    SealImageError,
    SealStatus,
    check_seal,
    find_seal,
    make_seal,
    reinstate_seal,
    retire_seal,
    seal_history,
    suspend_seal,
    usable_seal,
)
from tests.conftest import Federation
from verifier.identifiers import make_uscc
from verifier.timeutil import utc_now


def add_department(
    session: Session, region: str = "330000", name: str = "测试审批局"
) -> Department:
    department = Department(
        region_code=region,
        code=f"t{secrets.token_hex(4)}",
        name=name,
        uscc=make_uscc("1", "1", region, f"{secrets.randbelow(10**8):08d}"),
    )
    session.add(department)
    session.flush()
    return department


@pytest.fixture
def session(federation: Federation) -> Iterator[Session]:
    """One transaction per test, committed: what the CLI and API do."""
    with federation.runtime.database.transaction() as session:
        yield session


@pytest.fixture
def department(session: Session) -> Department:
    return add_department(session)


def new_seal(federation: Federation, session: Session, department: Department, **kw: Any) -> Seal:
    runtime = federation.runtime
    issuer = runtime.issuer(department.region_code)
    return make_seal(session, runtime.key_store, issuer, department, **kw)


def statuses(session: Session, seal: Seal) -> list[tuple[str, str | None]]:
    return [(change.status, change.reason) for change in seal_history(session, seal.id)]


def test_a_new_seal_is_certified_by_its_region_ca_and_usable(
    federation: Federation, session: Session, department: Department
) -> None:
    seal = new_seal(federation, session, department)
    certificate = seal.certificate.certificate
    region_ca = get_authority(session, "330000").certificate
    assert seal.status == SealStatus.ACTIVE
    assert seal.name == "测试审批局电子印章"
    assert certificate.issuer == region_ca.subject
    certificate.verify_directly_issued_by(region_ca)
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == seal.name
    assert subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value == "浙江省"
    assert department.uscc in str(
        subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value
    )
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [DOCUMENT_SIGNING_EKU]
    # Validity is the certificate's, and the key is where the runtime makes keys.
    assert (seal.not_before, seal.not_after) == (
        certificate.not_valid_before_utc,
        certificate.not_valid_after_utc,
    )
    key_ref = KeyRef.parse(seal.key_ref)
    assert key_ref.backend == federation.runtime.key_store.backend
    assert federation.runtime.key_store.exists(key_ref.name)
    assert Image.open(io.BytesIO(seal.image_png)).size == (600, 600)
    assert statuses(session, seal) == [("active", "made")]
    assert usable_seal(session, department).id == seal.id


def test_an_uploaded_stamp_is_stored_normalised_and_a_bad_one_makes_nothing(
    federation: Federation, session: Session, department: Department
) -> None:
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((5, 5, 395, 395), outline=(230, 0, 18, 255), width=20)
    upload = io.BytesIO()
    info = PngInfo()
    info.add_text("Software", "SealMaker 2.1")
    image.save(upload, format="PNG", pnginfo=info)
    with pytest.raises(SealImageError, match="no alpha channel"):
        new_seal(federation, session, department, image_png=_png(image.convert("RGB")))
    assert session.scalars(select(Seal).where(Seal.department_id == department.id)).all() == []
    seal = new_seal(federation, session, department, image_png=upload.getvalue(), name="专用章")
    assert seal.name == "专用章"
    assert b"SealMaker" in upload.getvalue() and b"SealMaker" not in seal.image_png
    assert Image.open(io.BytesIO(seal.image_png)).size == (400, 400)


def test_a_second_active_seal_needs_replace_which_retires_the_first(
    federation: Federation, session: Session, department: Department
) -> None:
    first = new_seal(federation, session, department)
    with pytest.raises(SealError, match=f"already has active seal {first.id}"):
        new_seal(federation, session, department)
    second = new_seal(federation, session, department, replace=True, replace_reason="新印模")
    assert (first.status, second.status) == ("retired", "active")
    assert first.certificate.revoked_at is not None
    assert first.certificate.revocation_reason == "cessationOfOperation"
    assert statuses(session, first) == [("active", "made"), ("retired", "新印模")]
    assert statuses(session, second) == [("active", f"made; replaces seal {first.id}")]
    assert usable_seal(session, department).id == second.id


def test_the_database_itself_refuses_two_active_seals(
    federation: Federation, department: Department, session: Session
) -> None:
    seal = new_seal(federation, session, department)
    copy = {c: getattr(seal, c) for c in ("department_id", "name", "certificate_id", "key_ref")}
    row = copy | {"status": "active", "image_png": b"x", "created_at": utc_now()}
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(insert(Seal).values(**row))


def test_suspend_and_reinstate(
    federation: Federation, session: Session, department: Department
) -> None:
    seal = new_seal(federation, session, department)
    suspend_seal(session, seal, "印模核查")
    with pytest.raises(SealError, match=rf"no active seal \(seal {seal.id} is suspended\)"):
        usable_seal(session, department)
    with pytest.raises(SealError, match="it is suspended"):
        check_seal(seal)
    with pytest.raises(SealError, match="only active seals can be suspended"):
        suspend_seal(session, seal, "again")
    reinstate_seal(session, seal)
    assert usable_seal(session, department).id == seal.id
    with pytest.raises(SealError, match="only suspended seals can be reinstated"):
        reinstate_seal(session, seal)
    assert statuses(session, seal) == [
        ("active", "made"),
        ("suspended", "印模核查"),
        ("active", "reinstated"),
    ]


def test_a_suspended_seal_is_not_reinstated_over_a_newer_active_one(
    federation: Federation, session: Session, department: Department
) -> None:
    old = new_seal(federation, session, department)
    suspend_seal(session, old, "lost")
    new = new_seal(federation, session, department)  # no active seal: no --replace needed
    with pytest.raises(SealError, match=f"has active seal {new.id}; retire that one first"):
        reinstate_seal(session, old)
    assert find_seal(session, old.id).status == "suspended"


def test_retiring_is_final_and_revokes_the_certificate(
    federation: Federation, session: Session, department: Department
) -> None:
    seal = new_seal(federation, session, department)
    suspend_seal(session, seal, "under review")
    retire_seal(session, seal, "department merged")  # a suspended seal can be retired
    assert seal.status == "retired"
    assert seal.certificate.revocation_reason == "cessationOfOperation"
    for attempt, message in (
        (lambda: reinstate_seal(session, seal), "only suspended seals can be reinstated"),
        (lambda: suspend_seal(session, seal, "x"), "only active seals can be suspended"),
        (lambda: retire_seal(session, seal, "again"), "it cannot be retired again"),
    ):
        with pytest.raises(SealError, match=rf"is retired \(retiring is final\): {message}"):
            attempt()
    with pytest.raises(SealError, match="has no active seal"):
        usable_seal(session, department)
    with pytest.raises(SealError, match="a reason is required"):
        retire_seal(session, new_seal(federation, session, department), "  ")


def test_a_revoked_certificate_makes_an_active_seal_unusable(
    federation: Federation, session: Session, department: Department
) -> None:
    seal = new_seal(federation, session, department)
    certificate = seal.certificate
    revoke_certificate(session, "330000", certificate.serial, x509.ReasonFlags.key_compromise)
    session.refresh(certificate)
    assert seal.status == "active"
    with pytest.raises(SealError, match=f"certificate {certificate.serial} was revoked.*keyComp"):
        usable_seal(session, department)
    with pytest.raises(SealError, match=r"cannot be reinstated: its certificate .* was revoked"):
        reinstate_seal(session, suspend_seal(session, seal, "key compromised"))
    retire_seal(session, seal, "key compromised")
    assert certificate.revocation_reason == "keyCompromise"  # the CA's reason stands


def test_a_seal_outside_its_certificate_validity_is_unusable(
    federation: Federation, session: Session, department: Department
) -> None:
    seal = new_seal(federation, session, department)
    assert usable_seal(session, department, at=seal.not_after).id == seal.id
    assert usable_seal(session, department, at=seal.not_before).id == seal.id
    after = seal.not_after + timedelta(seconds=1)
    with pytest.raises(SealError, match=f"seal {seal.id} cannot be used: .* expired at"):
        usable_seal(session, department, at=after)
    before = seal.not_before - timedelta(seconds=1)
    with pytest.raises(SealError, match="is not valid before"):
        usable_seal(session, department, at=before)


def test_only_the_departments_own_region_ca_makes_its_seal(
    federation: Federation, session: Session, department: Department
) -> None:
    runtime = federation.runtime
    with pytest.raises(SealError, match="certified by region CA 330000"):
        make_seal(session, runtime.key_store, runtime.issuer("440000"), department)


def test_migration_0006_gives_existing_seals_a_history_and_one_active_each(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine, "0005")
        with engine.begin() as connection:
            for statement in _SCHEMA_0005_ROWS:
                connection.execute(text(statement))
        upgrade(engine)
        with engine.begin() as connection:
            seals = connection.execute(text("SELECT id, status FROM seal ORDER BY id")).all()
            history = connection.execute(
                text("SELECT seal_id, status FROM seal_status_change ORDER BY seal_id, id")
            ).all()
    finally:
        engine.dispose()
    # Seals 1 and 2 of one department were both active; only the newer one (2) was used.
    assert seals == [(1, "suspended"), (2, "active"), (3, "active")]
    assert history == [(1, "active"), (1, "suspended"), (2, "active"), (3, "active")]


# Rows as a 0005 database held them (SQLite syntax: this test makes its own SQLite file).
_SCHEMA_0005_ROWS = (
    "INSERT INTO ca_authority (code, name, profile, certificate_der, created_at) "
    "VALUES ('330000', '浙江省', 'region-ca', x'00', '2026-01-01 00:00:00.000000')",
    "INSERT INTO ca_certificate (id, issuer_code, serial, subject, profile, not_before, "
    "not_after, certificate_der) VALUES (1, '330000', '1', 'CN=a', 'seal', "
    "'2026-01-01 00:00:00.000000', '2029-01-01 00:00:00.000000', x'00')",
    "INSERT INTO ca_department (id, region_code, code, name, uscc) "
    "VALUES (1, '330000', 'amr', '局', '913300000000000001')",
    "INSERT INTO ca_department (id, region_code, code, name, uscc) "
    "VALUES (2, '330000', 'psb', '厅', '913300000000000002')",
    *(
        "INSERT INTO seal (id, department_id, name, certificate_id, key_ref, status, image_png, "
        f"created_at) VALUES ({seal}, {dept}, 'seal', 1, 'file:k', 'active', x'00', "
        f"'2026-01-0{seal} 00:00:00.000000')"
        for seal, dept in ((1, 1), (2, 1), (3, 2))
    ),
)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
