"""Accounts with passwords, and browsers signing in through the pages, for the web tests."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from fastapi.testclient import TestClient
from httpx import Response

from identity.accounts import create_citizen, create_legal_person, create_staff
from identity.dev_accounts import random_password
from tests.conftest import Federation
from verifier.identifiers import USCC_ALPHABET, iso7064_mod11_2_check, make_uscc

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Account:
    region: str
    username: str
    password: str
    holder_id: str | None = None


def new_uscc(region: str = "330000") -> str:
    serial = "".join(secrets.choice(USCC_ALPHABET[:10]) for _ in range(8))
    return make_uscc("9", "1", f"{region[:4]}00", serial)


def new_citizen_id(region: str = "440000") -> str:
    body = f"{region[:4]}02" + "19900101" + f"{secrets.randbelow(1000):03d}"
    return body + iso7064_mod11_2_check(body)


def legal_person(federation: Federation, region: str = "440000") -> Account:
    """A company's account at `region`'s identity provider; its USCC signs it in."""
    uscc, password = new_uscc(), random_password()
    runtime = federation.runtime
    with runtime.database.transaction() as session:
        create_legal_person(session, runtime.data_protector, region, uscc, "网页测试公司", password)
    return Account(region, uscc, password, uscc)


def citizen(federation: Federation, region: str = "440000") -> Account:
    citizen_id, password = new_citizen_id(region), random_password()
    runtime = federation.runtime
    with runtime.database.transaction() as session:
        create_citizen(session, runtime.data_protector, region, citizen_id, "网页测试", password)
    return Account(region, citizen_id, password, citizen_id)


def staff(
    federation: Federation, role: str, region: str = "330000", department: str | None = "amr"
) -> Account:
    username, password = f"web-{role}-{secrets.token_hex(4)}", random_password()
    with federation.runtime.database.transaction() as session:
        create_staff(
            session, region, username, f"网页{role}", password, [role], department=department
        )
    return Account(region, username, password)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


def browser(app: object) -> TestClient:
    """A fresh 'browser': its own cookies."""
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)  # type: ignore[arg-type]


def post_sign_in(client: TestClient, account: Account, **changes: str) -> Response:
    form = client.get("/signin")
    assert form.status_code == 200, form.text
    fields = {
        "csrf_token": csrf_of(form.text),
        "region": account.region,
        "username": account.username,
        "password": account.password,
    }
    return client.post("/signin", data=fields | changes)


def sign_in(app: object, account: Account) -> TestClient:
    client = browser(app)
    response = post_sign_in(client, account)
    assert response.status_code == 303, response.text
    return client


def csrf(client: TestClient, page: str = "/verify") -> str:
    return csrf_of(client.get(page).text)
