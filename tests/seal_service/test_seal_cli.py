"""`govtrust seal …` through the real entry point, against the shared federation.

Each test makes a department of its own (the dev departments' seals stay untouched).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from PIL import Image, ImageDraw
from sqlalchemy import select

from ca.authority import get_authority
from ca.models import Department
from seal_service import Seal, find_seal, seal_history
from tests.ca.revocation_support import ocsp_request
from tests.conftest import Federation, assert_one_line_error, run_cli
from tests.seal_service.test_seal_lifecycle import add_department

REGION = "330000"


@pytest.fixture
def department(federation: Federation) -> str:
    """The code of a new department of 330000, without a seal."""
    with federation.runtime.database.transaction() as session:
        return add_department(session, REGION, "测试行政审批局").code


@pytest.fixture
def stamp(tmp_path: Path) -> Path:
    image = Image.new("RGBA", (500, 500), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((10, 10, 490, 490), outline=(230, 0, 18, 255), width=24)
    path = tmp_path / "stamp.png"
    image.save(path, format="PNG")
    return path


def created_id(stdout: str) -> int:
    match = re.search(r"seal (\d+) active: certificate [0-9a-f]+, valid until \S+Z", stdout)
    assert match, stdout
    return int(match.group(1))


def ocsp_status(federation: Federation, seal_id: int) -> ocsp.OCSPResponse:
    runtime = federation.runtime
    with runtime.database.transaction() as session:
        certificate = find_seal(session, seal_id).certificate.certificate
        request = ocsp_request(certificate, get_authority(session, REGION).certificate)
        der = runtime.ocsp_responder(REGION).respond(session, request)
    return ocsp.load_der_ocsp_response(der)


def test_a_seal_through_its_whole_life(
    federation: Federation, department: str, stamp: Path
) -> None:
    create = ("seal", "create", "--region", REGION, "--department", department)
    made = run_cli(federation, *create, "--image", str(stamp))
    assert made.returncode == 0, made.stderr
    seal_id = created_id(made.stdout)
    assert made.stdout.startswith(f"{REGION}/{department}: seal {seal_id} active")

    listed = run_cli(federation, "seal", "list", "--region", REGION, "--department", department)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.strip().splitlines()
    assert header.split() == ["ID", "DEPARTMENT", "STATUS", "SERIAL", "VALID", "UNTIL", "NAME"]
    with federation.runtime.database.transaction() as session:
        seal = find_seal(session, seal_id)
        serial, until = seal.certificate.serial, f"{seal.not_after:%Y-%m-%dT%H:%M:%SZ}"
        stored_image = seal.image_png
    assert row.split() == [
        str(seal_id),
        f"{REGION}/{department}",
        "active",
        serial,
        until,
        "测试行政审批局电子印章",
    ]
    assert Image.open(io.BytesIO(stored_image)).size == (500, 500)
    assert ocsp_status(federation, seal_id).certificate_status is ocsp.OCSPCertStatus.GOOD

    suspended = run_cli(federation, "seal", "suspend", str(seal_id), "--reason", "印模核查")
    assert suspended.returncode == 0, suspended.stderr
    assert f"seal {seal_id} suspended" in suspended.stdout
    listed = run_cli(federation, "seal", "list", "--department", department)
    assert listed.stdout.strip().splitlines()[1].split()[2] == "suspended"
    reinstated = run_cli(federation, "seal", "reinstate", str(seal_id))
    assert reinstated.returncode == 0, reinstated.stderr
    assert f"seal {seal_id} active" in reinstated.stdout

    retired = run_cli(federation, "seal", "retire", str(seal_id), "--reason", "机构撤并")
    assert retired.returncode == 0, retired.stderr
    assert retired.stdout.strip().endswith("certificate revoked")
    # Relying parties see it: OCSP answers revoked, cessationOfOperation.
    answer = ocsp_status(federation, seal_id)
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is x509.ReasonFlags.cessation_of_operation
    with federation.runtime.database.transaction() as session:
        history = [(c.status, c.reason, c.actor) for c in seal_history(session, seal_id)]
    assert history == [
        ("active", "made", None),
        ("suspended", "印模核查", None),
        ("active", "reinstated", None),
        ("retired", "机构撤并", None),
    ]

    assert_one_line_error(
        run_cli(federation, "seal", "reinstate", str(seal_id)), "retiring is final"
    )
    assert_one_line_error(
        run_cli(federation, "seal", "retire", str(seal_id), "--reason", "again"),
        "cannot be retired again",
    )
    assert_one_line_error(
        run_cli(federation, "seal", "suspend", str(seal_id), "--reason", "x"),
        "only active seals can be suspended",
    )


def test_replace_retires_the_active_seal(federation: Federation, department: str) -> None:
    create = ("seal", "create", "--region", REGION, "--department", department)
    first = created_id(run_cli(federation, *create).stdout)
    assert_one_line_error(run_cli(federation, *create), f"already has active seal {first}")
    second = run_cli(federation, *create, "--replace", "--reason", "印模更新")
    assert second.returncode == 0, second.stderr
    second_id = created_id(second.stdout)
    with federation.runtime.database.transaction() as session:
        old = find_seal(session, first)
        assert old.status == "retired"
        assert old.certificate.revocation_reason == "cessationOfOperation"
        assert seal_history(session, first)[-1].reason == "印模更新"
        active = session.scalars(
            select(Seal.id).where(Seal.department_id == old.department_id, Seal.status == "active")
        ).all()
    assert active == [second_id]
    listed = run_cli(federation, "seal", "list", "--region", REGION, "--department", department)
    rows = [line.split()[:3] for line in listed.stdout.strip().splitlines()[1:]]
    assert rows == [
        [str(first), f"{REGION}/{department}", "retired"],
        [str(second_id), f"{REGION}/{department}", "active"],
    ]


def test_bad_input_is_one_line_and_exit_2(
    federation: Federation, department: str, tmp_path: Path
) -> None:
    create = ("seal", "create", "--region", REGION, "--department", department)
    jpeg = tmp_path / "stamp.png"
    Image.new("RGB", (500, 500), (230, 0, 18)).save(jpeg, format="JPEG")
    assert_one_line_error(run_cli(federation, *create, "--image", str(jpeg)), "JPEG")
    opaque = tmp_path / "opaque.png"
    Image.new("RGBA", (500, 500), (230, 0, 18, 255)).save(opaque, format="PNG")
    assert_one_line_error(run_cli(federation, *create, "--image", str(opaque)), "opaque")
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(1024 * 1024 + 1))
    assert_one_line_error(run_cli(federation, *create, "--image", str(big)), "larger than")
    missing = tmp_path / "missing.png"
    assert_one_line_error(run_cli(federation, *create, "--image", str(missing)), "does not exist")
    with federation.runtime.database.transaction() as session:
        nothing_made = session.scalars(
            select(Seal.id)
            .join(Department, Seal.department_id == Department.id)
            .where(Department.region_code == REGION, Department.code == department)
        ).all()
    assert nothing_made == []

    assert_one_line_error(
        run_cli(federation, "seal", "create", "--region", REGION, "--department", "nope"),
        "region 330000 has no department 'nope'",
    )
    assert_one_line_error(
        run_cli(federation, "seal", "create", "--region", "990000", "--department", "amr"),
        "990000",
    )
    assert_one_line_error(
        run_cli(federation, "seal", "suspend", "999999", "--reason", "x"), "999999"
    )
    assert_one_line_error(run_cli(federation, "seal", "suspend", "999999"), "reason")
    assert_one_line_error(run_cli(federation, "seal", "reinstate", "abc"), "integer")
