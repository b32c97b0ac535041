"""Pre-issuance lint: a certificate that does not match its profile is never released."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from ca.lint import LintError, lint_certificate, lint_crl, lint_ocsp_response
from ca.profiles import (
    NATIONAL_ROOT,
    OCSP_RESPONDER,
    REGION_CA,
    SEAL,
    TSA,
    CertificateProfile,
    Issuer,
    build_certificate,
    subject_name,
)


def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def region() -> Issuer:
    root_key, region_key = key(), key()
    root_cert = build_certificate(
        NATIONAL_ROOT, subject_name("Root"), root_key.public_key(), self_signing_key=root_key
    )
    root = Issuer(root_cert, root_key, NATIONAL_ROOT)
    region_cert = build_certificate(
        REGION_CA, subject_name("R", province="浙江省"), region_key.public_key(), issuer=root
    )
    return Issuer(region_cert, region_key, REGION_CA)


def seal_subject() -> x509.Name:
    return subject_name("印章", province="浙江省", organization_identifier="113300003300010149")


@pytest.mark.parametrize("profile", [SEAL, TSA, OCSP_RESPONDER])
def test_well_formed_certificates_pass(region: Issuer, profile: CertificateProfile) -> None:
    cert = build_certificate(profile, seal_subject(), key().public_key(), issuer=region)
    lint_certificate(cert, profile, region.certificate)


def test_profile_mismatch_is_refused(region: Issuer) -> None:
    seal = build_certificate(SEAL, seal_subject(), key().public_key(), issuer=region)
    with pytest.raises(LintError, match=r"keyUsage|extendedKeyUsage"):
        lint_certificate(seal, TSA, region.certificate)


def test_wrong_issuer_is_refused(region: Issuer) -> None:
    seal = build_certificate(SEAL, seal_subject(), key().public_key(), issuer=region)
    other_key = key()
    other = build_certificate(
        NATIONAL_ROOT, subject_name("Other"), other_key.public_key(), self_signing_key=other_key
    )
    with pytest.raises(LintError, match=r"signature does not verify|issuer name"):
        lint_certificate(seal, SEAL, other)


def test_crl_signed_by_another_key_is_refused(region: Issuer) -> None:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(region.certificate.subject)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(region.private_key.public_key()),
            critical=False,
        )
    )
    lint_crl(builder.sign(region.private_key, hashes.SHA256()), region.certificate)
    with pytest.raises(LintError, match="signature does not verify"):
        lint_crl(builder.sign(key(), hashes.SHA256()), region.certificate)


def test_ocsp_response_signed_by_another_key_is_refused(region: Issuer) -> None:
    responder = build_certificate(
        OCSP_RESPONDER, subject_name("OCSP", province="浙江省"), key().public_key(), issuer=region
    )
    other_key = key()
    other = build_certificate(
        OCSP_RESPONDER,
        subject_name("OCSP", province="浙江省"),
        other_key.public_key(),
        issuer=region,
    )
    now = datetime.now(UTC)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            responder,
            region.certificate,
            hashes.SHA1(),
            ocsp.OCSPCertStatus.GOOD,
            now,
            now + timedelta(hours=1),
            None,
            None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, other)
    )
    forged = builder.sign(other_key, hashes.SHA256())
    lint_ocsp_response(forged, other)
    with pytest.raises(LintError, match="signature does not verify"):
        lint_ocsp_response(forged, responder)
    unauthorized = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    with pytest.raises(LintError, match="not successful"):
        lint_ocsp_response(unauthorized, responder)
