"""A browser's sign-in and its forms' protection.

Sign-in keeps the identity provider's tokens in cookies (`HttpOnly`, `SameSite=Lax`,
`Secure` over TLS), so a page is authorised by exactly the token the API accepts and the
same role checks. An expired access token is renewed once with the rotating refresh token.

Every form carries a CSRF token: a keyed hash of a random cookie that is never readable by
scripts (`SameSite=Strict`). Another site can make a browser post a form, but cannot read
the cookie or compute the hash, so a forged post carries no valid token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import Response

from govtrust.api.auth import Principal, principal_from_token
from govtrust.api.deps import get_runtime
from govtrust.runtime import Runtime
from identity.signin import TokenSet, grant
from verifier.errors import InputError

ACCESS_COOKIE = "gt_access"
REFRESH_COOKIE = "gt_refresh"
REGION_COOKIE = "gt_region"
CSRF_COOKIE = "gt_csrf"
CSRF_FIELD = "csrf_token"
_CSRF_PURPOSE = "web-csrf"
# How long a browser stays signed in without activity: the refresh token's own lifetime
# decides; the cookie only needs to outlive it.
SIGN_IN_COOKIE_SECONDS = 12 * 3600
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class SignInRequired(Exception):
    """The page needs a signed-in user; the browser is sent to the sign-in page."""


@dataclass(frozen=True)
class PendingCookies:
    """Cookies a request decided to set or clear, applied to whatever response it makes."""

    set: dict[str, tuple[str, int, str]]
    clear: tuple[str, ...] = ()


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int, same_site: str
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        secure=is_secure(request),
        samesite=same_site,  # type: ignore[arg-type]
        path="/",
    )


def remember_sign_in(request: Request, region: str, tokens: TokenSet) -> None:
    """Ask for the sign-in cookies to be set on this request's response."""
    request.state.pending_cookies = PendingCookies(
        {
            ACCESS_COOKIE: (tokens.access_token, SIGN_IN_COOKIE_SECONDS, "lax"),
            REFRESH_COOKIE: (tokens.refresh_token, SIGN_IN_COOKIE_SECONDS, "lax"),
            REGION_COOKIE: (region, SIGN_IN_COOKIE_SECONDS, "lax"),
        }
    )


def forget_sign_in(request: Request) -> None:
    request.state.pending_cookies = PendingCookies(
        {}, (ACCESS_COOKIE, REFRESH_COOKIE, REGION_COOKIE)
    )


def apply_pending_cookies(request: Request, response: Response) -> None:
    pending: PendingCookies | None = getattr(request.state, "pending_cookies", None)
    if pending is None:
        return
    for name in pending.clear:
        response.delete_cookie(name, path="/", secure=is_secure(request), httponly=True)
    for name, (value, max_age, same_site) in pending.set.items():
        set_cookie(response, request, name, value, max_age, same_site)


def current_user(request: Request, runtime: RuntimeDep) -> Principal | None:
    """The signed-in user, renewing an expired access token once; None when nobody is."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    access = request.cookies.get(ACCESS_COOKIE)
    if access:
        try:
            principal = principal_from_token(access, runtime)
        except HTTPException:
            principal = _renewed(request, runtime)
    else:
        principal = _renewed(request, runtime)
    request.state.principal = principal
    return principal


def signed_in_user(user: Annotated[Principal | None, Depends(current_user)]) -> Principal:
    """A page for signed-in users only."""
    if user is None:
        raise SignInRequired
    return user


def request_tokens(runtime: Runtime, region: str, grant_type: str, **fields: str) -> TokenSet:
    """A token request to `region`'s identity provider, as its token endpoint answers it
    (InputError, or an identity error, when refused)."""
    issuer = runtime.identity_issuer(region)
    with runtime.database.transaction() as session:
        return grant(session, runtime.data_protector, issuer, grant_type, **fields)  # type: ignore[arg-type]


def _renewed(request: Request, runtime: Runtime) -> Principal | None:
    refresh, region = request.cookies.get(REFRESH_COOKIE), request.cookies.get(REGION_COOKIE)
    if not refresh or not region:
        return None
    try:
        tokens = request_tokens(runtime, region, "refresh_token", refresh_token=refresh)
        principal = principal_from_token(tokens.access_token, runtime)
    except (InputError, HTTPException):
        forget_sign_in(request)
        return None
    remember_sign_in(request, region, tokens)
    return principal


# CSRF


def csrf_token(request: Request, runtime: Runtime) -> str:
    """The token this browser's forms carry; sets the CSRF cookie on first use."""
    secret = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_secret", None)
    if not secret:
        secret = secrets.token_urlsafe(32)
        request.state.csrf_secret = secret
        pending: PendingCookies | None = getattr(request.state, "pending_cookies", None)
        cookies = dict(pending.set) if pending else {}
        cookies[CSRF_COOKIE] = (secret, SIGN_IN_COOKIE_SECONDS, "strict")
        request.state.pending_cookies = PendingCookies(cookies, pending.clear if pending else ())
    return runtime.data_protector.lookup_hash(_CSRF_PURPOSE, secret)


def check_csrf(
    request: Request,
    runtime: RuntimeDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
) -> None:
    """Every form post: its token must be this browser's (HTTP 403 otherwise)."""
    secret = request.cookies.get(CSRF_COOKIE)
    expected = runtime.data_protector.lookup_hash(_CSRF_PURPOSE, secret) if secret else ""
    if not expected or not csrf_token or not hmac.compare_digest(csrf_token, expected):
        raise HTTPException(403, "the form has expired or did not come from this site: reload it")
