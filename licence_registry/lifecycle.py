"""Licence lifecycle: issue (with its sealed file) and revoke. The only place status changes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.counters import bump_counter
from ca.data_protection import DataProtector
from ca.models import Department
from licence_registry.catalogue import LicenceType, licence_type
from licence_registry.errors import LicenceNotFound, RegistryError
from licence_registry.models import Licence, LicenceEvent, LicenceStatus
from verifier.identifiers import (
    HolderIdType,
    LicenceIdentifier,
    mask_holder_id,
    parse_licence_identifier,
    validate_holder_id,
)
from verifier.timeutil import utc_now

HOLDER_ID_PURPOSE = "holder-id"
MAX_HOLDER_NAME = 100
MAX_REASON = 500


@dataclass(frozen=True)
class IssueRequest:
    region: str
    department: str
    licence_type: str
    holder_name: str
    holder_id: str
    holder_id_type: HolderIdType | None = None


@dataclass(frozen=True)
class LicenceContent:
    """What a licence says: handed to the sealer, which renders and seals it."""

    identifier: str
    licence_type: LicenceType
    department: Department
    holder_name: str
    holder_id_type: HolderIdType
    holder_id_masked: str
    valid_from: date
    valid_until: date | None


class LicenceSealer(Protocol):
    """Produces the sealed file of a licence (the seal service behind an interface)."""

    def __call__(self, session: Session, content: LicenceContent) -> bytes: ...


def find_department(session: Session, region: str, code: str) -> Department:
    department = session.scalars(
        select(Department).where(Department.region_code == region, Department.code == code)
    ).first()
    if department is None:
        raise RegistryError(f"no department {code!r} in region {region!r}")
    return department


def issue_licence(
    session: Session,
    request: IssueRequest,
    *,
    sealer: LicenceSealer,
    protector: DataProtector,
    now: datetime | None = None,
) -> Licence:
    """Validate, number, seal and record a licence with its `issued` event, in `session`."""
    now = now or utc_now()
    kind = licence_type(request.licence_type)
    holder_name = request.holder_name.strip()
    if not holder_name or len(holder_name) > MAX_HOLDER_NAME:
        raise RegistryError(f"holder name must be 1 to {MAX_HOLDER_NAME} characters")
    id_type = request.holder_id_type or kind.holder_id_types[0]
    if id_type not in kind.holder_id_types:
        raise RegistryError(f"a {kind.name} cannot be issued to a holder ID of type {id_type}")
    holder_id = validate_holder_id(id_type, request.holder_id)
    department = find_department(session, request.region, request.department)
    if department.code != kind.department:
        raise RegistryError(
            f"a {kind.name} is issued by department {kind.department!r}, not {department.code!r}"
        )
    serial = _next_serial(session, department)
    identifier = LicenceIdentifier.build(kind.type_code, department.uscc, serial, 1)
    valid_from = now.date()
    valid_until = (
        valid_from.replace(year=valid_from.year + kind.validity_years)
        if kind.validity_years
        else None
    )
    content = LicenceContent(
        identifier=str(identifier),
        licence_type=kind,
        department=department,
        holder_name=holder_name,
        holder_id_type=id_type,
        holder_id_masked=mask_holder_id(id_type, holder_id),
        valid_from=valid_from,
        valid_until=valid_until,
    )
    pdf = sealer(session, content)
    licence = Licence(
        identifier=content.identifier,
        type_name=kind.name,
        department_id=department.id,
        serial=serial,
        version=1,
        holder_name=holder_name,
        holder_id_type=str(id_type),
        holder_id_hash=protector.lookup_hash(HOLDER_ID_PURPOSE, f"{id_type}:{holder_id}"),
        holder_id_encrypted=protector.encrypt(HOLDER_ID_PURPOSE, holder_id),
        holder_id_masked=content.holder_id_masked,
        status=LicenceStatus.ACTIVE,
        issued_at=now,
        valid_from=valid_from,
        valid_until=valid_until,
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
    )
    session.add(licence)
    session.flush()
    session.add(LicenceEvent(licence_id=licence.id, event="issued", at=now))
    session.flush()
    return licence


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
    session: Session, identifier: str, reason: str, *, now: datetime | None = None
) -> Licence:
    """Revoke for good: a revoked licence is never reinstated."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise RegistryError(f"a revocation needs a reason of 1 to {MAX_REASON} characters")
    licence = get_licence(session, identifier, for_update=True)
    if licence.status == LicenceStatus.REVOKED:
        raise RegistryError(f"licence {licence.identifier} is already revoked")
    now = now or utc_now()
    licence.status = LicenceStatus.REVOKED
    licence.revoked_at = now
    licence.revocation_reason = reason
    session.add(LicenceEvent(licence_id=licence.id, event="revoked", at=now, reason=reason))
    session.flush()
    return licence


def _next_serial(session: Session, department: Department) -> int:
    return bump_counter(session, f"licence-serial:{department.id}")
