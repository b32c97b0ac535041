"""Errors raised by accounts and sign-in; every message is safe to show to the user."""

from verifier.errors import InputError


class IdentityError(InputError):
    """An account operation was refused; the message says why."""


class PasswordPolicyError(IdentityError):
    """A new password does not meet the policy (the message never contains it)."""


class SignInFailed(IdentityError):
    """Unknown account, wrong password or disabled account: deliberately one message."""


class SignInThrottled(IdentityError):
    """Too many recent failures for this account; even the right password is refused."""


class RefreshTokenInvalid(IdentityError):
    """Unknown, expired or revoked refresh token."""


class RefreshTokenReused(RefreshTokenInvalid):
    """A refresh token used a second time: its whole family has been revoked."""
