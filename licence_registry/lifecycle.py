"""Licence lifecycle: issue (with its sealed file) and revoke. The only place status changes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.counters import bump_counter
from ca.data_protection import DataProtector
from ca.models import Department
from ca.registry import find_department
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
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,100}")


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
    serial: int
    holder_name: str
    holder_id_type: HolderIdType
    # Kept in memory only to be stored protected; never rendered (the mask is).
    holder_id: str = field(repr=False)
    holder_id_masked: str
    valid_from: date
    valid_until: date | None
    # The compact credential printed as a QR code on the page (the registry's, when it
    # issues one).
    qr_payload: str | None = None


class LicenceSealer(Protocol):
    """Produces the sealed file of a licence (the seal service behind an interface)."""

    def __call__(self, session: Session, content: LicenceContent) -> bytes: ...


Transaction = Callable[[], AbstractContextManager[Session]]


def issue_licence(
    transaction: Transaction,
    request: IssueRequest,
    *,
    sealer: LicenceSealer,
    protector: DataProtector,
    now: datetime | None = None,
    idempotency_key: str | None = None,
) -> Licence:
    """Validate, number, seal and record a licence with its `issued` event.

    Three short transactions, so that sealing (the slow part: render, sign, timestamp) holds
    no lock: the serial is taken and committed first (a crash later leaves a gap, never a
    duplicate); the record and its event are written together at the end. With an
    `idempotency_key` already used, the licence recorded under it is returned instead.
    """
    now = now or utc_now()
    key = _checked_key(idempotency_key)
    with transaction() as session:
        if key is not None and (existing := _by_key(session, key)) is not None:
            return existing
        content = _content(session, request, now)
    with transaction() as session:
        pdf = sealer(session, content)
    try:
        with transaction() as session:
            licence = _record(session, content, pdf, protector, now, key)
    except IntegrityError:
        with transaction() as session:
            existing = _by_key(session, key) if key is not None else None
        if existing is None:
            raise
        return existing  # the same request, finished by a concurrent run
    return licence


def _checked_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise RegistryError("an idempotency key is 1 to 100 characters of A-Z a-z 0-9 . _ : -")
    return key


def _by_key(session: Session, key: str) -> Licence | None:
    return session.scalars(select(Licence).where(Licence.idempotency_key == key)).first()


def _content(session: Session, request: IssueRequest, now: datetime) -> LicenceContent:
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
    valid_from = now.date()
    valid_until = (
        valid_from.replace(year=valid_from.year + kind.validity_years)
        if kind.validity_years
        else None
    )
    return LicenceContent(
        identifier=str(LicenceIdentifier.build(kind.type_code, department.uscc, serial, 1)),
        licence_type=kind,
        department=department,
        serial=serial,
        holder_name=holder_name,
        holder_id_type=id_type,
        holder_id=holder_id,
        holder_id_masked=mask_holder_id(id_type, holder_id),
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _record(
    session: Session,
    content: LicenceContent,
    pdf: bytes,
    protector: DataProtector,
    now: datetime,
    key: str | None,
) -> Licence:
    id_type, holder_id = content.holder_id_type, content.holder_id
    licence = Licence(
        identifier=content.identifier,
        type_name=content.licence_type.name,
        department_id=content.department.id,
        serial=content.serial,
        version=1,
        holder_name=content.holder_name,
        holder_id_type=str(id_type),
        holder_id_hash=protector.lookup_hash(HOLDER_ID_PURPOSE, f"{id_type}:{holder_id}"),
        holder_id_encrypted=protector.encrypt(HOLDER_ID_PURPOSE, holder_id),
        holder_id_masked=content.holder_id_masked,
        status=LicenceStatus.ACTIVE,
        issued_at=now,
        valid_from=content.valid_from,
        valid_until=content.valid_until,
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        idempotency_key=key,
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
