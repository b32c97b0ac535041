"""Every CLI command's happy path, and its refusal of bad input (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from licence_registry.models import Licence
from tests.conftest import Federation, assert_one_line_error, run_cli
from verifier.identifiers import make_uscc, parse_licence_identifier

GOOD_USCC = make_uscc("9", "1", "330100", "MA2B3C4D")


def licence_count(federation: Federation) -> int:
    with federation.runtime.database.transaction() as session:
        return session.scalar(select(func.count()).select_from(Licence)) or 0


def issue_args(out: Path, **overrides: str) -> list[str]:
    options = {
        "--region": "330000",
        "--department": "amr",
        "--type": "business-licence",
        "--holder-name": "命令行测试有限公司",
        "--holder-id": GOOD_USCC,
        "--out": str(out),
    } | overrides
    return ["licence", "issue", *[item for pair in options.items() for item in pair]]


def test_dev_init_is_idempotent(federation: Federation) -> None:
    before = federation.settings.trust_list_path.read_bytes()
    result = run_cli(federation, "dev-init")
    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stdout
    assert federation.settings.trust_list_path.read_bytes() == before


def test_db_upgrade(federation: Federation) -> None:
    result = run_cli(federation, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_issue_verify_revoke(federation: Federation, tmp_path: Path) -> None:
    out = tmp_path / "licence.pdf"
    issued = run_cli(federation, *issue_args(out))
    assert issued.returncode == 0, issued.stderr
    identifier = issued.stdout.strip()
    parsed = parse_licence_identifier(identifier)
    assert str(parsed) == identifier
    assert out.read_bytes().startswith(b"%PDF-")

    without_bundle = run_cli(federation, "verify", str(out), "--json")
    assert without_bundle.returncode == 3, without_bundle.stderr  # status unknown
    assert "--bundle" in without_bundle.stderr
    bundle = tmp_path / "bundle.json"
    assert run_cli(federation, "bundle", "export", "--out", str(bundle)).returncode == 0
    verified = run_cli(federation, "verify", str(out), "--json", "--bundle", str(bundle))
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["verdict"] == "VALID"
    assert report["seals"][0]["region"] == "330000"
    assert report["seals"][0]["department"] == "浙江省市场监督管理局"

    revoked = run_cli(federation, "licence", "revoke", identifier, "--reason", "测试吊销")
    assert revoked.returncode == 0, revoked.stderr
    assert identifier in revoked.stdout
    again = run_cli(federation, "licence", "revoke", identifier, "--reason", "again")
    assert_one_line_error(again, "cannot be revoked")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"--holder-id": GOOD_USCC[:-1] + ("0" if GOOD_USCC[-1] != "0" else "1")}, "check"),
        ({"--holder-id": "not-an-id"}, "USCC"),
        ({"--type": "no-criminal-record", "--holder-id": "11010519491231002Y"}, "citizen"),
        ({"--department": "nope"}, "no department"),
        ({"--type": "fishing-licence"}, "unknown licence type"),
        ({"--holder-name": "   "}, "holder name"),
    ],
)
def test_issue_refuses_bad_input_and_stores_nothing(
    federation: Federation, tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    out = tmp_path / "licence.pdf"
    before = licence_count(federation)
    result = run_cli(federation, *issue_args(out, **overrides))
    assert_one_line_error(result)
    assert message.lower() in result.stderr.lower()
    assert licence_count(federation) == before
    assert not out.exists()


def test_citizen_id_never_echoed(federation: Federation, tmp_path: Path) -> None:
    bad_citizen_id = "11010519491231002Y"
    result = run_cli(
        federation,
        *issue_args(
            tmp_path / "x.pdf",
            **{
                "--type": "no-criminal-record",
                "--department": "psb",
                "--holder-id": bad_citizen_id,
            },
        ),
    )
    assert_one_line_error(result)
    assert bad_citizen_id[:17] not in result.stderr + result.stdout


def test_revoke_refuses_bad_input(federation: Federation) -> None:
    assert_one_line_error(
        run_cli(federation, "licence", "revoke", "1.2.3", "--reason", "x"), "licence identifier"
    )
    identifier, _ = federation.issue()
    assert_one_line_error(
        run_cli(federation, "licence", "revoke", identifier, "--reason", "  "), "reason"
    )
    # A well-formed identifier that was never issued.
    parsed = parse_licence_identifier(identifier)
    unknown = str(type(parsed).build(parsed.type_code, parsed.issuer_uscc, 999_999, 1))
    assert_one_line_error(
        run_cli(federation, "licence", "revoke", unknown, "--reason", "x"), "no licence"
    )


def test_verify_tampered_is_invalid(
    federation: Federation, issued_licence: tuple[str, bytes], tmp_path: Path
) -> None:
    _, pdf = issued_licence
    tampered = bytearray(pdf)
    tampered[pdf.index(b"/MediaBox") + 12] ^= 0x01
    path = tmp_path / "tampered.pdf"
    path.write_bytes(bytes(tampered))
    result = run_cli(federation, "verify", str(path))
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().startswith("INVALID")
    assert len(result.stderr.strip().splitlines()) == 1


def test_verify_refuses_unusable_input(
    federation: Federation, issued_licence: tuple[str, bytes], tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n this is not a pdf at all \x00\xff")
    assert_one_line_error(run_cli(federation, "verify", str(garbage)), "PDF")
    broken_photo = tmp_path / "photo.jpg"
    broken_photo.write_bytes(b"\xff\xd8\xff\xe0 jpeg")
    assert_one_line_error(run_cli(federation, "verify", str(broken_photo)), "image cannot be read")
    not_pdf = tmp_path / "notes.txt"
    not_pdf.write_text("just some notes")
    assert_one_line_error(run_cli(federation, "verify", str(not_pdf)), "not a PDF")
    assert_one_line_error(
        run_cli(federation, "verify", str(tmp_path / "missing.pdf")), "does not exist"
    )
    good = tmp_path / "licence.pdf"
    good.write_bytes(issued_licence[1])
    wrong_root = "00" * 32
    assert_one_line_error(
        run_cli(federation, "verify", str(good), "--root-fingerprint", wrong_root),
        "pinned national root",
    )
    assert_one_line_error(
        run_cli(federation, "verify", str(good), "--root-fingerprint", "abc"), "64 hexadecimal"
    )
    bad_list = tmp_path / "list.jws"
    bad_list.write_text("eyJhbGciOiJub25lIn0.e30.")
    assert_one_line_error(
        run_cli(federation, "verify", str(good), "--trust-list", str(bad_list)), "trust list"
    )


def test_demo(federation: Federation, tmp_path: Path) -> None:
    result = run_cli(federation, "demo", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "demo" / "licence.pdf").exists()
    assert (tmp_path / "demo" / "tampered.pdf").exists()
    assert "VALID" in result.stdout and "INVALID" in result.stdout
    assert "revoked" in result.stdout


def test_usage_errors_are_one_line(federation: Federation) -> None:
    assert_one_line_error(run_cli(federation, "no-such-command"))
    assert_one_line_error(run_cli(federation, "licence", "issue", "--region", "330000"))
