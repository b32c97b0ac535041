"""seal_service: e-seals (image, certificate, key, lifecycle), licence rendering and sealing."""

from seal_service.errors import SealError
from seal_service.lifecycle import (
    SealNotFound,
    check_seal,
    find_seal,
    list_seals,
    make_seal,
    reinstate_seal,
    retire_seal,
    seal_history,
    seal_problem,
    suspend_seal,
    usable_seal,
)
from seal_service.models import Seal, SealStatus, SealStatusChange
from seal_service.seal_image import SealImageError, render_seal_image, validate_seal_image

__all__ = [
    "Seal",
    "SealError",
    "SealImageError",
    "SealNotFound",
    "SealStatus",
    "SealStatusChange",
    "check_seal",
    "find_seal",
    "list_seals",
    "make_seal",
    "reinstate_seal",
    "render_seal_image",
    "retire_seal",
    "seal_history",
    "seal_problem",
    "suspend_seal",
    "usable_seal",
    "validate_seal_image",
]
