"""What the CA has issued, and issuance from a certificate signing request."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ca.authority import get_authority, issue_certificate
from ca.errors import CaError
from ca.models import Authority, Department, IssuedCertificate
from ca.profiles import PROFILES, REGION_CA, Issuer
from verifier.errors import NotFoundError
from verifier.identifiers import validate_uscc

MAX_CSR_BYTES = 16 * 1024
MAX_PAGE = 500
# What a region CA issues on request; CA and trust-list certificates come from the ceremony.
REQUESTABLE_PROFILES = frozenset(
    {"seal", "ocsp-responder", "tsa", "status-issuer", "identity-signer", "log-signer"}
)


@dataclass(frozen=True)
class CertificatePage:
    items: list[IssuedCertificate]
    total: int
    offset: int
    limit: int


def list_authorities(session: Session) -> list[Authority]:
    return list(session.scalars(select(Authority).order_by(Authority.code)))


def list_certificates(
    session: Session, issuer_code: str, *, offset: int = 0, limit: int = 100
) -> CertificatePage:
    get_authority(session, issuer_code)
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise CaError(f"offset must be >= 0 and limit between 1 and {MAX_PAGE}")
    where = IssuedCertificate.issuer_code == issuer_code
    total = session.scalar(select(func.count()).select_from(IssuedCertificate).where(where)) or 0
    items = session.scalars(
        select(IssuedCertificate)
        .where(where)
        .order_by(IssuedCertificate.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return CertificatePage(list(items), total, offset, limit)


def find_certificate(session: Session, issuer_code: str, serial_hex: str) -> IssuedCertificate:
    serial = normalise_serial(serial_hex)
    get_authority(session, issuer_code)
    row = session.scalars(
        select(IssuedCertificate).where(
            IssuedCertificate.issuer_code == issuer_code, IssuedCertificate.serial == serial
        )
    ).first()
    if row is None:
        raise CertificateNotFound(f"CA {issuer_code} issued no certificate with serial {serial}")
    return row


class CertificateNotFound(CaError, NotFoundError):
    """No certificate with that serial."""


def normalise_serial(serial_hex: str) -> str:
    text = serial_hex.strip().lower().replace(":", "")
    if not text or len(text) > 40 or any(c not in "0123456789abcdef" for c in text):
        raise CaError("serial must be 1 to 40 hexadecimal digits")
    return format(int(text, 16), "x")


def issue_from_csr(
    session: Session, issuer_code: str, issuer: Issuer, csr_pem: bytes, profile_name: str
) -> IssuedCertificate:
    """Check a CSR (signature, key, subject within the region) and certify it."""
    if profile_name not in REQUESTABLE_PROFILES:
        raise CaError(f"profile must be one of {sorted(REQUESTABLE_PROFILES)}")
    if issuer.profile is not REGION_CA:
        raise CaError(f"{issuer_code} is not a region CA")
    csr = load_csr(csr_pem)
    province = get_authority(session, issuer_code).name
    subject = csr.subject
    if _attribute(subject, NameOID.COUNTRY_NAME) != "CN":
        raise CaError("CSR subject must have C=CN")
    if _attribute(subject, NameOID.STATE_OR_PROVINCE_NAME) != province:
        raise CaError(f"CSR subject must have ST={province} (the region of CA {issuer_code})")
    if not _attribute(subject, NameOID.COMMON_NAME):
        raise CaError("CSR subject must have a common name")
    profile = PROFILES[profile_name]
    if profile.requires_organization_identifier:
        org_id = _attribute(subject, NameOID.ORGANIZATION_IDENTIFIER) or ""
        if not org_id.startswith("NTRCN-"):
            raise CaError("CSR subject needs organizationIdentifier NTRCN-<USCC>")
        validate_uscc(org_id.removeprefix("NTRCN-"))
    return issue_certificate(session, issuer_code, issuer, profile, subject, csr.public_key())


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    if len(data) > MAX_CSR_BYTES:
        raise CaError(f"CSR is larger than {MAX_CSR_BYTES} bytes")
    try:
        csr = (
            x509.load_pem_x509_csr(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else x509.load_der_x509_csr(data)
        )
    except ValueError:
        raise CaError("not a PKCS#10 certificate signing request (PEM or DER)") from None
    try:
        # A malformed key or an unknown algorithm surfaces only here, as ValueError or
        # UnsupportedAlgorithm (found by tests/govtrust/test_parser_fuzz.py).
        signed = csr.is_signature_valid
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CaError("CSR public key or signature algorithm cannot be read") from None
    if not signed:
        raise CaError("CSR signature does not verify: the requester does not hold the key")
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name != "secp256r1":
            raise CaError("ECDSA keys must be on P-256")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 3072:
            raise CaError("RSA keys must be at least 3072 bits")
    else:
        raise CaError("only ECDSA P-256 and RSA-3072+ keys are accepted")
    return csr


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) > 1:
        raise CaError(f"CSR subject repeats attribute {oid.dotted_string}")
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else None


class UnknownDepartment(CaError, NotFoundError):
    """No department with that code in that region."""


def find_department(session: Session, region: str, code: str) -> Department:
    """A region's department by its code (e.g. 330000 / amr)."""
    department = session.scalars(
        select(Department).where(Department.region_code == region, Department.code == code)
    ).first()
    if department is None:
        raise UnknownDepartment(f"region {region} has no department {code!r}")
    return department
