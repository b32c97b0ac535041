"""Operator API keys per region: shown once, kept only as a SHA-256 hash.

An interim credential until identity tokens exist (issue #4): the HTTP layer turns a
valid key into an operator principal, so routes never see which credential was used.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.authority import get_authority
from ca.errors import CaError
from ca.models import ApiKey
from verifier.timeutil import utc_now

TOKEN_PREFIX = "gtk_"  # noqa: S105  (a marker, not a secret)
MAX_TOKEN_LENGTH = 200


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_key(session: Session, region_code: str, label: str) -> str:
    """Make a key for `region_code`'s CA; the returned token is never stored."""
    get_authority(session, region_code)
    label = label.strip()
    if not label or len(label) > 100:
        raise CaError("an API key needs a label of 1 to 100 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKey(region_code=region_code, label=label, key_hash=_hash(token), created_at=utc_now())
    )
    session.flush()
    return token


def find_api_key(session: Session, token: str) -> ApiKey | None:
    """The live key matching `token`, or None. Lookup is by hash: no timing oracle on it."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    return session.scalars(
        select(ApiKey).where(ApiKey.key_hash == _hash(token), ApiKey.revoked_at.is_(None))
    ).first()


def revoke_api_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise CaError(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utc_now()
    return key
