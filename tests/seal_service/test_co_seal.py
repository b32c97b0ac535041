"""Co-sealing a licence by another department: over the API (only that department's
signers) and with `govtrust seal add`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from govtrust.app import create_app
from seal_service import find_seal
from seal_service.levels import PadesLevel
from tests.api_support import assert_problem, bearer
from tests.conftest import Federation, assert_one_line_error, run_cli
from tests.seal_service.test_seal_lifecycle import add_department
from verifier.pdf import verify_pdf
from verifier.report import Verdict
from verifier.timeutil import utc_now

URL = "/api/v1/seals/440000/amr/co-seal"
PDF = {"Content-Type": "application/pdf"}


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def licence(federation: Federation) -> bytes:
    return federation.issue("会签测试有限公司", level=PadesLevel.B_T)[1]


def test_a_signer_of_the_department_co_seals(
    federation: Federation, client: TestClient, licence: bytes
) -> None:
    token = federation.staff_token("440000", "signer", department="amr")
    response = client.post(URL, content=licence, headers={**PDF, **bearer(token)})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    report = verify_pdf(
        response.content, federation.trust_list(), at=utc_now(), crls=federation.bundle().crls
    )
    assert report.verdict is Verdict.VALID, report.reason
    assert [s.region_code for s in report.seals] == ["330000", "440000"]
    assert response.content.startswith(licence)  # an incremental update: nothing rewritten


@pytest.mark.parametrize(
    ("region", "role", "department", "status"),
    [
        ("440000", "clerk", "amr", 403),  # not a signer
        ("440000", "signer", "psb", 403),  # a signer of another department
        ("330000", "signer", "amr", 403),  # the same department code of another region
        ("440000", "operator", None, 403),
    ],
)
def test_nobody_else_may_use_the_seal(
    federation: Federation,
    client: TestClient,
    licence: bytes,
    region: str,
    role: str,
    department: str | None,
    status: int,
) -> None:
    token = federation.staff_token(region, role, department=department)
    assert_problem(client.post(URL, content=licence, headers={**PDF, **bearer(token)}), status)


def test_unauthenticated_and_bad_bodies_are_refused(
    federation: Federation, client: TestClient, licence: bytes
) -> None:
    assert_problem(client.post(URL, content=licence, headers=PDF), 401)
    token = bearer(federation.staff_token("440000", "signer", department="amr"))
    assert_problem(client.post(URL, content=b"%PDF-1.7 junk", headers={**PDF, **token}), 400)
    assert_problem(
        client.post(URL, content=licence, headers={"Content-Type": "text/plain", **token}), 415
    )
    tampered = bytearray(licence)
    tampered[licence.index(b"stream\n") + 40] ^= 0x01
    refused = client.post(URL, content=bytes(tampered), headers={**PDF, **token})
    assert_problem(refused, 400)
    assert "only a valid licence" in refused.json()["detail"]


def test_seal_add_on_the_command_line(
    federation: Federation, licence: bytes, tmp_path: Path
) -> None:
    source, out = tmp_path / "licence.pdf", tmp_path / "co-sealed.pdf"
    source.write_bytes(licence)
    result = run_cli(
        federation,
        "seal",
        "add",
        str(source),
        "--region",
        "440000",
        "--department",
        "amr",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    report = verify_pdf(
        out.read_bytes(), federation.trust_list(), at=utc_now(), crls=federation.bundle().crls
    )
    assert report.verdict is Verdict.VALID and len(report.seals) == 2
    assert_one_line_error(
        run_cli(
            federation,
            "seal",
            "add",
            str(tmp_path / "missing.pdf"),
            "--region",
            "440000",
            "--department",
            "amr",
            "--out",
            str(tmp_path / "x.pdf"),
        ),
        "missing.pdf",
    )


def test_a_seal_that_may_not_seal_is_refused_with_the_reason(
    federation: Federation, licence: bytes, tmp_path: Path
) -> None:
    """Suspended, certificate revoked, retired: each refused, in one line, and nothing
    written; reinstated, it seals again."""
    with federation.runtime.database.transaction() as session:
        department = add_department(session, "440000", "测试会签局").code
    made = run_cli(federation, "seal", "create", "--region", "440000", "--department", department)
    assert made.returncode == 0, made.stderr
    seal_id = made.stdout.split("seal ")[1].split()[0]
    source, out = tmp_path / "licence.pdf", tmp_path / "out.pdf"
    source.write_bytes(licence)
    add = ("seal", "add", str(source), "--region", "440000", "--department", department)

    def co_seal() -> subprocess.CompletedProcess[str]:
        return run_cli(federation, *add, "--out", str(out))

    assert co_seal().returncode == 0
    out.unlink()
    assert run_cli(federation, "seal", "suspend", seal_id, "--reason", "核查").returncode == 0
    assert_one_line_error(co_seal(), "suspended")
    assert not out.exists()
    assert run_cli(federation, "seal", "reinstate", seal_id).returncode == 0
    assert co_seal().returncode == 0
    out.unlink()
    with federation.runtime.database.transaction() as session:
        serial = find_seal(session, int(seal_id)).certificate.serial
    revoked = run_cli(
        federation,
        "ca",
        "revoke",
        "--ca",
        "440000",
        "--serial",
        serial,
        "--reason",
        "keyCompromise",
    )
    assert revoked.returncode == 0, revoked.stderr
    assert_one_line_error(co_seal(), "revoked")
    assert run_cli(federation, "seal", "retire", seal_id, "--reason", "撤并").returncode == 0
    assert_one_line_error(co_seal(), "no active seal")
    assert not out.exists()
