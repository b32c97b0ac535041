"""Licences made: issue and amend, each producing a sealed file. Status changes of an
existing licence are in `changes`; together the only place a licence changes."""

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
from ca.data_protection import DataProtector, person_pseudonym
from ca.models import Department
from ca.registry import find_department
from licence_registry.catalogue import LicenceType, licence_type
from licence_registry.changes import checked_reason, get_licence
from licence_registry.errors import IdempotencyKeyReused, LicenceStateConflict, RegistryError
from licence_registry.events import Actor, check_actor, record_event
from licence_registry.models import Licence, LicenceStatus
from licence_registry.status_lists import (
    StatusSigner,
    allocate_index,
    record_status_change,
)
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
MAX_VERSION = 999  # three digits in the identifier
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
class Amendment:
    """What an amendment changes (the holder's name, e.g. a company renamed) and why."""

    holder_name: str
    reason: str


@dataclass(frozen=True)
class LicenceContent:
    """What a licence says: handed to the sealer, which renders and seals it."""

    identifier: str
    licence_type: LicenceType
    department: Department
    serial: int
    version: int
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
    actor: Actor | None = None,
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

    def prepare(session: Session) -> LicenceContent:
        return _content(session, request, protector, actor, now)

    def record(session: Session, content: LicenceContent, pdf: bytes, key: str | None) -> Licence:
        licence = _record(session, content, pdf, protector, now, key)
        record_event(session, licence, "issued", now, actor=actor)
        return licence

    def replay(session: Session) -> _Replay:
        kind = licence_type(request.licence_type, request.region)
        id_type = request.holder_id_type or kind.holder_id_types[0]
        holder_id = validate_holder_id(id_type, request.holder_id)
        department = find_department(session, request.region, request.department)
        check_actor(department, actor)
        holder = protector.lookup_hash(HOLDER_ID_PURPOSE, f"{id_type}:{holder_id}")
        name = _holder_name(request.holder_name)
        return _Replay(
            department.id,
            lambda found: (
                (found.version, found.type_name, found.holder_name, found.holder_id_hash)
                == (1, kind.name, name, holder)
            ),
        )

    return _produce(
        transaction, prepare, record, replay, sealer, status_signers, now, idempotency_key
    )


def amend_licence(
    transaction: Transaction,
    identifier: str,
    amendment: Amendment,
    *,
    sealer: LicenceSealer,
    protector: DataProtector,
    status_signers: Callable[[str], StatusSigner],
    actor: Actor | None = None,
    now: datetime | None = None,
    idempotency_key: str | None = None,
) -> Licence:
    """Issue the next version of an active licence with the amended details, sealed anew
    with a new status-list index; the old version then reads as superseded (value 3 in the
    status list), for good. Holder, type and validity period stay those of the licence."""
    now = now or utc_now()
    reason = checked_reason(amendment.reason, "an amendment")

    def prepare(session: Session) -> LicenceContent:
        old = get_licence(session, identifier)
        _amendable(session, old, actor, now)
        return _amended_content(session, old, amendment, protector)

    def record(session: Session, content: LicenceContent, pdf: bytes, key: str | None) -> Licence:
        # Locked and checked again: a change since `prepare` (a revocation, a concurrent
        # amendment) wins, and this sealed version is thrown away.
        old = get_licence(session, identifier, for_update=True)
        _amendable(session, old, actor, now)
        licence = _record(session, content, pdf, protector, now, key)
        licence.supersedes_id = old.id
        old.superseded_by_id = licence.id
        old.status = LicenceStatus.SUPERSEDED
        record_status_change(session, old.region_code)
        record_event(session, old, "superseded", now, reason=reason, actor=actor)
        record_event(session, licence, "amended", now, reason=reason, actor=actor)
        return licence

    def replay(session: Session) -> _Replay:
        old = get_licence(session, identifier)
        check_actor(session.get_one(Department, old.department_id), actor)
        name = _holder_name(amendment.holder_name)
        return _Replay(
            old.department_id,
            lambda found: (found.supersedes_id, found.holder_name) == (old.id, name),
        )

    return _produce(
        transaction, prepare, record, replay, sealer, status_signers, now, idempotency_key
    )


@dataclass(frozen=True)
class _Replay:
    """Where a request's idempotency key is looked up (its department's licences), and
    whether the licence found under it answers the same request."""

    department_id: int
    same_request: Callable[[Licence], bool]


def _produce(
    transaction: Transaction,
    prepare: Callable[[Session], LicenceContent],
    record: Callable[[Session, LicenceContent, bytes, str | None], Licence],
    replay: Callable[[Session], _Replay],
    sealer: LicenceSealer,
    status_signers: Callable[[str], StatusSigner],
    now: datetime,
    idempotency_key: str | None,
) -> Licence:
    """The three transactions of making a licence version (see `issue_licence`)."""
    key = _checked_key(idempotency_key)
    with transaction() as session:
        if key is not None and (existing := _replayed(session, replay(session), key)):
            return existing
        content = prepare(session)
    content = _with_credential(content, status_signers(content.department.region_code), now)
    with transaction() as session:
        pdf = sealer(session, content)
    try:
        with transaction() as session:
            return record(session, content, pdf, key)
    except IntegrityError:
        with transaction() as session:
            existing = _replayed(session, replay(session), key) if key is not None else None
        if existing is None:
            raise
        return existing  # the same request, finished by a concurrent run


def _amendable(session: Session, licence: Licence, actor: Actor | None, now: datetime) -> None:
    check_actor(session.get_one(Department, licence.department_id), actor)
    status = licence.effective_status(now.date())
    if status is not LicenceStatus.ACTIVE:
        raise LicenceStateConflict(
            f"licence {licence.identifier} is {status}: only an active licence is amended"
        )


def _amended_content(
    session: Session, old: Licence, amendment: Amendment, protector: DataProtector
) -> LicenceContent:
    kind = licence_type(old.type_name)
    department = session.get_one(Department, old.department_id)
    id_type = HolderIdType(old.holder_id_type)
    holder_id = protector.decrypt(HOLDER_ID_PURPOSE, old.holder_id_encrypted)
    parsed = parse_licence_identifier(old.identifier)
    if parsed.version >= MAX_VERSION:
        raise LicenceStateConflict(f"licence {old.identifier} has reached version {MAX_VERSION}")
    return LicenceContent(
        identifier=str(
            LicenceIdentifier.build(kind.type_code, department.uscc, old.serial, parsed.version + 1)
        ),
        licence_type=kind,
        department=department,
        serial=old.serial,
        version=parsed.version + 1,
        status_index=allocate_index(session, protector, department.region_code),
        holder_name=_holder_name(amendment.holder_name),
        holder_id_type=id_type,
        holder_id=holder_id,
        holder_id_masked=old.holder_id_masked,
        valid_from=old.valid_from,
        valid_until=old.valid_until,
    )


def _checked_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise RegistryError("an idempotency key is 1 to 100 characters of A-Z a-z 0-9 . _ : -")
    return key


def _replayed(session: Session, replay: _Replay, key: str) -> Licence | None:
    """The department's licence recorded under `key`, if the same request made it; a key
    reused for another request is refused (the first answer is never handed to another)."""
    found = session.scalars(
        select(Licence).where(
            Licence.department_id == replay.department_id, Licence.idempotency_key == key
        )
    ).first()
    if found is not None and not replay.same_request(found):
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was already used by this department for another request"
        )
    return found


def _holder_name(name: str) -> str:
    holder_name = name.strip()
    if not holder_name or len(holder_name) > MAX_HOLDER_NAME:
        raise RegistryError(f"holder name must be 1 to {MAX_HOLDER_NAME} characters")
    return holder_name


def _content(
    session: Session,
    request: IssueRequest,
    protector: DataProtector,
    actor: Actor | None,
    now: datetime,
) -> LicenceContent:
    kind = licence_type(request.licence_type, request.region)
    holder_name = _holder_name(request.holder_name)
    id_type = request.holder_id_type or kind.holder_id_types[0]
    if id_type not in kind.holder_id_types:
        raise RegistryError(f"a {kind.name} cannot be issued to a holder ID of type {id_type}")
    holder_id = validate_holder_id(id_type, request.holder_id)
    department = find_department(session, request.region, request.department)
    check_actor(department, actor)
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
        version=1,
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
        version=content.version,
        holder_name=content.holder_name,
        holder_id_type=str(id_type),
        holder_id_hash=protector.lookup_hash(HOLDER_ID_PURPOSE, f"{id_type}:{holder_id}"),
        holder_id_encrypted=protector.encrypt(HOLDER_ID_PURPOSE, holder_id),
        holder_id_masked=content.holder_id_masked,
        holder_subject=person_pseudonym(protector, id_type, holder_id),
        status=LicenceStatus.ACTIVE,
        issued_at=now,
        valid_from=content.valid_from,
        valid_until=content.valid_until,
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        credential=content.qr_payload,
        idempotency_key=key,
        region_code=content.department.region_code,
        status_index=content.status_index,
    )
    session.add(licence)
    session.flush()
    return licence


def _next_serial(session: Session, department: Department) -> int:
    return bump_counter(session, f"licence-serial:{department.id}")
