"""Shared by the revocation, CRL and OCSP tests: certificates of their own to revoke (never the
federation's seals, which other tests use), OCSP requests, pkilint, and a live server."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pkilint import loader, pkix
from pkilint.pkix import crl, extension, name
from pkilint.pkix import ocsp as pkilint_ocsp
from pkilint.validation import ValidationFindingSeverity, ValidationResult

from ca.authority import get_authority, issue_certificate
from ca.profiles import LOG_SIGNER, subject_name
from tests.conftest import Federation

ROOT = "root"


def issue_test_certificate(
    federation: Federation, region: str = "330000", label: str = "吊销测试"
) -> x509.Certificate:
    """A fresh end-entity certificate of `region` (log-signer profile: tests elsewhere count the
    seals), with the CRL and OCSP pointers every issued certificate carries."""
    runtime = federation.runtime
    issuer = runtime.issuer(region)
    key = ec.generate_private_key(ec.SECP256R1())
    with runtime.database.transaction() as session:
        province = get_authority(session, region).name
        subject = subject_name(label, organization=province, province=province)
        row = issue_certificate(session, region, issuer, LOG_SIGNER, subject, key.public_key())
        return row.certificate


def authority_certificate(federation: Federation, code: str) -> x509.Certificate:
    with federation.runtime.database.transaction() as session:
        return get_authority(session, code).certificate


def ocsp_request(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    *,
    algorithm: hashes.HashAlgorithm | None = None,
    nonce: bytes | None = None,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        certificate,
        issuer,
        algorithm or hashes.SHA1(),  # openssl's default CertID hash
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def write_pem(path: Path, *certificates: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    return path


# --- pkilint: what the lint_crl and lint_ocsp_response console scripts run ------------------

_DECODERS = [
    pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
    pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
]
CRL_VALIDATOR = crl.create_pkix_crl_validator_container(
    _DECODERS,
    [
        crl.create_issuer_validator_container([]),
        crl.create_validity_validator_container([]),
        crl.create_extensions_validator_container([]),
    ],
)
OCSP_VALIDATOR = pkilint_ocsp.create_pkix_ocsp_response_validator_container(
    [pkilint_ocsp.create_response_decoder(), *_DECODERS], []
)


def _errors(results: list[ValidationResult]) -> list[tuple[str, str, str]]:
    return [
        (d.finding.severity.name, d.finding.code, str(r.node.path))
        for r in results
        for d in r.finding_descriptions
        if d.finding.severity <= ValidationFindingSeverity.ERROR  # FATAL or ERROR
    ]


def pkilint_crl_errors(der: bytes) -> list[tuple[str, str, str]]:
    document = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl")
    return _errors(CRL_VALIDATOR.validate(document.root))


def pkilint_ocsp_errors(der: bytes) -> list[tuple[str, str, str]]:
    document = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(der, "ocsp")
    return _errors(OCSP_VALIDATOR.validate(document.root))


# --- a live `govtrust serve` ----------------------------------------------------------------
