"""licence_registry: the source of truth for every licence and the only place its status
changes; every change is provable from the region's transparency log.

Public API: `issue_licence`, `amend_licence` (lifecycle), `suspend_licence`,
`reinstate_licence`, `revoke_licence`, `get_licence` (changes), `Actor` (who acts for a
department), the status lists (`status_lists`) and the transparency log (`transparency`).
"""

from licence_registry.changes import (
    get_licence,
    reinstate_licence,
    revoke_licence,
    suspend_licence,
)
from licence_registry.errors import (
    IdempotencyKeyReused,
    LicenceNotFound,
    LicenceNotPermitted,
    LicenceStateConflict,
    RegistryError,
)
from licence_registry.events import Actor
from licence_registry.lifecycle import (
    Amendment,
    IssueRequest,
    LicenceContent,
    LicenceSealer,
    amend_licence,
    issue_licence,
)
from licence_registry.models import Licence, LicenceEvent, LicenceStatus

__all__ = [
    "Actor",
    "Amendment",
    "IdempotencyKeyReused",
    "IssueRequest",
    "Licence",
    "LicenceContent",
    "LicenceEvent",
    "LicenceNotFound",
    "LicenceNotPermitted",
    "LicenceSealer",
    "LicenceStateConflict",
    "LicenceStatus",
    "RegistryError",
    "amend_licence",
    "get_licence",
    "issue_licence",
    "reinstate_licence",
    "revoke_licence",
    "suspend_licence",
]
