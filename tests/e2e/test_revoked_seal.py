"""A seal certificate revoked after some licences were sealed: those stay valid (their
timestamps prove they came first), anything sealed after the revocation with the same key
(a stolen key, say) is INVALID, and without revocation data the answer is never VALID.
Once the TSA's own key is compromised, its timestamps prove nothing any more."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select

from ca.models import Department, IssuedCertificate
from ca.revocation import revoke_certificate
from seal_service.render import LicenceDocument, PdfLicenceRenderer, seal_slots_of
from seal_service.sealing import PadesLevel, SealOptions
from seal_service.seals import active_seal
from tests.conftest import Federation, private_federation
from verifier.crl import RevocationStatus
from verifier.pdf import verify_pdf
from verifier.report import Indication, Verdict
from verifier.timeutil import utc_now

REGION = "330000"


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return private_federation(tmp_path_factory.mktemp("federation-revoked-seal"))


def unsealed() -> bytes:
    return PdfLicenceRenderer().render(
        LicenceDocument(
            title="营业执照",
            licence_number="1.2.156.3005.2.TEST",
            holder_name="吊销测试有限公司",
            holder_id_label="统一社会信用代码",
            holder_id_display="91330100MA2B3C4D**",
            issuing_department="浙江省市场监督管理局",
            region_name="浙江省",
            issued_on=utc_now().date(),
            valid_until=None,
        )
    )


def test_revocation_splits_seals_made_before_from_seals_made_after(
    own: Federation, tmp_path: Path
) -> None:
    runtime = own.runtime
    with runtime.database.transaction() as session:
        department = session.scalars(
            select(Department).where(Department.region_code == REGION, Department.code == "amr")
        ).one()
        seal_row = active_seal(session, department)
        sealer = runtime.sealers.sealer_for(session, seal_row)
        certificate = session.get_one(IssuedCertificate, seal_row.certificate_id).certificate

    def seal_now() -> bytes:
        options = SealOptions(
            "test",
            "test",
            runtime.tsa(REGION).respond,
            level=PadesLevel.B_T,
            seal_slots=tuple(slot.box for slot in seal_slots_of("business-licence"))[:1],
        )
        return sealer.seal(unsealed(), options)

    before = seal_now()
    # CRL times have whole seconds: a seal in the same second as the revocation is not
    # proven to come first (and is refused), so revoke in a later second.
    time.sleep(1.1)
    with runtime.database.transaction() as session:
        revoke_certificate(
            session, REGION, format(certificate.serial_number, "x"), x509.ReasonFlags.key_compromise
        )
    after = seal_now()  # the key still signs: only verifiers can refuse it now

    bundle = own.bundle()
    earlier = verify_pdf(before, bundle.trust_list, at=utc_now(), crls=bundle.crls)
    assert earlier.verdict is Verdict.VALID, earlier.reason
    revocation = earlier.seals[0].revocation[0]
    assert revocation.status is RevocationStatus.REVOKED  # reported, and still valid
    assert revocation.source.startswith("bundle CRL")

    late = verify_pdf(after, bundle.trust_list, at=utc_now(), crls=bundle.crls)
    assert (late.verdict, late.indication) == (Verdict.INVALID, Indication.REVOKED), late.reason
    assert "before the seal was made" in late.reason

    # No CRL and no embedded answer (B-T): nothing says the certificate is good.
    blind = verify_pdf(before, bundle.trust_list, at=utc_now())
    assert (blind.verdict, blind.indication) == (Verdict.INDETERMINATE, Indication.TRY_LATER)

    # The TSA's key is compromised too: whoever holds it can stamp any time, so no timestamp
    # of that TSA proves that the seal came before its certificate's revocation.
    tsa_serial = format(runtime.tsa(REGION).certificate.serial_number, "x")
    with runtime.database.transaction() as session:
        revoke_certificate(session, REGION, tsa_serial, x509.ReasonFlags.key_compromise)
    bundle = own.bundle()
    unproven = verify_pdf(before, bundle.trust_list, at=utc_now(), crls=bundle.crls)
    assert (unproven.verdict, unproven.indication) == (Verdict.INVALID, Indication.REVOKED)
    assert "and no timestamp proves the seal came first" in unproven.reason
    assert "so the seal's timestamp proves no time" in unproven.reason
    (seal,) = unproven.seals
    assert not seal.timestamped
    assert [r.status for r in seal.revocation][-1] is RevocationStatus.REVOKED
