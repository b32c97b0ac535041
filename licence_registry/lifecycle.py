"""Licence lifecycle: issue (with its sealed file) and revoke. The only place status changes."""

from __future__ import annotations

import dataclasses
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
from licence_registry.status_lists import (
    StatusSigner,
    allocate_index,
    record_status_change,
)
from licence_registry.transparency import append_leaf, licence_leaf
from verifier.credential import LicenceClaims, content_digest, sign_credential
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
    status_index: int
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
    status_signers: Callable[[str], StatusSigner],
    now: datetime | None = None,
    idempotency_key: str | None = None,
) -> Licence:
    """Validate, number, seal and record a licence with its `issued` event and log leaf.

    Three short transactions, so that sealing (the slow part: render, sign, timestamp) holds
    no lock: the serial and status-list index are taken and committed first (a crash later
    leaves a gap, never a duplicate); the QR credential is signed and the PDF sealed; the
    record, its event and its transparency-log leaf are written together at the end, so a
    licence exists with its leaf or not at all. With an `idempotency_key` already used, the
    licence recorded under it is returned instead.
    """
    now = now or utc_now()
    key = _checked_key(idempotency_key)
    with transaction() as session:
        if key is not None and (existing := _by_key(session, key)) is not None:
            return existing
        content = _content(session, request, protector, now)
    content = _with_credential(content, status_signers(content.department.region_code), now)
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


def _content(
    session: Session, request: IssueRequest, protector: DataProtector, now: datetime
) -> LicenceContent:
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
    status_index = allocate_index(session, protector, department.region_code)
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
        status_index=status_index,
        holder_name=holder_name,
        holder_id_type=id_type,
        holder_id=holder_id,
        holder_id_masked=mask_holder_id(id_type, holder_id),
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _with_credential(
    content: LicenceContent, signer: StatusSigner, now: datetime
) -> LicenceContent:
    """The content with its QR credential, signed by the region's status issuer."""
    department = content.department
    claims = LicenceClaims(
        identifier=content.identifier,
        licence_type=content.licence_type.name,
        holder_name=content.holder_name,
        holder_id_masked=content.holder_id_masked,
        department=department.name,
        department_uscc=department.uscc,
        valid_from=content.valid_from,
        valid_until=content.valid_until,
        region=department.region_code,
        status_index=content.status_index,
        content_digest="",
    )
    claims = dataclasses.replace(claims, content_digest=content_digest(claims.content()))
    token = sign_credential(claims, signer.private_key, signer.certificate, issued_at=now)
    return dataclasses.replace(content, qr_payload=token)


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
        region_code=content.department.region_code,
        status_index=content.status_index,
    )
    session.add(licence)
    session.flush()
    session.add(LicenceEvent(licence_id=licence.id, event="issued", at=now))
    session.flush()
    _log(session, licence, "issued", now, None)
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
    """Revoke for good (an active or suspended licence): it is never reinstated."""
    licence = _change_status(
        session,
        identifier,
        "revoked",
        LicenceStatus.REVOKED,
        {LicenceStatus.ACTIVE, LicenceStatus.SUSPENDED},
        _reason(reason, "a revocation"),
        now,
    )
    licence.revoked_at = now or utc_now()
    licence.revocation_reason = reason.strip()
    return licence


def suspend_licence(
    session: Session, identifier: str, reason: str, *, now: datetime | None = None
) -> Licence:
    """Suspend an active licence until it is reinstated (or revoked)."""
    return _change_status(
        session,
        identifier,
        "suspended",
        LicenceStatus.SUSPENDED,
        {LicenceStatus.ACTIVE},
        _reason(reason, "a suspension"),
        now,
    )


def reinstate_licence(
    session: Session, identifier: str, reason: str | None = None, *, now: datetime | None = None
) -> Licence:
    """Make a suspended licence active again (never a revoked one)."""
    return _change_status(
        session,
        identifier,
        "reinstated",
        LicenceStatus.ACTIVE,
        {LicenceStatus.SUSPENDED},
        _reason(reason, "a reinstatement") if reason else None,
        now,
    )


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON:
        raise RegistryError(f"{what} needs a reason of 1 to {MAX_REASON} characters")
    return text


def _change_status(
    session: Session,
    identifier: str,
    event: str,
    status: LicenceStatus,
    allowed_from: set[LicenceStatus],
    reason: str | None,
    now: datetime | None,
) -> Licence:
    licence = get_licence(session, identifier, for_update=True)
    current = LicenceStatus(licence.status)
    if current not in allowed_from:
        raise RegistryError(
            f"licence {licence.identifier} is {current}: it cannot be {event}"
            + (" (revocation is final)" if current is LicenceStatus.REVOKED else "")
        )
    now = now or utc_now()
    licence.status = status
    record_status_change(session, licence.region_code)
    session.add(LicenceEvent(licence_id=licence.id, event=event, at=now, reason=reason))
    session.flush()
    _log(session, licence, event, now, reason)
    return licence


def _log(session: Session, licence: Licence, event: str, at: datetime, reason: str | None) -> None:
    """The event's leaf in the region's transparency log, in the same transaction and as
    its last write: the per-region log lock is held for the shortest time, always last."""
    department = session.get_one(Department, licence.department_id)
    index = licence.status_index if licence.status_index >= 0 else None
    leaf = licence_leaf(
        event, licence.identifier, licence.version, index, at, department.uscc, reason
    )
    append_leaf(session, licence.region_code, leaf, now=at)


def _next_serial(session: Session, department: Department) -> int:
    return bump_counter(session, f"licence-serial:{department.id}")
