"""CRLs an offline verifier holds: verified against the trust list, then asked about one
certificate. The offline bundle carries them; nothing here needs a network.

Public API: RevocationStatus, CertificateStatus, VerifiedCrl, CrlError, IssuerKey,
verify_crls(encoded, trust_list, at, problems), certificate_status(crls, certificate,
issuer, at), issuer_key(certificate).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from verifier.errors import InputError
from verifier.timeutil import format_time
from verifier.trust_list import ServiceType, TrustedService, TrustList

# A CRL issuer is known by name and key together: a rolled-over CA keeps its name.
IssuerKey = tuple[bytes, bytes]


class CrlError(InputError):
    """A CRL that cannot be used: malformed, unverifiable or of a kind not supported."""


class RevocationStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class VerifiedCrl:
    """A CRL whose signature verified with a CA certificate the trust list vouches for."""

    crl: x509.CertificateRevocationList
    issuer: x509.Certificate
    number: int | None
    this_update: datetime
    next_update: datetime

    def describe(self, where: str = "bundle") -> str:
        number = "without number" if self.number is None else f"#{self.number}"
        return (
            f"{where} CRL {number} of {self.issuer.subject.rfc4514_string()}, "
            f"this_update {format_time(self.this_update)}"
        )


@dataclass(frozen=True)
class CertificateStatus:
    status: RevocationStatus
    source: str  # where the answer comes from, or why there is none
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


def certificate_status(
    crls: Mapping[IssuerKey, VerifiedCrl],
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    at: datetime,
    where: str = "bundle",
) -> CertificateStatus:
    """The certificate's revocation status from the CRL of `issuer` among `crls` (held in
    `where`: the bundle, or the PDF's own validation data).

    A listed serial is REVOKED whatever `at` is (revocations are final; a caller that
    proves an earlier time compares it with `revoked_at`), except a certificateHold on
    a stale CRL, which may have been lifted since."""
    name = issuer.subject.rfc4514_string()
    held = crls.get(issuer_key(issuer))
    if held is None:
        return _unknown(f"the {where} holds no verified CRL of {name}")
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return _unknown(f"the certificate was not issued by {name}")
    source = held.describe(where)
    stale = at > held.next_update
    entry = held.crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is not None:
        reason = _entry_reason(entry)
        if not stale or reason is not x509.ReasonFlags.certificate_hold:
            return CertificateStatus(
                RevocationStatus.REVOKED, source, entry.revocation_date_utc, reason
            )
    if stale:
        return _unknown(f"{source} is stale since {format_time(held.next_update)}")
    # RFC 5280 3.3: a CRL may drop a certificate once it has expired.
    if certificate.not_valid_after_utc < held.this_update:
        return _unknown(f"the certificate expired before {source}, which need not list it")
    return CertificateStatus(RevocationStatus.GOOD, source)


# --- CRLs -------------------------------------------------------------------------------------


def verify_crls(
    encoded: Sequence[str], trust_list: TrustList, at: datetime, problems: list[str]
) -> dict[IssuerKey, VerifiedCrl]:
    """The newest verified CRL of each issuer from base64 DER CRLs (a bundle's); every
    refused CRL is named in `problems`."""
    ders: list[bytes | None] = []
    for text in encoded:
        try:
            ders.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            ders.append(None)
    return verify_der_crls(ders, trust_list, at, problems)


def verify_der_crls(
    ders: Sequence[bytes | None], trust_list: TrustList, at: datetime, problems: list[str]
) -> dict[IssuerKey, VerifiedCrl]:
    """The newest verified CRL of each issuer (the national root or a listed region CA);
    every refused CRL (None: one that could not even be decoded) is named in `problems`."""
    issuers: list[tuple[x509.Certificate, TrustedService | None]] = [
        (trust_list.national_root, None)
    ] + [(c, s) for s in trust_list.services(ServiceType.SEAL_CA) for c in s.certificates]
    newest: dict[IssuerKey, VerifiedCrl] = {}
    for position, der in enumerate(ders):
        try:
            held = _verify_crl(der, issuers, at)
        except CrlError as exc:
            problems.append(f"crls[{position}]: {exc}")
            continue
        key = issuer_key(held.issuer)
        current = newest.get(key)
        if current is None or _recency(held) > _recency(current):
            newest[key] = held
    return newest


def _verify_crl(
    der: bytes | None,
    issuers: list[tuple[x509.Certificate, TrustedService | None]],
    at: datetime,
) -> VerifiedCrl:
    try:
        if der is None:
            raise ValueError
        crl = x509.load_der_x509_crl(der)
        issuer_name = crl.issuer.rfc4514_string()
    except ValueError:
        raise CrlError("not a base64 DER CRL") from None
    named = [(c, s) for c, s in issuers if c.subject == crl.issuer]
    if not named:
        raise CrlError(
            f"CRL issuer {issuer_name} is neither the national root nor a listed region CA"
        )
    signed = [(c, s) for c, s in named if _signed_by(crl, c)]
    if not signed:
        raise CrlError(f"CRL signature does not verify with any listed key of {issuer_name}")
    # Trust is decided by the trust list: a withdrawn region CA's word no longer counts.
    granted = [c for c, s in signed if s is None or s.granted_at(at)]
    if not granted:
        raise CrlError(f"CRL issuer {issuer_name} is not granted in the trust list")
    usable = [c for c in granted if _may_sign_crls(c)]
    if not usable:
        raise CrlError(f"CRL issuer {issuer_name} may not sign CRLs (key usage)")
    try:
        extensions = list(crl.extensions)
    except ValueError:
        raise CrlError(f"CRL extensions of {issuer_name} cannot be parsed") from None
    if crl.next_update_utc is None:
        raise CrlError(f"CRL of {issuer_name} has no nextUpdate")
    number = _crl_number(extensions)
    return VerifiedCrl(crl, usable[0], number, crl.last_update_utc, crl.next_update_utc)


def _crl_number(extensions: list[x509.Extension[x509.ExtensionType]]) -> int | None:
    """The CRL number of a full, complete CRL; CrlError for any other kind."""
    number = None
    for extension in extensions:
        value = extension.value
        if isinstance(value, x509.DeltaCRLIndicator):
            raise CrlError("CRL is a delta CRL; the bundle carries full CRLs only")
        if isinstance(value, x509.IssuingDistributionPoint) and (
            value.only_contains_user_certs
            or value.only_contains_ca_certs
            or value.only_contains_attribute_certs
            or value.only_some_reasons
            or value.indirect_crl
        ):
            # A partial CRL's silence about a serial would be read as "good".
            raise CrlError("CRL covers only part of its issuer's certificates")
        if isinstance(value, x509.CRLNumber):
            number = value.crl_number
        elif isinstance(value, x509.UnrecognizedExtension) and extension.critical:
            raise CrlError(f"CRL carries an unknown critical extension {value.oid.dotted_string}")
    return number


def _signed_by(crl: x509.CertificateRevocationList, certificate: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(certificate.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _may_sign_crls(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.KeyUsage).value.crl_sign
    except x509.ExtensionNotFound:
        return True


def _recency(held: VerifiedCrl) -> tuple[int, datetime]:
    # CRL numbers only grow (RFC 5280 5.2.3); this_update breaks ties and numberless CRLs.
    return (-1 if held.number is None else held.number, held.this_update)


def issuer_key(certificate: x509.Certificate) -> IssuerKey:
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return certificate.subject.public_bytes(), spki


def _entry_reason(entry: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except (x509.ExtensionNotFound, ValueError):
        return None


def _unknown(source: str) -> CertificateStatus:
    return CertificateStatus(RevocationStatus.UNKNOWN, source)
