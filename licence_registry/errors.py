"""Errors raised by the licence registry."""

from verifier.errors import ConflictError, InputError, NotFoundError, NotPermittedError


class RegistryError(InputError):
    """A licence operation was refused; the message says why."""


class LicenceNotFound(RegistryError, NotFoundError):
    """No licence has that identifier."""


class LicenceNotPermitted(RegistryError, NotPermittedError):
    """The caller does not act for the licence's issuing department."""


class LicenceStateConflict(RegistryError, ConflictError):
    """The licence's status does not allow the change (revoked, superseded, …)."""


class IdempotencyKeyReused(RegistryError, ConflictError):
    """An idempotency key already answered a different request of the department."""
