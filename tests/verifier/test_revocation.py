"""Revocation of a seal's certificates, decided offline from embedded OCSP answers and CRLs.

Every answer is built and signed here with real keys; each test tries one way to get a
revoked, unanswered or forged status past the check."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.verifier.offline_pki import NOW, Key, crl, name, new_key, offline_federation
from verifier.crl import RevocationStatus, verify_der_crls
from verifier.revocation import (
    OCSP_LEEWAY,
    EmbeddedEvidence,
    check_chain,
    check_timestamp_authority,
)

FED = offline_federation("330000")
ZJ = FED.regions["330000"]
SIGNED_AT = NOW - timedelta(days=10)


def certificate(
    issuer_key: Key, issuer: x509.Certificate, subject: str, key: Key, *, eku: bool = False
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=365))
        .not_valid_after(NOW + timedelta(days=365))
    )
    if eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


SEAL_KEY, RESPONDER_KEY = new_key(), new_key()
SEAL = certificate(ZJ.ca_key, ZJ.ca, "330000 seal", SEAL_KEY)
RESPONDER = certificate(ZJ.ca_key, ZJ.ca, "330000 OCSP", RESPONDER_KEY, eku=True)


def answer(
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    *,
    revoked_at: datetime | None = None,
    this_update: datetime = SIGNED_AT + timedelta(seconds=1),
    signer: tuple[Key, x509.Certificate] = (RESPONDER_KEY, RESPONDER),
    about: x509.Certificate = SEAL,
) -> bytes:
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=about,
            issuer=ZJ.ca,
            algorithm=hashes.SHA256(),
            cert_status=status,
            this_update=this_update,
            next_update=this_update + timedelta(days=1),
            revocation_time=revoked_at,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer[1])
        .certificates([signer[1]])
    )
    return builder.sign(signer[0], hashes.SHA256()).public_bytes(Encoding.DER)


def judge(
    *ocsp_answers: bytes,
    crls: tuple[bytes, ...] = (),
    bundle: tuple[bytes, ...] | None = None,
    timestamped: bool = True,
    proven_at: datetime = SIGNED_AT,
):
    listed = FED.listed()
    embedded = EmbeddedEvidence(
        ocsp_responses=ocsp_answers,
        crls=verify_der_crls(list(crls), listed, NOW, []),
        national_root=FED.root,
    )
    bundle_crls = verify_der_crls(list(bundle), listed, NOW, []) if bundle is not None else None
    return check_chain(
        [(SEAL, ZJ.ca), (ZJ.ca, FED.root)],
        proven_at=proven_at,
        timestamped=timestamped,
        embedded=embedded,
        bundle_crls=bundle_crls,
        at=NOW,
    )


ROOT_CRL = crl(FED.root_key, FED.root)


def test_good_answers_for_every_certificate_pass() -> None:
    result = judge(answer(), crls=(ROOT_CRL,))
    assert result.problem is None
    assert [c.status for c in result.certificates] == [RevocationStatus.GOOD] * 2
    assert "embedded OCSP answer of CN=330000 OCSP" in result.certificates[0].source


def test_no_answer_at_all_is_unknown_never_good() -> None:
    result = judge()
    assert result.problem is not None and not result.final
    assert "unknown" in result.problem


def test_revoked_before_the_timestamp_is_final() -> None:
    result = judge(
        answer(ocsp.OCSPCertStatus.REVOKED, revoked_at=SIGNED_AT - timedelta(hours=1)),
        crls=(ROOT_CRL,),
    )
    assert result.final and "before the seal was made" in str(result.problem)


def test_revoked_after_a_timestamped_seal_keeps_it_valid() -> None:
    later = crl(ZJ.ca_key, ZJ.ca, [(SEAL.serial_number, SIGNED_AT + timedelta(days=1), None)])
    result = judge(answer(), crls=(ROOT_CRL,), bundle=(later, ROOT_CRL))
    assert result.problem is None
    assert result.certificates[0].status is RevocationStatus.REVOKED  # reported, not hidden
    # Without a timestamp nothing proves the seal came before the revocation.
    unproven = judge(
        answer(), crls=(ROOT_CRL,), bundle=(later, ROOT_CRL), timestamped=False, proven_at=NOW
    )
    assert unproven.final and "no timestamp proves" in str(unproven.problem)


def test_a_revoked_region_ca_fails_the_seal() -> None:
    root_crl = crl(FED.root_key, FED.root, [(ZJ.ca.serial_number, SIGNED_AT - timedelta(1), None)])
    result = judge(answer(), crls=(root_crl,))
    assert result.final and "330000 region CA" in str(result.problem)


def test_an_answer_signed_by_a_stranger_counts_for_nothing() -> None:
    stranger_key = new_key()
    stranger = certificate(stranger_key, ZJ.ca, "not certified by ZJ", stranger_key, eku=True)
    result = judge(answer(signer=(stranger_key, stranger)), crls=(ROOT_CRL,))
    assert result.problem is not None and not result.final
    assert "not signed by its issuer" in result.problem


def test_a_responder_without_the_ocsp_signing_purpose_is_not_a_responder() -> None:
    key = new_key()
    plain = certificate(ZJ.ca_key, ZJ.ca, "330000 other service", key, eku=False)
    result = judge(answer(signer=(key, plain)), crls=(ROOT_CRL,))
    assert result.problem is not None and not result.final


def test_the_issuer_itself_may_answer() -> None:
    result = judge(answer(signer=(ZJ.ca_key, ZJ.ca)), crls=(ROOT_CRL,))
    assert result.problem is None


def test_an_answer_about_another_certificate_is_ignored() -> None:
    other = certificate(ZJ.ca_key, ZJ.ca, "330000 other seal", new_key())
    result = judge(answer(about=other), crls=(ROOT_CRL,))
    assert result.problem is not None and "unknown" in result.problem


def test_an_answer_from_long_before_the_seal_does_not_prove_it_good() -> None:
    stale = answer(this_update=SIGNED_AT - OCSP_LEEWAY - timedelta(minutes=1))
    result = judge(stale, crls=(ROOT_CRL,))
    assert result.problem is not None and "too long before" in result.problem


def test_a_tampered_answer_counts_for_nothing() -> None:
    good = bytearray(answer())
    good[-10] ^= 0x01  # inside the signature
    result = judge(bytes(good), crls=(ROOT_CRL,))
    assert result.problem is not None and not result.final


def test_garbage_in_the_dss_is_ignored_not_fatal() -> None:
    result = judge(b"not an OCSP response", crls=(b"not a CRL", ROOT_CRL))
    assert result.problem is not None and not result.final


def test_a_bundle_crl_answers_for_a_seal_without_embedded_data() -> None:
    region_crl = crl(ZJ.ca_key, ZJ.ca)
    result = judge(bundle=(region_crl, ROOT_CRL))
    assert result.problem is None
    assert result.certificates[0].source.startswith("bundle CRL #1 of CN=330000 region CA")


TSA = certificate(ZJ.ca_key, ZJ.ca, "330000 TSA", new_key())


def judge_tsa(*revoked: tuple[datetime, x509.ReasonFlags | None], with_crl: bool = True):
    entries = [(TSA.serial_number, at, reason) for at, reason in revoked]
    ders = [crl(ZJ.ca_key, ZJ.ca, entries)]
    bundle = verify_der_crls(ders, FED.listed(), NOW, []) if with_crl else None
    return check_timestamp_authority(
        TSA,
        ZJ.ca,
        stamped_at=SIGNED_AT,
        embedded=EmbeddedEvidence(national_root=FED.root),
        bundle_crls=bundle,
        at=NOW,
    )


def test_a_tsa_in_good_standing_lets_its_timestamp_prove_the_time() -> None:
    result = judge_tsa()
    assert result.problem is None and not result.final
    assert [c.status for c in result.certificates] == [RevocationStatus.GOOD]


def test_a_tsa_revoked_after_stamping_for_an_ordinary_reason_keeps_the_timestamp() -> None:
    result = judge_tsa((SIGNED_AT + timedelta(days=1), x509.ReasonFlags.superseded))
    assert result.problem is None
    assert result.certificates[0].status is RevocationStatus.REVOKED  # reported, not hidden


def test_a_tsa_revoked_before_stamping_proves_no_time() -> None:
    result = judge_tsa((SIGNED_AT - timedelta(seconds=1), x509.ReasonFlags.superseded))
    assert result.final and "before it stamped the seal" in str(result.problem)


def test_a_tsa_key_compromise_voids_even_earlier_timestamps() -> None:
    result = judge_tsa((SIGNED_AT + timedelta(days=5), x509.ReasonFlags.key_compromise))
    assert result.final and "for key compromise" in str(result.problem)
    assert result.certificates[0].reason is x509.ReasonFlags.key_compromise


def test_an_unknown_tsa_status_leaves_the_timestamp_to_the_trust_list() -> None:
    result = judge_tsa(with_crl=False)
    assert result.problem is None
    assert result.certificates[0].status is RevocationStatus.UNKNOWN
