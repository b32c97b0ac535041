"""Pre-issuance lint: a certificate that does not match its profile is never released."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ca.lint import LintError, lint_certificate
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
