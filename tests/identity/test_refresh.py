"""Refresh tokens: stored hashed, rotated on use, reuse revokes the family, 8 h lifetime."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from identity.accounts import create_staff
from identity.errors import RefreshTokenInvalid, RefreshTokenReused
from identity.models import Account, RefreshToken
from identity.refresh import (
    REFRESH_TOKEN_LIFETIME,
    issue_refresh_token,
    revoke_family,
    rotate_refresh_token,
)
from tests.conftest import Federation
from verifier.timeutil import utc_now

PASSWORD = "Refresh-Tests-7"


@pytest.fixture(scope="module")
def account_id(federation: Federation) -> int:
    with federation.runtime.database.transaction() as session:
        return create_staff(session, "440000", "refresh-user", "测试", PASSWORD, "auditor").id


def _issue(federation: Federation, account_id: int, **kw) -> str:  # type: ignore[no-untyped-def]
    with federation.runtime.database.transaction() as session:
        return issue_refresh_token(session, session.get(Account, account_id), **kw)


def _rotate(federation: Federation, token: str, **kw) -> str:  # type: ignore[no-untyped-def]
    with federation.runtime.database.transaction() as session:
        _, new = rotate_refresh_token(session, token, **kw)
        return new


def test_token_is_random_and_stored_hashed(federation: Federation, account_id: int) -> None:
    token = _issue(federation, account_id)
    assert len(token) >= 43
    with federation.runtime.database.transaction() as session:
        stored = session.scalars(select(RefreshToken.token_hash)).all()
    assert token not in stored
    assert all(len(h) == 64 for h in stored)


def test_rotation_returns_account_and_next_token(federation: Federation, account_id: int) -> None:
    first = _issue(federation, account_id)
    with federation.runtime.database.transaction() as session:
        account, second = rotate_refresh_token(session, first)
        assert account.id == account_id
    assert second != first
    third = _rotate(federation, second)
    assert third not in (first, second)


def test_reuse_revokes_the_whole_family(federation: Federation, account_id: int) -> None:
    first = _issue(federation, account_id)
    second = _rotate(federation, first)
    with pytest.raises(RefreshTokenReused):
        _rotate(federation, first)
    # The revocation survived the caller's rollback: the newest token is dead too.
    with pytest.raises(RefreshTokenInvalid):
        _rotate(federation, second)
    other_sign_in = _issue(federation, account_id)
    assert _rotate(federation, other_sign_in)


def test_expired_token_refused_and_rotation_does_not_extend(
    federation: Federation, account_id: int
) -> None:
    start = utc_now()
    token = _issue(federation, account_id, now=start)
    nearly = start + REFRESH_TOKEN_LIFETIME - timedelta(minutes=1)
    token = _rotate(federation, token, now=nearly)
    with pytest.raises(RefreshTokenInvalid):
        _rotate(federation, token, now=start + REFRESH_TOKEN_LIFETIME + timedelta(seconds=1))


def test_unknown_token_refused(federation: Federation) -> None:
    for token in ("", "not-a-token", "x" * 5000):
        with pytest.raises(RefreshTokenInvalid, match="unknown, expired or revoked"):
            _rotate(federation, token)


def test_sign_out_revokes_family(federation: Federation, account_id: int) -> None:
    token = _rotate(federation, _issue(federation, account_id))
    with federation.runtime.database.transaction() as session:
        assert revoke_family(session, token) == 2
        assert revoke_family(session, "unknown") == 0
    with pytest.raises(RefreshTokenInvalid):
        _rotate(federation, token)
