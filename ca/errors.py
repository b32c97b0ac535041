"""Errors raised by the certificate authority."""

from verifier.errors import InputError, NotFoundError


class CaError(InputError):
    """A CA operation was refused; the message says why."""


class KeyStoreError(CaError):
    """A key could not be made, found or opened."""


class UnknownAuthority(CaError, NotFoundError):
    """No CA with that code."""
