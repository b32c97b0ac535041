"""Unified identity tokens: the one definition of their format and of their verification.

A token is a JWT (compact JWS, ES256) signed by a region's identity provider. Trust is
decided by the federation trust list alone: the signer certificate in `x5c[0]` must be
listed, byte for byte, under a granted `identity-provider` service. The rest of `x5c`
(the region CA) is carried for relying parties that want the chain; it grants nothing
here, because an identity-signer certificate has no EKU that could bind it to tokens.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from verifier import jose
from verifier.certs import valid_at
from verifier.errors import InputError
from verifier.trust_list import ServiceStatus, ServiceType, TrustedService, TrustList

TYP = "gt-id+jwt"
# The issuer (`iss`) of region R is <public base URL> + ISSUER_PATH.format(region=R).
ISSUER_PATH = "/api/v1/identity/{region}"
MAX_LIFETIME = timedelta(minutes=15)
CLOCK_SKEW = timedelta(seconds=60)
MAX_TOKEN_BYTES = 16 * 1024
MAX_CHAIN_LENGTH = 3
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "acr", "region", "roles")


class IdentityTokenError(Exception):
    """A well-formed identity token that must not be trusted."""


@dataclass(frozen=True)
class IdentityClaims:
    issuer: str
    subject: str
    audience: tuple[str, ...]
    region: str
    roles: tuple[str, ...]
    acr: str
    issued_at: datetime
    expires_at: datetime
    jwt_id: str
    signer_certificate: x509.Certificate
    signer_region: str
    # The department (code within `region`) a signer or clerk acts for.
    department: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "audience": list(self.audience),
            "region": self.region,
            "roles": list(self.roles),
            "department": self.department,
            "acr": self.acr,
            "issued_at": _iso(self.issued_at),
            "expires_at": _iso(self.expires_at),
            "jwt_id": self.jwt_id,
            "signer": self.signer_certificate.subject.rfc4514_string(),
            "signer_region": self.signer_region,
        }


def issuer_url(public_base_url: str, region: str) -> str:
    return public_base_url.rstrip("/") + ISSUER_PATH.format(region=region)


def key_id(certificate: x509.Certificate) -> str:
    """`kid`: lower-case hex SHA-256 of the signer certificate's DER."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def verify_identity_token(
    token: str | bytes, trust_list: TrustList, *, audience: str | None, at: datetime
) -> IdentityClaims:
    """Verify an identity token against an already verified trust list at time `at`.

    Raises InputError when `token` is not a JWS at all and IdentityTokenError when it is
    one that cannot be trusted. With `audience` None the audience is reported, not checked.
    Staleness of the trust list is the caller's to judge, as for every other check.
    """
    jws_object = jose.read_compact(
        token, max_bytes=MAX_TOKEN_BYTES, max_payload_bytes=MAX_TOKEN_BYTES
    )
    header = jws_object.header
    try:
        jose.check_header(header, typ=TYP)
    except jose.JoseVerificationError as exc:
        raise IdentityTokenError(f"identity token header: {exc}") from None
    chain = jws_object.x5c
    if not 1 <= len(chain) <= MAX_CHAIN_LENGTH:
        raise IdentityTokenError(
            f"identity token x5c must hold 1 to {MAX_CHAIN_LENGTH} certificates"
        )
    signer = chain[0]
    if header.get("kid") != key_id(signer):
        raise IdentityTokenError("identity token kid is not the SHA-256 of its x5c certificate")
    services = [
        s for s in trust_list.services(ServiceType.IDENTITY_PROVIDER) if signer in s.certificates
    ]
    if not services:
        raise IdentityTokenError(
            "identity token signer is not listed as an identity provider in the trust list"
        )
    public_key = signer.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise IdentityTokenError("identity token signer key is not ECDSA")
    try:
        payload = jose.verify_compact(jws_object, public_key, typ=TYP)
    except jose.JoseVerificationError as exc:
        raise IdentityTokenError(f"identity token signature: {exc}") from None
    try:
        claims = jose.decode_claims(payload)
    except InputError as exc:
        raise IdentityTokenError(f"identity token: {exc}") from None
    return _check_claims(claims, signer, services, audience, at)


def _check_claims(
    claims: dict[str, Any],
    signer: x509.Certificate,
    services: list[TrustedService],
    audience: str | None,
    at: datetime,
) -> IdentityClaims:
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise IdentityTokenError(f"identity token lacks claim(s) {missing}")
    issued_at = _time(claims, "iat")
    expires_at = _time(claims, "exp")
    if expires_at <= issued_at:
        raise IdentityTokenError("identity token expires before it was issued")
    if expires_at - issued_at > MAX_LIFETIME:
        raise IdentityTokenError(
            f"identity token lifetime exceeds {int(MAX_LIFETIME.total_seconds() // 60)} minutes"
        )
    if issued_at > at + CLOCK_SKEW:
        raise IdentityTokenError("identity token is not yet valid (iat is in the future)")
    if "nbf" in claims and _time(claims, "nbf") > at + CLOCK_SKEW:
        raise IdentityTokenError("identity token is not yet valid (nbf)")
    if at >= expires_at + CLOCK_SKEW:
        raise IdentityTokenError("identity token has expired")
    # iat is the signer's own claim, not a timestamp: a withdrawal also ends tokens signed
    # "before" it, which costs a legitimate user at most one sign-in.
    service = next((s for s in services if s.granted_at(issued_at)), None)
    if service is None or service.status_at(at) is ServiceStatus.WITHDRAWN:
        raise IdentityTokenError(
            "identity provider was not granted in the trust list when the token was issued"
        )
    if not valid_at(signer, issued_at):
        raise IdentityTokenError("identity token signer certificate was not valid at iat")
    region = _string(claims, "region")
    if region != service.region_code:
        raise IdentityTokenError(
            f"identity token claims region {region!r} but its signer is listed for "
            f"{service.region_code}"
        )
    issuer = _string(claims, "iss")
    if not _issuer_matches(issuer, region):
        raise IdentityTokenError(
            f"identity token iss {issuer!r} is not the issuer URL of region {region}"
        )
    audiences = _audiences(claims["aud"])
    if audience is not None and audience not in audiences:
        raise IdentityTokenError(f"identity token is not for audience {audience!r}")
    roles = claims["roles"]
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise IdentityTokenError("identity token claim 'roles' is not a list of strings")
    return IdentityClaims(
        issuer=issuer,
        subject=_string(claims, "sub"),
        audience=audiences,
        region=region,
        roles=tuple(roles),
        acr=_string(claims, "acr"),
        issued_at=issued_at,
        expires_at=expires_at,
        jwt_id=_string(claims, "jti"),
        signer_certificate=signer,
        signer_region=service.region_code,
        department=_string(claims, "department") if "department" in claims else None,
    )


def _time(claims: dict[str, Any], name: str) -> datetime:
    value = claims[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise IdentityTokenError(f"identity token claim {name!r} is not a whole NumericDate")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise IdentityTokenError(f"identity token claim {name!r} is out of range") from None


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise IdentityTokenError(f"identity token claim {name!r} is not a non-empty string")
    return value


def _audiences(value: object) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise IdentityTokenError("identity token claim 'aud' is not a string or list of strings")


def _issuer_matches(issuer: str, region: str) -> bool:
    parts = urlsplit(issuer)
    return (
        parts.scheme in ("https", "http")
        and bool(parts.netloc)
        and not parts.query
        and not parts.fragment
        and parts.path.endswith(ISSUER_PATH.format(region=region))
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
