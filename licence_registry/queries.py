"""Reading licences: a holder's own, a department's (searched and paged), one by
identifier for whoever may read it. Nothing here changes a licence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ca.models import Department
from licence_registry.changes import get_licence
from licence_registry.errors import LicenceNotFound, RegistryError
from licence_registry.events import Actor
from licence_registry.models import Licence, LicenceStatus

MAX_PAGE = 100
MAX_SEARCH = 100
# Stored statuses a department can filter on (expired is derived, see effective_status).
STORED_STATUSES = frozenset(
    {LicenceStatus.ACTIVE, LicenceStatus.SUSPENDED, LicenceStatus.REVOKED, LicenceStatus.SUPERSEDED}
)


@dataclass(frozen=True)
class Page:
    licences: Sequence[Licence]
    total: int
    offset: int
    limit: int


def holder_licences(session: Session, holder_subject: str) -> Sequence[Licence]:
    """Every licence version of the holder with this federation pseudonym, newest first."""
    return session.scalars(
        select(Licence)
        .where(Licence.holder_subject == holder_subject)
        .order_by(Licence.issued_at.desc(), Licence.id.desc())
    ).all()


def holder_licence(session: Session, holder_subject: str, identifier: str) -> Licence:
    """One of the holder's licences; another holder's reads as not found, so that
    probing identifiers reveals nothing."""
    try:
        licence = get_licence(session, identifier)
    except LicenceNotFound:
        licence = None
    if licence is None or licence.holder_subject != holder_subject:
        raise LicenceNotFound("you hold no licence with this identifier")
    return licence


def department_licence(session: Session, actor: Actor, identifier: str) -> Licence:
    """One licence of the actor's own department (others read as not found)."""
    licence = get_licence(session, identifier)
    department = session.get_one(Department, licence.department_id)
    if (department.region_code, department.code) != (actor.region, actor.department):
        raise LicenceNotFound(f"department {actor.department} issued no licence {identifier}")
    return licence


def department_licences(
    session: Session,
    department: Department,
    *,
    status: str | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> Page:
    """The department's licences, newest first; `search` matches the identifier or the
    holder's name (a substring), `status` one stored status."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise RegistryError(f"a page is 1 to {MAX_PAGE} licences from a non-negative offset")
    query = select(Licence).where(Licence.department_id == department.id)
    if status is not None:
        if status not in STORED_STATUSES:
            raise RegistryError(f"status must be one of {', '.join(sorted(STORED_STATUSES))}")
        query = query.where(Licence.status == status)
    if search:
        text = search.strip()
        if len(text) > MAX_SEARCH:
            raise RegistryError(f"a search is at most {MAX_SEARCH} characters")
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Licence.identifier.like(pattern, escape="\\"),
                Licence.holder_name.like(pattern, escape="\\"),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Licence.issued_at.desc(), Licence.id.desc()).offset(offset).limit(limit)
    ).all()
    return Page(rows, total, offset, limit)


def identifier_of(session: Session, licence_id: int | None) -> str | None:
    """The identifier of a linked version (supersedes / superseded by), if any."""
    if licence_id is None:
        return None
    return session.get_one(Licence, licence_id).identifier
