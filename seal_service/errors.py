"""Errors raised by the seal service."""

from verifier.errors import InputError


class SealError(InputError):
    """A seal cannot be made or used; the message says why."""
