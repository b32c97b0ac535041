"""Small certificate helpers shared by the verifier's checks."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from verifier.errors import InputError

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_fingerprint(certificate: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the certificate's DER encoding."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """Accept `AB:CD…`, upper or lower case, surrounding space; return 64 lower-case hex."""
    value = text.strip().replace(":", "").lower()
    if not _HEX64.match(value):
        raise InputError("root fingerprint must be 64 hexadecimal characters (SHA-256)")
    return value


def parse_certificate(data: bytes, what: str = "the certificate") -> x509.Certificate:
    """A certificate sent as PEM or DER; InputError naming `what` if it is neither."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise InputError(f"{what} is not a PEM or DER X.509 certificate") from None


def valid_at(certificate: x509.Certificate, at: datetime) -> bool:
    return certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc


def subject_attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = certificate.subject.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
