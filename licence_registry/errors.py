"""Errors raised by the licence registry."""

from verifier.errors import InputError, NotFoundError


class RegistryError(InputError):
    """A licence operation was refused; the message says why."""


class LicenceNotFound(RegistryError, NotFoundError):
    """No licence has that identifier."""
