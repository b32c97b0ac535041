"""Certificate profiles: what each certificate may do, and who may issue it."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ca.errors import CaError
from ca.profiles import (
    DOCUMENT_SIGNING_EKU,
    NATIONAL_ROOT,
    REGION_CA,
    SEAL,
    TRUST_LIST_SIGNER,
    Issuer,
    build_certificate,
    subject_name,
)
from verifier.trust_list import TSL_SIGNING_EKU


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def chain() -> tuple[Issuer, Issuer]:
    root_key, region_key = new_key(), new_key()
    root_cert = build_certificate(
        NATIONAL_ROOT, subject_name("Root"), root_key.public_key(), self_signing_key=root_key
    )
    root = Issuer(root_cert, root_key, NATIONAL_ROOT)
    region_cert = build_certificate(
        REGION_CA, subject_name("Region", province="浙江省"), region_key.public_key(), issuer=root
    )
    return root, Issuer(region_cert, region_key, REGION_CA)


def test_ca_profiles(chain: tuple[Issuer, Issuer]) -> None:
    root, region = chain
    root_bc = root.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    region_bc = region.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert root_bc.critical and root_bc.value.ca and root_bc.value.path_length == 1
    assert region_bc.critical and region_bc.value.ca and region_bc.value.path_length == 0
    usage = region.certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    region.certificate.verify_directly_issued_by(root.certificate)
    aki = region.certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    ski = root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.value.key_identifier == ski.value.digest


def test_seal_profile(chain: tuple[Issuer, Issuer]) -> None:
    _, region = chain
    subject = subject_name(
        "某局电子印章", organization="某局", organization_identifier="113300003300010149"
    )
    cert = build_certificate(SEAL, subject, new_key().public_key(), issuer=region)
    assert cert.serial_number.bit_length() >= 64
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [DOCUMENT_SIGNING_EKU]
    org_id = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value
    assert org_id == "NTRCN-113300003300010149"
    assert cert.not_valid_after_utc <= region.certificate.not_valid_after_utc


def test_trust_list_signer_profile(chain: tuple[Issuer, Issuer]) -> None:
    root, _ = chain
    cert = build_certificate(
        TRUST_LIST_SIGNER, subject_name("TL"), new_key().public_key(), issuer=root
    )
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [TSL_SIGNING_EKU]


def test_serials_are_unique(chain: tuple[Issuer, Issuer]) -> None:
    _, region = chain
    subject = subject_name("x", organization_identifier="113300003300010149")
    serials = {
        build_certificate(SEAL, subject, new_key().public_key(), issuer=region).serial_number
        for _ in range(20)
    }
    assert len(serials) == 20


def test_issuer_constraints_are_enforced(chain: tuple[Issuer, Issuer]) -> None:
    root, region = chain
    with pytest.raises(CaError, match="may not issue"):
        build_certificate(REGION_CA, subject_name("r2"), new_key().public_key(), issuer=region)
    with pytest.raises(CaError, match="may not issue"):
        build_certificate(
            SEAL,
            subject_name("s", organization_identifier="x"),
            new_key().public_key(),
            issuer=root,
        )
    with pytest.raises(CaError, match="organizationIdentifier"):
        build_certificate(SEAL, subject_name("s"), new_key().public_key(), issuer=region)
    key = new_key()
    with pytest.raises(CaError, match="cannot be self-signed"):
        build_certificate(REGION_CA, subject_name("r"), key.public_key(), self_signing_key=key)
