"""Accounts of one region's identity provider: creation, password sign-in and throttling.

Citizen ID numbers are stored only as a keyed lookup hash plus an AES-GCM encrypted copy;
they never appear in a message, a log line or a federation subject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ca.data_protection import DataProtector, person_pseudonym
from ca.models import Authority, Department
from identity.durable import commit_aside
from identity.errors import IdentityError, SignInFailed, SignInThrottled
from identity.models import DEPARTMENT_ROLES, Account, AccountKind, Role
from identity.passwords import (
    burn_verification_time,
    hash_password,
    needs_rehash,
    rehash,
    verify_password,
)
from verifier.errors import InputError
from verifier.identifiers import HolderIdType, validate_citizen_id, validate_uscc
from verifier.timeutil import utc_now

ACCOUNT_ID_PURPOSE = "account-id"
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
MAX_DISPLAY_NAME = 100
# Starts with a letter, so a username can never be mistaken for an ID number.
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{2,63}")
SIGN_IN_FAILED = "sign-in failed: unknown account or wrong password"
SIGN_IN_THROTTLED = "too many failed sign-ins for this account; try again later"


def _require_region(session: Session, region: str) -> str:
    if session.get(Authority, region) is None or region == "root":
        raise IdentityError(f"unknown region {region!r}")
    return region


def _display_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_DISPLAY_NAME:
        raise IdentityError(f"display name must be 1 to {MAX_DISPLAY_NAME} characters")
    return name


def _id_hash(protector: DataProtector, id_type: HolderIdType, value: str) -> str:
    return protector.lookup_hash(ACCOUNT_ID_PURPOSE, f"{id_type}:{value}")


def _add(session: Session, account: Account, what: str) -> Account:
    taken = select(Account.id).where(Account.region_code == account.region_code)
    if account.id_hash is not None:
        taken = taken.where(Account.id_hash == account.id_hash)
    else:
        taken = taken.where(Account.login_name == account.login_name)
    if session.scalar(taken) is not None:
        raise IdentityError(f"region {account.region_code} already has an account for {what}")
    session.add(account)
    session.flush()
    return account


def create_citizen(
    session: Session,
    protector: DataProtector,
    region: str,
    citizen_id: str,
    display_name: str,
    password: str,
    *,
    now: datetime | None = None,
) -> Account:
    """A citizen account, found at sign-in by the keyed hash of the validated ID number."""
    value = validate_citizen_id(citizen_id)
    return _holder_account(
        session,
        protector,
        region,
        AccountKind.CITIZEN,
        HolderIdType.CITIZEN_ID,
        value,
        None,
        display_name,
        password,
        now,
        "this citizen ID",
    )


def create_legal_person(
    session: Session,
    protector: DataProtector,
    region: str,
    uscc: str,
    display_name: str,
    password: str,
    *,
    now: datetime | None = None,
) -> Account:
    """A legal person's account; it signs in with its unified social credit code."""
    value = validate_uscc(uscc)
    return _holder_account(
        session,
        protector,
        region,
        AccountKind.LEGAL_PERSON,
        HolderIdType.USCC,
        value,
        value,
        display_name,
        password,
        now,
        f"USCC {value}",
    )


def _holder_account(
    session: Session,
    protector: DataProtector,
    region: str,
    kind: AccountKind,
    id_type: HolderIdType,
    value: str,
    login_name: str | None,
    display_name: str,
    password: str,
    now: datetime | None,
    what: str,
) -> Account:
    account = Account(
        kind=kind,
        region_code=_require_region(session, region),
        login_name=login_name,
        id_hash=_id_hash(protector, id_type, value),
        id_encrypted=protector.encrypt(ACCOUNT_ID_PURPOSE, value),
        display_name=_display_name(display_name),
        password_hash=hash_password(password),
        roles="",
        created_at=now or utc_now(),
        failed_sign_ins=0,
    )
    return _add(session, account, what)


def parse_roles(roles: Iterable[str] | str) -> tuple[Role, ...]:
    """Roles from a list or a comma-separated string, checked against the allowed set."""
    items = roles.split(",") if isinstance(roles, str) else list(roles)
    parsed: list[Role] = []
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        try:
            role = Role(item)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise IdentityError(f"unknown role {item[:32]!r}; allowed: {allowed}") from None
        if role not in parsed:
            parsed.append(role)
    return tuple(parsed)


def create_staff(
    session: Session,
    region: str,
    username: str,
    display_name: str,
    password: str,
    roles: Iterable[str] | str,
    *,
    department: str | None = None,
    now: datetime | None = None,
) -> Account:
    """A staff account with at least one role; signer and clerk act for one department."""
    region = _require_region(session, region)
    username = username.strip().lower() if isinstance(username, str) else ""
    if not _USERNAME.fullmatch(username):
        raise IdentityError(
            "username must be 3 to 64 characters a-z, 0-9, '.', '_' or '-', starting with a letter"
        )
    parsed = parse_roles(roles)
    if not parsed:
        raise IdentityError("a staff account needs at least one role")
    department_row = None
    if department:
        department_row = session.scalar(
            select(Department).where(
                Department.region_code == region, Department.code == department.strip()
            )
        )
        if department_row is None:
            raise IdentityError(f"region {region} has no department {department.strip()[:32]!r}")
    needs_department = sorted(r.value for r in parsed if r in DEPARTMENT_ROLES)
    if needs_department and department_row is None:
        raise IdentityError(f"role {needs_department[0]} needs a department (--department)")
    account = Account(
        kind=AccountKind.STAFF,
        region_code=region,
        login_name=username,
        id_hash=None,
        id_encrypted=None,
        display_name=_display_name(display_name),
        password_hash=hash_password(password),
        roles=",".join(r.value for r in parsed),
        department_id=department_row.id if department_row else None,
        created_at=now or utc_now(),
        failed_sign_ins=0,
    )
    return _add(session, account, f"username {username!r}")


def find_account(
    session: Session, protector: DataProtector, region: str, login: str
) -> Account | None:
    """The account a login names: a staff username, a citizen ID number or a USCC."""
    if not isinstance(login, str):
        return None
    text = login.strip()
    if _USERNAME.fullmatch(text.lower()):
        return session.scalar(
            select(Account).where(
                Account.region_code == region,
                Account.kind == AccountKind.STAFF,
                Account.login_name == text.lower(),
            )
        )
    hashes = []
    for id_type, validate in (
        (HolderIdType.CITIZEN_ID, validate_citizen_id),
        (HolderIdType.USCC, validate_uscc),
    ):
        try:
            hashes.append(_id_hash(protector, id_type, validate(text)))
        except InputError:
            continue
    if not hashes:
        return None
    return session.scalar(
        select(Account).where(Account.region_code == region, Account.id_hash.in_(hashes))
    )


def authenticate(
    session: Session,
    protector: DataProtector,
    region: str,
    login: str,
    password: str,
    *,
    now: datetime | None = None,
) -> Account:
    """The account if login and password match, else SignInFailed (one message for every
    cause) or SignInThrottled after MAX_FAILURES failures within FAILURE_WINDOW.

    A failure is committed on its own connection, since the caller rolls back on the
    exception; call this before writing anything else in the same transaction.
    """
    now = now or utc_now()
    account = find_account(session, protector, region, login)
    if account is None:
        burn_verification_time(password)
        raise SignInFailed(SIGN_IN_FAILED)
    # Checked before hashing: a throttled account costs the server no argon2 work.
    if account.throttled_until is not None and now < account.throttled_until:
        raise SignInThrottled(SIGN_IN_THROTTLED)
    if not verify_password(account.password_hash, password) or account.disabled_at is not None:
        _record_failure(session, account, now)
        raise SignInFailed(SIGN_IN_FAILED)
    account.failed_sign_ins = 0
    account.failure_window_start = None
    account.throttled_until = None
    if needs_rehash(account.password_hash):
        account.password_hash = rehash(password)
    session.flush()
    return account


def _record_failure(session: Session, account: Account, now: datetime) -> None:
    start = account.failure_window_start
    if start is None or now - start >= FAILURE_WINDOW:
        start, count = now, 1
    else:
        count = account.failed_sign_ins + 1
    throttled_until = start + FAILURE_WINDOW if count >= MAX_FAILURES else None
    commit_aside(
        session,
        update(Account)
        .where(Account.id == account.id)
        .values(failed_sign_ins=count, failure_window_start=start, throttled_until=throttled_until),
    )
    # The caller's copy too, for code that keeps using this session before rolling back.
    session.expire(account)


def federation_subject(protector: DataProtector, account: Account) -> str:
    """A federation-wide pseudonym: the same person gets the same value in every region
    (the data-protection key is shared by the federation), and it reveals no ID number."""
    if account.kind == AccountKind.STAFF:
        # Staff have no national ID here: their identity is their region's account.
        return person_pseudonym(protector, "staff", f"{account.region_code}:{account.login_name}")
    if account.id_encrypted is None:
        raise IdentityError("account has no identifier")
    id_type = HolderIdType.CITIZEN_ID if account.kind == AccountKind.CITIZEN else HolderIdType.USCC
    return person_pseudonym(
        protector, id_type, protector.decrypt(ACCOUNT_ID_PURPOSE, account.id_encrypted)
    )


def disable_account(session: Session, account: Account, *, now: datetime | None = None) -> None:
    account.disabled_at = now or utc_now()
    session.flush()
