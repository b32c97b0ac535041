"""A seal's life: made by its region's CA for one department, suspended, reinstated, retired.

A department has at most one active seal. Retiring is final: the seal's certificate is
revoked (cessationOfOperation), so relying parties learn of it from OCSP and the CRL. Every
status change is kept in `seal_status_change`, and `usable_seal` is the one check sealing
makes before each use.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.authority import get_authority, issue_with_new_key
from ca.keys import KeyStore
from ca.models import Department
from ca.profiles import REGION_CA, SEAL, Issuer, subject_name
from ca.revocation import revoke_certificate
from seal_service.errors import SealError
from seal_service.models import Seal, SealStatus, SealStatusChange
from seal_service.seal_image import render_seal_image, validate_seal_image
from verifier.errors import NotFoundError
from verifier.timeutil import format_time, utc_now

if TYPE_CHECKING:
    from ca.ocsp import OcspResponder

# X.509 ub-common-name: the seal's name is its certificate's common name.
MAX_SEAL_NAME_CHARS = 64
MAX_REASON_CHARS = 1000
_VERBS = {
    SealStatus.SUSPENDED: "suspended",
    SealStatus.ACTIVE: "reinstated",
    SealStatus.RETIRED: "retired",
}


class SealNotFound(SealError, NotFoundError):
    """No seal (or department) by that name or number."""


def find_seal(session: Session, seal_id: int) -> Seal:
    seal = session.get(Seal, seal_id)
    if seal is None:
        raise SealNotFound(f"no seal {seal_id}")
    return seal


def list_seals(
    session: Session, *, region: str | None = None, department: str | None = None
) -> list[tuple[Seal, Department]]:
    """Seals with their departments, by region, department code and seal number."""
    query = select(Seal, Department).join(Department, Seal.department_id == Department.id)
    if region is not None:
        query = query.where(Department.region_code == region)
    if department is not None:
        query = query.where(Department.code == department)
    query = query.order_by(Department.region_code, Department.code, Seal.id)
    return [(seal, dept) for seal, dept in session.execute(query).unique().tuples()]


def seal_history(session: Session, seal_id: int) -> list[SealStatusChange]:
    """The seal's status changes, oldest first (the first one is its making)."""
    return list(
        session.scalars(
            select(SealStatusChange)
            .where(SealStatusChange.seal_id == seal_id)
            .order_by(SealStatusChange.at, SealStatusChange.id)
        )
    )


def make_seal(
    session: Session,
    key_store: KeyStore,
    issuer: Issuer,
    department: Department,
    *,
    image_png: bytes | None = None,
    name: str | None = None,
    replace: bool = False,
    replace_reason: str | None = None,
    actor: str | None = None,
    responder: OcspResponder | None = None,
) -> Seal:
    """Make a key in `key_store`, have the department's region CA (`issuer`) certify it under
    the seal profile, and record the seal as the department's active one.

    `image_png` is an uploaded stamp (validated and normalised); without it one is drawn from
    the department's name. A department with an active seal gets a second one only with
    `replace`, which retires the old seal (revoking its certificate, `replace_reason` in its
    history) in this transaction; `responder` as for `retire_seal`.
    """
    authority = get_authority(session, department.region_code)
    if issuer.profile is not REGION_CA or issuer.certificate != authority.certificate:
        raise SealError(
            f"seals of {department.region_code}/{department.code} are certified by region CA "
            f"{department.region_code}, not by this issuer"
        )
    seal_name = _checked_name(name if name is not None else f"{department.name}电子印章")
    image = (
        validate_seal_image(image_png)
        if image_png is not None
        else render_seal_image(department.name)
    )
    replace_reason = _checked_reason(replace_reason)
    # Makers of seals for the same department queue here (a no-op on SQLite, whose writers
    # are serialised anyway), so the check for an active seal below stays true until commit.
    session.execute(select(Department.id).where(Department.id == department.id).with_for_update())
    previous = _active_seal(session, department)
    if previous is not None and not replace:
        raise SealError(
            f"department {department.region_code}/{department.code} already has active seal "
            f"{previous.id}; replace it (retiring it) or retire it first"
        )
    key_name = (
        f"{department.region_code}/{department.code}/"
        f"seal-{utc_now():%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
    )
    subject = subject_name(
        seal_name,
        organization=department.name,
        organization_identifier=department.uscc,
        province=authority.name,
    )
    certificate = issue_with_new_key(
        session, key_store, key_name, department.region_code, issuer, SEAL, subject
    )
    if previous is not None:
        _retire(session, previous, replace_reason or "replaced by a new seal", actor, responder)
    seal = Seal(
        department_id=department.id,
        name=seal_name,
        certificate_id=certificate.id,
        key_ref=certificate.key_ref,
        status=SealStatus.ACTIVE,
        image_png=image,
        created_at=utc_now(),
    )
    session.add(seal)
    try:
        session.flush()
    except IntegrityError:
        raise SealError(
            f"department {department.region_code}/{department.code} got another active seal "
            "concurrently; nothing was made"
        ) from None
    made = f"made; replaces seal {previous.id}" if previous is not None else "made"
    _record(session, seal, SealStatus.ACTIVE, made, actor)
    return seal


def suspend_seal(session: Session, seal: Seal, reason: str, *, actor: str | None = None) -> Seal:
    """Stop a seal from sealing until it is reinstated."""
    _transition(session, seal, SealStatus.ACTIVE, SealStatus.SUSPENDED)
    _record(session, seal, SealStatus.SUSPENDED, _required_reason(reason), actor)
    return seal


def reinstate_seal(
    session: Session, seal: Seal, reason: str | None = None, *, actor: str | None = None
) -> Seal:
    """Make a suspended seal active again, unless its department has another active seal."""
    if seal.status != SealStatus.SUSPENDED:
        _refuse(seal, "only suspended seals can be reinstated")
    department = session.get_one(Department, seal.department_id)
    session.execute(select(Department.id).where(Department.id == department.id).with_for_update())
    other = _active_seal(session, department)
    if other is not None:
        raise SealError(
            f"seal {seal.id} cannot be reinstated: department {department.region_code}/"
            f"{department.code} has active seal {other.id}; retire that one first"
        )
    problem = seal_problem(seal, ignore_status=True)
    if problem is not None:
        raise SealError(f"seal {seal.id} cannot be reinstated: {problem}; retire it")
    _transition(session, seal, SealStatus.SUSPENDED, SealStatus.ACTIVE)
    _record(session, seal, SealStatus.ACTIVE, _checked_reason(reason) or "reinstated", actor)
    return seal


def retire_seal(
    session: Session,
    seal: Seal,
    reason: str,
    *,
    actor: str | None = None,
    responder: OcspResponder | None = None,
) -> Seal:
    """Retire a seal for good and revoke its certificate (cessationOfOperation). With
    `responder` (the region CA's), OCSP answers `revoked` as soon as this commits."""
    _retire(session, seal, _required_reason(reason), actor, responder)
    return seal


def usable_seal(session: Session, department: Department, *, at: datetime | None = None) -> Seal:
    """The department's active seal, if it may seal at `at` (default now); else SealError."""
    seal = _active_seal(session, department)
    if seal is None:
        suspended = session.scalars(
            select(Seal.id).where(
                Seal.department_id == department.id, Seal.status == SealStatus.SUSPENDED
            )
        ).first()
        note = f" (seal {suspended} is suspended)" if suspended is not None else ""
        raise SealError(
            f"department {department.region_code}/{department.code} has no active seal{note}"
        )
    check_seal(seal, at=at)
    return seal


def check_seal(seal: Seal, *, at: datetime | None = None, ignore_status: bool = False) -> None:
    """Raise SealError unless `seal` may seal at `at`: active, certificate unrevoked and
    within its validity. `ignore_status` checks the certificate alone."""
    problem = seal_problem(seal, at=at, ignore_status=ignore_status)
    if problem is not None:
        raise SealError(f"seal {seal.id} cannot be used: {problem}")


def seal_problem(
    seal: Seal, *, at: datetime | None = None, ignore_status: bool = False
) -> str | None:
    """Why `seal` may not seal at `at`, or None when it may."""
    at = at or utc_now()
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    if not ignore_status and seal.status != SealStatus.ACTIVE:
        return f"it is {seal.status}"
    certificate = seal.certificate
    if certificate.revoked_at is not None:
        return (
            f"its certificate {certificate.serial} was revoked at "
            f"{format_time(certificate.revoked_at)} ({certificate.revocation_reason})"
        )
    if at < certificate.not_before:
        return (
            f"its certificate {certificate.serial} is not valid before "
            f"{format_time(certificate.not_before)}"
        )
    if at > certificate.not_after:
        return (
            f"its certificate {certificate.serial} expired at {format_time(certificate.not_after)}"
        )
    return None


def _active_seal(session: Session, department: Department) -> Seal | None:
    return session.scalars(
        select(Seal).where(Seal.department_id == department.id, Seal.status == SealStatus.ACTIVE)
    ).first()


def _retire(
    session: Session,
    seal: Seal,
    reason: str,
    actor: str | None,
    responder: OcspResponder | None,
) -> None:
    if seal.status == SealStatus.RETIRED:
        _refuse(seal, "it cannot be retired again")
    _transition(session, seal, SealStatus(seal.status), SealStatus.RETIRED)
    certificate = seal.certificate
    # Revoked already (say for keyCompromise through `govtrust ca revoke`): that reason stands.
    if certificate.revoked_at is None:
        revoke_certificate(
            session,
            certificate.issuer_code,
            certificate.serial,
            x509.ReasonFlags.cessation_of_operation,
            responder=responder,
        )
    _record(session, seal, SealStatus.RETIRED, reason, actor)


def _transition(session: Session, seal: Seal, old: SealStatus, new: SealStatus) -> None:
    if seal.status != old:
        _refuse(seal, f"only {old} seals can be {_VERBS[new]}")
    # Conditional update: of two concurrent changes from the same status exactly one wins.
    changed = session.execute(
        update(Seal)
        .where(Seal.id == seal.id, Seal.status == old)
        .values(status=new)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise SealError(f"seal {seal.id} changed status concurrently; try again")
    session.refresh(seal)


def _record(
    session: Session, seal: Seal, status: SealStatus, reason: str | None, actor: str | None
) -> None:
    session.add(
        SealStatusChange(seal_id=seal.id, status=status, at=utc_now(), reason=reason, actor=actor)
    )
    session.flush()


def _refuse(seal: Seal, rule: str) -> NoReturn:
    final = " (retiring is final)" if seal.status == SealStatus.RETIRED else ""
    raise SealError(f"seal {seal.id} is {seal.status}{final}: {rule}")


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise SealError("the seal name is empty")
    if len(name) > MAX_SEAL_NAME_CHARS:
        raise SealError(f"the seal name has {len(name)} characters; at most {MAX_SEAL_NAME_CHARS}")
    if not name.isprintable():
        raise SealError("the seal name contains control characters")
    return name


def _checked_reason(reason: str | None) -> str | None:
    if reason is None or not reason.strip():
        return None
    reason = reason.strip()
    if len(reason) > MAX_REASON_CHARS:
        raise SealError(f"the reason has {len(reason)} characters; at most {MAX_REASON_CHARS}")
    if not reason.isprintable():
        raise SealError("the reason contains control characters (one line, please)")
    return reason


def _required_reason(reason: str) -> str:
    checked = _checked_reason(reason)
    if checked is None:
        raise SealError("a reason is required")
    return checked
