"""Errors shared by every govtrust package (the verifier is the bottom layer)."""


class InputError(ValueError):
    """Input the caller can fix: malformed, missing or refused by a check.

    The message is one line that says exactly what is wrong, safe to show to a
    user (it never contains key material or a raw citizen ID number).
    """


class NotFoundError(InputError):
    """The thing named does not exist (an API answers 404)."""


class NotPermittedError(InputError):
    """The caller is known but may not do this (an API answers 403)."""


class ConflictError(InputError):
    """The request is valid but the current state forbids it (an API answers 409)."""
