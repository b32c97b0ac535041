"""Status changes of a licence: suspend, reinstate, revoke. Each is one transaction with its
event, its transparency-log leaf and the status-list change count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.models import Department
from licence_registry.errors import LicenceNotFound, LicenceStateConflict, RegistryError
from licence_registry.events import Actor, check_actor, record_event
from licence_registry.models import Licence, LicenceStatus
from licence_registry.status_lists import record_status_change
from verifier.identifiers import parse_licence_identifier
from verifier.timeutil import utc_now

MAX_REASON = 500


def get_licence(session: Session, identifier: str, *, for_update: bool = False) -> Licence:
    parsed = str(parse_licence_identifier(identifier))
    query = select(Licence).where(Licence.identifier == parsed)
    if for_update:
        query = query.with_for_update()
    licence = session.scalars(query).first()
    if licence is None:
        raise LicenceNotFound(f"no licence {parsed}")
    return licence


def revoke_licence(
    session: Session,
    identifier: str,
    reason: str,
    *,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Licence:
    """Revoke for good (an active, suspended or expired licence): never reinstated."""
    now = now or utc_now()
    text = checked_reason(reason, "a revocation")
    licence = change_status(
        session,
        identifier,
        "revoked",
        LicenceStatus.REVOKED,
        {LicenceStatus.ACTIVE, LicenceStatus.SUSPENDED, LicenceStatus.EXPIRED},
        text,
        actor,
        now,
    )
    licence.revoked_at = now
    licence.revocation_reason = text
    return licence


def suspend_licence(
    session: Session,
    identifier: str,
    reason: str,
    *,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Licence:
    """Suspend an active licence until it is reinstated (or revoked)."""
    return change_status(
        session,
        identifier,
        "suspended",
        LicenceStatus.SUSPENDED,
        {LicenceStatus.ACTIVE},
        checked_reason(reason, "a suspension"),
        actor,
        now or utc_now(),
    )


def reinstate_licence(
    session: Session,
    identifier: str,
    reason: str | None = None,
    *,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Licence:
    """Make a suspended licence active again (never a revoked or superseded one)."""
    return change_status(
        session,
        identifier,
        "reinstated",
        LicenceStatus.ACTIVE,
        {LicenceStatus.SUSPENDED},
        checked_reason(reason, "a reinstatement") if reason else None,
        actor,
        now or utc_now(),
    )


def checked_reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON:
        raise RegistryError(f"{what} needs a reason of 1 to {MAX_REASON} characters")
    return text


def change_status(
    session: Session,
    identifier: str,
    event: str,
    status: LicenceStatus,
    allowed_from: set[LicenceStatus],
    reason: str | None,
    actor: Actor | None,
    now: datetime,
) -> Licence:
    """Move a licence (locked) to `status` if its status as of `now` is in `allowed_from`."""
    licence = get_licence(session, identifier, for_update=True)
    check_actor(session.get_one(Department, licence.department_id), actor)
    current = licence.effective_status(now.date())
    if current not in allowed_from:
        final = {
            LicenceStatus.REVOKED: " (revocation is final)",
            LicenceStatus.SUPERSEDED: " (an amended version replaced it)",
        }
        raise LicenceStateConflict(
            f"licence {licence.identifier} is {current}: it cannot be {event}"
            + final.get(current, "")
        )
    licence.status = status
    record_status_change(session, licence.region_code)
    record_event(session, licence, event, now, reason=reason, actor=actor)
    return licence
