"""Errors raised by the licence registry."""

from verifier.errors import InputError


class RegistryError(InputError):
    """A licence operation was refused; the message says why."""


class LicenceNotFound(RegistryError):
    """No licence has that identifier."""
