"""Unified identity over HTTP: token endpoint, sign-out, OpenID discovery, JWKS, UserInfo."""

from __future__ import annotations

import base64
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Depends, Form, HTTPException, Path
from pydantic import BaseModel

from govtrust.api.auth import Principal, current_principal
from govtrust.api.deps import DbSession, get_runtime
from govtrust.runtime import Runtime
from identity.errors import SignInThrottled
from identity.signin import TokenSet, grant, sign_out
from verifier.identity_token import key_id

router = APIRouter(prefix="/identity", tags=["identity"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Region = Annotated[str, Path(max_length=32, description="region code, e.g. 330000")]
FormText = Annotated[str | None, Form(max_length=4096)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str


class UserInfoOut(BaseModel):
    sub: str
    iss: str
    region: str
    roles: list[str]
    acr: str


@router.post("/{region}/token", response_model=TokenOut)
def token(
    region: Region,
    session: DbSession,
    runtime: RuntimeDep,
    grant_type: Annotated[str, Form(max_length=64)],
    username: FormText = None,
    password: FormText = None,
    refresh_token: FormText = None,
    audience: FormText = None,
) -> TokenOut:
    """OAuth 2.0 token endpoint (form-encoded): `password` or `refresh_token` grant. Refresh
    tokens rotate on every use; reusing an old one revokes the whole sign-in."""
    issuer = runtime.identity_issuer(region)
    try:
        tokens: TokenSet = grant(
            session,
            runtime.data_protector,
            issuer,
            grant_type,
            username=username,
            password=password,
            refresh_token=refresh_token,
            audience=audience,
        )
    except SignInThrottled as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "900"}) from None
    return TokenOut(**tokens.__dict__)


@router.post("/{region}/revoke", status_code=200)
def revoke(
    region: Region, session: DbSession, token: Annotated[str, Form(max_length=4096)]
) -> dict[str, str]:
    """Sign out: the refresh token and every token rotated from it stop working."""
    sign_out(session, token)
    return {"status": "revoked"}


@router.get("/{region}/.well-known/openid-configuration")
def discovery(region: Region, runtime: RuntimeDep) -> dict[str, object]:
    """OpenID Provider metadata of the region's identity provider."""
    issuer = runtime.identity_issuer(region).issuer
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "jwks_uri": f"{issuer}/jwks",
        "userinfo_endpoint": issuer.rsplit("/", 1)[0] + "/userinfo",
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "acr", "region", "roles"],
    }


@router.get("/{region}/jwks")
def jwks(region: Region, runtime: RuntimeDep) -> dict[str, object]:
    """The region's token-signing key. Relying parties should trust it through the trust list
    (the x5c chain), not through this document alone."""
    issuer = runtime.identity_issuer(region)
    numbers = issuer.certificate.public_key()
    assert isinstance(numbers, ec.EllipticCurvePublicKey)
    point = numbers.public_numbers()
    return {
        "keys": [
            {
                "kty": "EC",
                "crv": "P-256",
                "use": "sig",
                "alg": "ES256",
                "kid": key_id(issuer.certificate),
                "x": _b64url(point.x.to_bytes(32, "big")),
                "y": _b64url(point.y.to_bytes(32, "big")),
                "x5c": [
                    base64.b64encode(c.public_bytes(Encoding.DER)).decode()
                    for c in (issuer.certificate, issuer.ca_certificate)
                ],
            }
        ]
    }


@router.get("/userinfo", response_model=UserInfoOut)
def userinfo(principal: Annotated[Principal, Depends(current_principal)]) -> UserInfoOut:
    """Who the bearer is, for a token from any region's identity provider."""
    return UserInfoOut(
        sub=principal.subject,
        iss=principal.issuer,
        region=principal.region,
        roles=list(principal.roles),
        acr=principal.acr,
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
