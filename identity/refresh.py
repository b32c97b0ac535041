"""OAuth 2.0 refresh tokens: random, stored hashed, rotated on every use.

A family is the chain of tokens of one sign-in. Presenting a token that was already
rotated means two parties hold it (one of them a thief), so the whole family is revoked
(OAuth 2.0 Security BCP, refresh token rotation). Every token of a family expires when
the first one does: rotation does not extend a sign-in past REFRESH_TOKEN_LIFETIME.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Update, select, update
from sqlalchemy.orm import Session

from identity.durable import commit_aside
from identity.errors import RefreshTokenInvalid, RefreshTokenReused
from identity.models import Account, RefreshToken
from verifier.timeutil import utc_now

REFRESH_TOKEN_LIFETIME = timedelta(hours=8)
MAX_TOKEN_LENGTH = 100
INVALID = "refresh token is unknown, expired or revoked"
REUSED = "refresh token was already used; this sign-in has been revoked"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(
    session: Session, account_id: int, family_id: str, now: datetime, expires_at: datetime
) -> str:
    token = secrets.token_urlsafe(32)  # 256 bits
    session.add(
        RefreshToken(
            account_id=account_id,
            family_id=family_id,
            token_hash=_hash(token),
            issued_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return token


def issue_refresh_token(session: Session, account: Account, *, now: datetime | None = None) -> str:
    """A refresh token starting a new family (one per sign-in)."""
    now = now or utc_now()
    return _new_token(session, account.id, secrets.token_hex(16), now, now + REFRESH_TOKEN_LIFETIME)


def _find(session: Session, token: str) -> RefreshToken | None:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash(token)))


def _revoke_statement(family_id: str, now: datetime) -> Update:
    return (
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def rotate_refresh_token(
    session: Session, token: str, *, now: datetime | None = None
) -> tuple[Account, str]:
    """Spend a refresh token: its account and the next token of the same family.

    Raises RefreshTokenReused (family revoked, committed even though the caller rolls
    back) for a token already spent, RefreshTokenInvalid for anything else wrong.
    """
    now = now or utc_now()
    row = _find(session, token)
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        raise RefreshTokenInvalid(INVALID)
    if row.used_at is not None:
        commit_aside(session, _revoke_statement(row.family_id, now))
        raise RefreshTokenReused(REUSED)
    # Conditional on still being unused: of two concurrent rotations only one wins.
    spent = session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == row.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        commit_aside(session, _revoke_statement(row.family_id, now))
        raise RefreshTokenReused(REUSED)
    account = session.get(Account, row.account_id)
    if account is None or account.disabled_at is not None:
        raise RefreshTokenInvalid(INVALID)
    return account, _new_token(session, account.id, row.family_id, now, row.expires_at)


def revoke_family(session: Session, token: str, *, now: datetime | None = None) -> int:
    """Sign-out: revoke every token of the token's family. Returns how many were revoked;
    an unknown token revokes nothing and is not an error (RFC 7009)."""
    row = _find(session, token)
    if row is None:
        return 0
    result = session.execute(
        _revoke_statement(row.family_id, now or utc_now()).execution_options(
            synchronize_session=False
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
