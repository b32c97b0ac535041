"""The licence's QR credential: a compact JWS small enough for one QR code on the page.

ES256, `typ` `gt-lic+jwt`, no `x5c` (it would not fit): `kid` is the base64url SHA-256
thumbprint of the region's status-issuer certificate, found in the trust list. Claims use
short names; the holder ID is only ever the masked form. `dig` is the SHA-256 of the
licence content (`content_digest`), `st` its entry in the region's status list.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from verifier import jose
from verifier.errors import InputError
from verifier.identifiers import parse_licence_identifier
from verifier.trust_list import ServiceType, TrustedService, TrustList

TYP = "gt-lic+jwt"
MAX_CREDENTIAL_CHARS = 1200  # what one QR code on the page holds, with room to spare
REQUIRED_CLAIMS = ("lid", "lt", "hn", "hid", "dep", "dus", "vf", "vu", "st", "dig", "iat")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_B64_SHA256 = re.compile(r"^[A-Za-z0-9_-]{43}$")


class CredentialError(InputError):
    """A QR credential that is malformed, not authentic, or not from a listed issuer."""


@dataclass(frozen=True)
class LicenceClaims:
    """What the licence's QR code says (all of it signed)."""

    identifier: str
    licence_type: str
    holder_name: str
    holder_id_masked: str
    department: str
    department_uscc: str
    valid_from: date
    valid_until: date | None
    region: str
    status_index: int
    content_digest: str  # base64url SHA-256 of the licence content

    def content(self) -> bytes:
        """The canonical bytes `content_digest` covers."""
        return content_bytes(
            self.identifier,
            self.licence_type,
            self.holder_name,
            self.holder_id_masked,
            self.department_uscc,
            self.valid_from,
            self.valid_until,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "identifier": self.identifier,
            "licence_type": self.licence_type,
            "holder_name": self.holder_name,
            "holder_id_masked": self.holder_id_masked,
            "department": self.department,
            "department_uscc": self.department_uscc,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "region": self.region,
            "status_index": self.status_index,
            "content_digest": self.content_digest,
        }


@dataclass(frozen=True)
class VerifiedCredential:
    claims: LicenceClaims
    issued_at: datetime
    signer: x509.Certificate


def thumbprint(certificate: x509.Certificate) -> str:
    """base64url SHA-256 of the certificate's DER: the `kid` of the credentials it signs."""
    digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def content_bytes(
    identifier: str,
    licence_type: str,
    holder_name: str,
    holder_id_masked: str,
    department_uscc: str,
    valid_from: date,
    valid_until: date | None,
) -> bytes:
    """The licence content the credential's `dig` covers, one field per line."""
    fields = (
        identifier,
        licence_type,
        holder_name,
        holder_id_masked,
        department_uscc,
        valid_from.isoformat(),
        valid_until.isoformat() if valid_until else "",
    )
    return "\n".join(fields).encode()


def content_digest(content: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()


def sign_credential(
    claims: LicenceClaims,
    private_key: ec.EllipticCurvePrivateKey,
    signer: x509.Certificate,
    *,
    issued_at: datetime,
) -> str:
    """The compact JWS of `claims`, checked to fit one QR code."""
    if claims.content_digest != content_digest(claims.content()):
        raise CredentialError("credential dig does not match the licence content")
    payload = jose.encode_claims(
        {
            "lid": claims.identifier,
            "lt": claims.licence_type,
            "hn": claims.holder_name,
            "hid": claims.holder_id_masked,
            "dep": claims.department,
            "dus": claims.department_uscc,
            "vf": claims.valid_from.isoformat(),
            "vu": claims.valid_until.isoformat() if claims.valid_until else None,
            "st": {"idx": claims.status_index, "reg": claims.region},
            "dig": claims.content_digest,
            "iat": int(issued_at.timestamp()),
        }
    )
    token = jose.sign_compact(payload, private_key, typ=TYP, kid=thumbprint(signer))
    if len(token) > MAX_CREDENTIAL_CHARS:
        raise CredentialError(f"credential is longer than {MAX_CREDENTIAL_CHARS} characters")
    return token


def verify_credential(
    token: str | bytes, trust_list: TrustList, *, at: datetime
) -> VerifiedCredential:
    """Verify a QR credential against an already verified trust list: the `kid` must be the
    certificate of a `status-issuer` service of the licence's region, granted when the
    credential was issued and not withdrawn at `at`. To verify many, keep one
    `CredentialVerifier`."""
    return CredentialVerifier(trust_list).verify(token, at=at)


class CredentialVerifier:
    """Verifies QR credentials against one trust list, as `verify_credential` does, with the
    list's status-issuer certificates indexed by `kid` (their thumbprint) once, not
    thumbprinted again for every credential. Nothing about a credential is remembered."""

    def __init__(self, trust_list: TrustList) -> None:
        self.trust_list = trust_list
        self._by_kid: dict[str, list[tuple[TrustedService, x509.Certificate]]] = {}
        for service in trust_list.services(ServiceType.STATUS_ISSUER):
            for certificate in service.certificates:
                entry = (service, certificate)
                self._by_kid.setdefault(thumbprint(certificate), []).append(entry)

    def verify(self, token: str | bytes, *, at: datetime) -> VerifiedCredential:
        if len(token) > MAX_CREDENTIAL_CHARS:
            raise CredentialError(f"credential is longer than {MAX_CREDENTIAL_CHARS} characters")
        unverified = jose.read_compact(token, max_payload_bytes=MAX_CREDENTIAL_CHARS)
        kid = unverified.header.get("kid")
        if not isinstance(kid, str) or not _B64_SHA256.match(kid):
            raise CredentialError("credential kid is not a SHA-256 certificate thumbprint")
        listed = self._by_kid.get(kid)
        if not listed:
            raise CredentialError("credential signer is not a status-issuer in the trust list")
        service, certificate = listed[0]
        public_key = certificate.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise CredentialError("credential signer key is not an ECDSA key")
        try:
            payload = jose.verify_compact(unverified, public_key, typ=TYP)
        except jose.JoseVerificationError as exc:
            raise CredentialError(f"credential signature does not verify ({exc})") from None
        raw = jose.decode_claims(payload)
        claims, issued_at = _claims(raw)
        if claims.region != service.region_code:
            raise CredentialError(
                f"credential is for region {claims.region} but signed by "
                f"{service.region_code}'s status issuer"
            )
        if not service.granted_at(issued_at) or not service.granted_at(at):
            raise CredentialError("credential signer is not granted in the trust list")
        if claims.content_digest != content_digest(claims.content()):
            raise CredentialError("credential dig does not match its own licence content")
        return VerifiedCredential(claims, issued_at, certificate)


def _claims(raw: dict[str, Any]) -> tuple[LicenceClaims, datetime]:
    missing = [name for name in REQUIRED_CLAIMS if name not in raw]
    if missing:
        raise CredentialError(f"credential lacks claim(s): {', '.join(missing)}")
    status = raw["st"]
    if not isinstance(status, dict) or set(status) != {"idx", "reg"}:
        raise CredentialError("credential st must hold idx and reg")
    index, region = status["idx"], status["reg"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise CredentialError("credential status index is not a non-negative integer")
    iat = raw["iat"]
    if not isinstance(iat, int) or isinstance(iat, bool) or iat < 0:
        raise CredentialError("credential iat is not a NumericDate")
    identifier = _text(raw, "lid")
    try:
        parse_licence_identifier(identifier)
    except InputError as exc:
        raise CredentialError(f"credential licence identifier: {exc}") from None
    claims = LicenceClaims(
        identifier=identifier,
        licence_type=_text(raw, "lt"),
        holder_name=_text(raw, "hn"),
        holder_id_masked=_text(raw, "hid"),
        department=_text(raw, "dep"),
        department_uscc=_text(raw, "dus"),
        valid_from=_date(raw["vf"], "vf"),
        valid_until=None if raw["vu"] is None else _date(raw["vu"], "vu"),
        region=_text({"reg": region}, "reg"),
        status_index=index,
        content_digest=_text(raw, "dig"),
    )
    return claims, datetime.fromtimestamp(iat, UTC)


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw[name]
    if not isinstance(value, str) or not value or len(value) > 200:
        raise CredentialError(f"credential claim {name} is not a short non-empty string")
    return value


def _date(value: object, name: str) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise CredentialError(f"credential claim {name} is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CredentialError(f"credential claim {name} is not a real date") from None
