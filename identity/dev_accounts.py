"""DEV ONLY: demo accounts for every role in every region, with random passwords."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from ca.data_protection import DataProtector
from identity.accounts import create_citizen, create_legal_person, create_staff
from identity.errors import PasswordPolicyError
from identity.models import DEPARTMENT_ROLES, Role
from identity.passwords import check_password_policy
from verifier.identifiers import iso7064_mod11_2_check, make_uscc

DEV_DEPARTMENT = "amr"


def random_password() -> str:
    while True:
        password = secrets.token_urlsafe(18)
        try:
            check_password_policy(password)
        except PasswordPolicyError:
            continue
        return password


def dev_citizen_id(region: str, serial: int = 1) -> str:
    body = f"{region[:4]}02" + "19850315" + f"{serial:03d}"
    return body + iso7064_mod11_2_check(body)


def dev_uscc(region: str) -> str:
    return make_uscc("9", "1", f"{region[:4]}00", "MA1DEM01")


def create_dev_accounts(
    session: Session, protector: DataProtector, regions: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """Create the demo accounts; return them per region, passwords included, for
    var/dev-accounts.json."""
    listing: dict[str, list[dict[str, Any]]] = {}
    for region in regions:
        entries: list[dict[str, Any]] = []
        for role in Role:
            password = random_password()
            department = DEV_DEPARTMENT if role in DEPARTMENT_ROLES else None
            account = create_staff(
                session,
                region,
                f"{role.value}-{region}",
                f"演示{role.value} {region}",
                password,
                [role],
                department=department,
            )
            entries.append(
                {
                    "kind": account.kind,
                    "login": account.login_name,
                    "password": password,
                    "roles": [role.value],
                    "department": department,
                }
            )
        citizen_id, password = dev_citizen_id(region), random_password()
        create_citizen(session, protector, region, citizen_id, "演示公民", password)
        entries.append({"kind": "citizen", "login": citizen_id, "password": password})
        uscc, password = dev_uscc(region), random_password()
        create_legal_person(session, protector, region, uscc, "演示科技有限公司", password)
        entries.append({"kind": "legal-person", "login": uscc, "password": password})
        listing[region] = entries
    return listing
