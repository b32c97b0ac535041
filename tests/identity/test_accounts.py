"""Accounts and sign-in: argon2id passwords, one failure message, throttling, privacy."""

from __future__ import annotations

import json
import stat
from datetime import timedelta

import pytest
from sqlalchemy import text

from identity.accounts import (
    authenticate,
    create_citizen,
    create_legal_person,
    create_staff,
    disable_account,
    federation_subject,
)
from identity.errors import IdentityError, PasswordPolicyError, SignInFailed, SignInThrottled
from identity.models import Account
from identity.passwords import hash_password, needs_rehash, verify_password
from tests.conftest import Federation, assert_one_line_error, run_cli
from verifier.identifiers import iso7064_mod11_2_check, make_uscc
from verifier.timeutil import utc_now

PASSWORD = "Correct-Horse-42"


def citizen_id(serial: int, region: str = "3301") -> str:
    body = f"{region}06" + "19900101" + f"{serial:03d}"
    return body + iso7064_mod11_2_check(body)


def test_password_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "x")
    assert not verify_password("not a hash", PASSWORD)
    assert not needs_rehash(hashed)
    assert needs_rehash("$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("Short-1", "at least 12"),
        ("Aa1" * 43, "at most 128"),
        ("alllowercaseletters", "two of"),
        ("123456789012345", "two of"),
    ],
)
def test_password_policy(password: str, fragment: str) -> None:
    with pytest.raises(PasswordPolicyError, match=fragment) as info:
        hash_password(password)
    assert password not in str(info.value)


def test_wrong_password_and_unknown_user_give_the_same_error(federation: Federation) -> None:
    db, protector = federation.runtime.database, federation.runtime.data_protector
    with db.transaction() as session:
        create_staff(session, "330000", "same-error", "测试", PASSWORD, "auditor")
    messages = []
    for login, password in (("same-error", "Wrong-Password-1"), ("nobody-here", PASSWORD)):
        with pytest.raises(SignInFailed) as info, db.transaction() as session:
            authenticate(session, protector, "330000", login, password)
        messages.append(str(info.value))
    with pytest.raises(SignInFailed) as info, db.transaction() as session:
        authenticate(session, protector, "440000", "same-error", PASSWORD)  # other region
    messages.append(str(info.value))
    assert len(set(messages)) == 1
    with db.transaction() as session:
        account = authenticate(session, protector, "330000", "Same-Error", PASSWORD)
        assert account.role_list == ("auditor",)
        assert account.failed_sign_ins == 0


def test_disabled_account_cannot_sign_in(federation: Federation) -> None:
    db, protector = federation.runtime.database, federation.runtime.data_protector
    with db.transaction() as session:
        disable_account(
            session, create_staff(session, "330000", "disabled-one", "测试", PASSWORD, "operator")
        )
    with (
        pytest.raises(SignInFailed, match="unknown account or wrong password"),
        db.transaction() as session,
    ):
        authenticate(session, protector, "330000", "disabled-one", PASSWORD)


def test_throttled_after_five_failures_even_with_right_password(federation: Federation) -> None:
    db, protector = federation.runtime.database, federation.runtime.data_protector
    with db.transaction() as session:
        create_staff(session, "330000", "throttle-me", "测试", PASSWORD, "signer", department="amr")
    start = utc_now()
    for i in range(5):
        with pytest.raises(SignInFailed), db.transaction() as session:
            authenticate(
                session,
                protector,
                "330000",
                "throttle-me",
                "Wrong-Pass-123",
                now=start + i * timedelta(seconds=10),
            )
    later = start + timedelta(minutes=5)
    with pytest.raises(SignInThrottled), db.transaction() as session:
        authenticate(session, protector, "330000", "throttle-me", PASSWORD, now=later)
    after_window = start + timedelta(minutes=15, seconds=1)
    with db.transaction() as session:
        account = authenticate(
            session, protector, "330000", "throttle-me", PASSWORD, now=after_window
        )
        assert account.throttled_until is None
    # Reset on success: four new failures do not throttle.
    for _ in range(4):
        with pytest.raises(SignInFailed), db.transaction() as session:
            authenticate(
                session, protector, "330000", "throttle-me", "nope-Nope-123", now=after_window
            )
    with db.transaction() as session:
        authenticate(session, protector, "330000", "throttle-me", PASSWORD, now=after_window)


def test_failures_outside_the_window_do_not_add_up(federation: Federation) -> None:
    db, protector = federation.runtime.database, federation.runtime.data_protector
    with db.transaction() as session:
        create_staff(session, "330000", "slow-typist", "测试", PASSWORD, "auditor")
    start = utc_now()
    for i in range(8):
        with pytest.raises(SignInFailed), db.transaction() as session:
            authenticate(
                session,
                protector,
                "330000",
                "slow-typist",
                "Wrong-Pass-123",
                now=start + i * timedelta(minutes=4),
            )
    with db.transaction() as session:
        authenticate(
            session, protector, "330000", "slow-typist", PASSWORD, now=start + timedelta(minutes=29)
        )


def test_citizen_id_never_stored_in_clear(federation: Federation) -> None:
    db, protector = federation.runtime.database, federation.runtime.data_protector
    cid = citizen_id(101)
    with db.transaction() as session:
        account = create_citizen(session, protector, "330000", cid, "张三", PASSWORD)
        row = session.execute(
            text("SELECT * FROM identity_account WHERE id = :i"), {"i": account.id}
        ).one()
    flattened = b"".join(
        value if isinstance(value, bytes) else str(value).encode() for value in row
    )
    assert cid.encode() not in flattened
    assert cid[:14].encode() not in flattened
    with db.transaction() as session:
        signed_in = authenticate(session, protector, "330000", cid.lower(), PASSWORD)
        assert signed_in.id == account.id
        assert signed_in.login_name is None
        assert cid not in federation_subject(protector, signed_in)


def test_duplicate_and_invalid_citizen_refused(federation: Federation) -> None:
    db, protector = federation.runtime.database, federation.runtime.data_protector
    cid = citizen_id(102)
    with db.transaction() as session:
        create_citizen(session, protector, "330000", cid, "李四", PASSWORD)
    with (
        pytest.raises(IdentityError, match="already has an account") as info,
        db.transaction() as session,
    ):
        create_citizen(session, protector, "330000", cid, "李四", PASSWORD)
    assert cid not in str(info.value)
    bad = cid[:-1] + ("0" if cid[-1] != "0" else "1")
    with pytest.raises(ValueError, match="check") as info2, db.transaction() as session:
        create_citizen(session, protector, "330000", bad, "李四", PASSWORD)
    assert bad not in str(info2.value)


def test_federation_subject_same_person_same_value_in_every_region(
    federation: Federation,
) -> None:
    db, protector = federation.runtime.database, federation.runtime.data_protector
    cid, other = citizen_id(103), citizen_id(104)
    with db.transaction() as session:
        zj = create_citizen(session, protector, "330000", cid, "王五", PASSWORD)
        gd = create_citizen(session, protector, "440000", cid, "王五", PASSWORD)
        someone = create_citizen(session, protector, "330000", other, "赵六", PASSWORD)
        uscc = make_uscc("9", "1", "440300", "MA5T7X9K")
        company = create_legal_person(session, protector, "440000", uscc, "深圳某公司", PASSWORD)
        subjects = [federation_subject(protector, a) for a in (zj, gd, someone, company)]
        assert authenticate(session, protector, "440000", uscc.lower(), PASSWORD).id == company.id
    assert subjects[0] == subjects[1]
    assert subjects[0] != subjects[2]
    assert len(set(subjects[1:])) == 3
    assert all(cid not in s and other not in s and uscc not in s for s in subjects)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"roles": "signer"}, "needs a department"),
        ({"roles": "clerk", "department": "nope"}, "has no department"),
        ({"roles": "root"}, "unknown role"),
        ({"roles": ""}, "at least one role"),
    ],
)
def test_staff_refusals(federation: Federation, kwargs: dict[str, str], fragment: str) -> None:
    with (
        pytest.raises(IdentityError, match=fragment),
        federation.runtime.database.transaction() as s,
    ):
        create_staff(s, "330000", "refused-staff", "测试", PASSWORD, **kwargs)  # type: ignore[arg-type]


def test_unknown_region_refused(federation: Federation) -> None:
    with (
        pytest.raises(IdentityError, match="unknown region"),
        federation.runtime.database.transaction() as s,
    ):
        create_staff(s, "990000", "far-away", "测试", PASSWORD, "auditor")


def _password_file(tmp_path, password: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "pw"
    path.write_text(password + "\n")
    return path


def test_cli_add_user_staff_and_citizen(federation: Federation, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pw = _password_file(tmp_path, PASSWORD)
    result = run_cli(
        federation,
        "identity",
        "add-user",
        "--region",
        "330000",
        "--kind",
        "staff",
        "--login",
        "cli-signer",
        "--name",
        "签章员",
        "--roles",
        "signer",
        "--department",
        "amr",
        "--password-file",
        str(pw),
    )
    assert result.returncode == 0, result.stderr
    assert "created staff account" in result.stdout
    cid = citizen_id(201)
    result = run_cli(
        federation,
        "identity",
        "add-user",
        "--region",
        "440000",
        "--kind",
        "citizen",
        "--id",
        cid,
        "--name",
        "市民",
        "--password-file",
        str(pw),
    )
    assert result.returncode == 0, result.stderr
    assert cid not in result.stdout + result.stderr
    with federation.runtime.database.transaction() as session:
        authenticate(session, federation.runtime.data_protector, "330000", "cli-signer", PASSWORD)
        authenticate(session, federation.runtime.data_protector, "440000", cid, PASSWORD)


def test_cli_add_user_refusals(federation: Federation, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good, weak = _password_file(tmp_path, PASSWORD), tmp_path / "weak"
    weak.write_text("short\n")
    bad_cid = citizen_id(202)[:-1] + "Y"
    result = run_cli(
        federation,
        "identity",
        "add-user",
        "--region",
        "330000",
        "--kind",
        "citizen",
        "--id",
        bad_cid,
        "--name",
        "x",
        "--password-file",
        str(good),
    )
    assert_one_line_error(result, "citizen ID")
    assert bad_cid not in result.stderr
    result = run_cli(
        federation,
        "identity",
        "add-user",
        "--region",
        "330000",
        "--kind",
        "staff",
        "--login",
        "weak-pw",
        "--name",
        "x",
        "--roles",
        "auditor",
        "--password-file",
        str(weak),
    )
    assert_one_line_error(result, "at least 12 characters")
    assert "short" not in result.stderr
    result = run_cli(
        federation,
        "identity",
        "add-user",
        "--region",
        "330000",
        "--kind",
        "staff",
        "--login",
        "no-dept",
        "--name",
        "x",
        "--roles",
        "clerk",
        "--department",
        "zzz",
        "--password-file",
        str(good),
    )
    assert_one_line_error(result, "no department 'zzz'")
    result = run_cli(
        federation,
        "identity",
        "add-user",
        "--region",
        "330000",
        "--kind",
        "staff",
        "--login",
        "no-pw",
        "--name",
        "x",
        "--roles",
        "auditor",
    )
    assert_one_line_error(result, "GOVTRUST_NEW_USER_PASSWORD")
    result = run_cli(
        federation,
        "identity",
        "add-user",
        "--region",
        "330000",
        "--kind",
        "staff",
        "--login",
        "no-pw",
        "--name",
        "x",
        "--password",
        PASSWORD,
    )
    assert_one_line_error(result)


def test_dev_init_wrote_accounts_that_sign_in(federation: Federation) -> None:
    path = federation.settings.var_dir / "dev-accounts.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    listing = json.loads(path.read_text())
    assert set(listing) == {"330000", "440000"}
    protector = federation.runtime.data_protector
    for region, entries in listing.items():
        roles = sorted(r for e in entries for r in e.get("roles", []))
        assert roles == ["auditor", "clerk", "operator", "signer"]
        assert {e["kind"] for e in entries} == {"staff", "citizen", "legal-person"}
        for entry in entries:
            with federation.runtime.database.transaction() as session:
                account = authenticate(
                    session, protector, region, entry["login"], entry["password"]
                )
                assert isinstance(account, Account)
                if set(entry.get("roles", [])) & {"signer", "clerk"}:
                    assert account.department_id is not None
