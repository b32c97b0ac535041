"""A licence's lifecycle events: each recorded together with its transparency-log leaf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ca.models import Department
from licence_registry.errors import LicenceNotPermitted
from licence_registry.models import Licence, LicenceEvent
from licence_registry.transparency import append_leaf, licence_leaf

# Events recorded by the server's own command line, run by whoever holds its keys.
LOCAL_ACTOR = "cli"


@dataclass(frozen=True)
class Actor:
    """A staff member acting for one department (a clerk or signer of it)."""

    region: str
    department: str
    name: str

    def __str__(self) -> str:
        return f"{self.region}/{self.department}/{self.name}"


def check_actor(department: Department, actor: Actor | None) -> None:
    """Only the issuing department's own staff change its licences (None: the local CLI)."""
    if actor is None:
        return
    if (actor.region, actor.department) != (department.region_code, department.code):
        raise LicenceNotPermitted(
            f"only staff of department {department.code} of region {department.region_code} "
            "may change its licences"
        )


def record_event(
    session: Session,
    licence: Licence,
    event: str,
    at: datetime,
    *,
    reason: str | None = None,
    actor: Actor | None = None,
) -> None:
    """The event row and its leaf in the region's transparency log, in the caller's
    transaction; the leaf is the last write, so the per-region log lock is held shortest."""
    session.add(
        LicenceEvent(
            licence_id=licence.id,
            event=event,
            at=at,
            reason=reason,
            actor=str(actor) if actor else LOCAL_ACTOR,
        )
    )
    session.flush()
    department = session.get_one(Department, licence.department_id)
    index = licence.status_index if licence.status_index >= 0 else None
    leaf = licence_leaf(
        event, licence.identifier, licence.version, index, at, department.uscc, reason
    )
    append_leaf(session, licence.region_code, leaf, now=at)
