"""Sign-in as OAuth 2.0 token-endpoint grants: password and refresh_token, and sign-out.

The HTTP layer only maps requests to these functions; every rule lives here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ca.data_protection import DataProtector
from ca.models import Department
from identity.accounts import authenticate, federation_subject
from identity.errors import IdentityError, RefreshTokenInvalid
from identity.models import Account
from identity.refresh import issue_refresh_token, revoke_family, rotate_refresh_token
from identity.tokens import DEFAULT_LIFETIME, IdentityTokenIssuer

# The audience every govtrust API route requires; other relying services name their own.
API_AUDIENCE = "govtrust-api"
ACR_PASSWORD = "urn:govtrust:acr:password"  # noqa: S105  (an assurance level name)
_AUDIENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._/-]{0,99}$")


class UnsupportedGrant(IdentityError):
    """A grant_type other than password or refresh_token."""


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105  (RFC 6750 token type)


def token_roles(account: Account) -> list[str]:
    """Staff carry their roles; a citizen or legal person carries what they are."""
    return list(account.role_list) if account.role_list else [str(account.kind)]


def account_department(session: Session, account: Account) -> str | None:
    """The code of the department a staff account acts for, if any."""
    if account.department_id is None:
        return None
    return session.get_one(Department, account.department_id).code


def grant(
    session: Session,
    protector: DataProtector,
    issuer: IdentityTokenIssuer,
    grant_type: str,
    *,
    username: str | None = None,
    password: str | None = None,
    refresh_token: str | None = None,
    audience: str | None = None,
) -> TokenSet:
    """Answer a token request for `issuer`'s region."""
    audience = audience or API_AUDIENCE
    if not _AUDIENCE.match(audience):
        raise IdentityError("audience must be 1 to 100 characters of A-Z a-z 0-9 : . _ / -")
    if grant_type == "password":
        if not username or not password:
            raise IdentityError("the password grant needs username and password")
        account = authenticate(session, protector, issuer.region, username, password)
        next_refresh = issue_refresh_token(session, account)
    elif grant_type == "refresh_token":
        if not refresh_token:
            raise IdentityError("the refresh_token grant needs refresh_token")
        account, next_refresh = rotate_refresh_token(session, refresh_token)
        if account.region_code != issuer.region:
            raise RefreshTokenInvalid("the refresh token is not valid")
    else:
        raise UnsupportedGrant("grant_type must be password or refresh_token")
    access = issuer.issue(
        federation_subject(protector, account),
        audience,
        token_roles(account),
        ACR_PASSWORD,
        department=account_department(session, account),
    )
    return TokenSet(access, next_refresh, int(DEFAULT_LIFETIME.total_seconds()))


def sign_out(session: Session, refresh_token: str) -> None:
    """Revoke the refresh token's whole family; an unknown token is not an error (RFC 7009)."""
    revoke_family(session, refresh_token)
