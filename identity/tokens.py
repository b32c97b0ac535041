"""Issuing unified identity tokens: the producer of what verifier.identity_token accepts."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from ca.authority import current_signer_certificate
from ca.errors import CaError
from ca.keys import KeyRef, KeyStore, KeyStores
from ca.models import Authority
from ca.profiles import IDENTITY_SIGNER
from verifier import jose
from verifier.errors import InputError, NotFoundError
from verifier.identity_token import MAX_LIFETIME, TYP, issuer_url, key_id
from verifier.timeutil import utc_now

Transaction = Callable[[], AbstractContextManager[Session]]
DEFAULT_LIFETIME = timedelta(minutes=10)


class UnknownIdentityProvider(CaError, NotFoundError):
    """The region has no usable identity-signer certificate and key on this server."""


@dataclass(frozen=True)
class IdentityTokenIssuer:
    """One region's identity provider. `private_key` is only asked to `.sign`, so it may
    live in an HSM."""

    region: str
    issuer: str
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    ca_certificate: x509.Certificate

    def issue(
        self,
        subject: str,
        audience: str,
        roles: list[str],
        acr: str,
        *,
        department: str | None = None,
        lifetime: timedelta = DEFAULT_LIFETIME,
        now: datetime | None = None,
    ) -> str:
        """A signed identity token for `subject` (a pseudonymous identifier, never an ID
        number), valid for `lifetime` from `now`; `department` for staff who act for one."""
        if not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise InputError(f"identity token lifetime must be within {MAX_LIFETIME}")
        if not subject or not audience or not acr:
            raise InputError("identity token needs a subject, an audience and an acr")
        if not all(isinstance(role, str) for role in roles):
            raise InputError("identity token roles must be strings")
        issued_at = int((now or utc_now()).timestamp())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": issued_at,
            "exp": issued_at + int(lifetime.total_seconds()),
            "jti": secrets.token_urlsafe(16),
            "acr": acr,
            "region": self.region,
            "roles": list(roles),
        }
        if department is not None:
            claims["department"] = department
        return jose.sign_compact(
            jose.encode_claims(claims),
            self.private_key,
            typ=TYP,
            x5c=[self.certificate, self.ca_certificate],
            kid=key_id(self.certificate),
        )


def load_identity_issuer(
    transaction: Transaction,
    key_stores: KeyStores | KeyStore,
    region: str,
    public_base_url: str,
) -> IdentityTokenIssuer:
    """The identity provider of `region`: its newest unrevoked identity-signer certificate
    (issued by the region CA) and that certificate's key."""
    with transaction() as session:
        authority = session.get(Authority, region)
        row = current_signer_certificate(session, region, IDENTITY_SIGNER, utc_now())
        if authority is None or row is None or row.key_ref is None:
            raise UnknownIdentityProvider(f"no identity provider for region {region!r}")
        certificate, ca_certificate = row.certificate, authority.certificate
        key_ref = KeyRef.parse(row.key_ref)
    key = KeyStores.of(key_stores).private_key(key_ref)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaError(f"the identity-signer key of {region} is not an ECDSA key")
    return IdentityTokenIssuer(
        region=region,
        issuer=issuer_url(public_base_url, region),
        certificate=certificate,
        private_key=key,
        ca_certificate=ca_certificate,
    )
