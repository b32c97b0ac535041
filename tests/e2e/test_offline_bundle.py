"""Acceptance: a licence revoked in 330000 reads as revoked to a 440000 agency verifying
offline with a bundle exported after the revocation, and as valid with one exported before.

The agency side is the real `govtrust verify` in an empty folder with no database and no
settings: only the licence, the bundle and the pinned root fingerprint."""

from __future__ import annotations

import html
import json
import subprocess
import time
from pathlib import Path

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from govtrust.app import create_app
from licence_registry import revoke_licence, suspend_licence
from seal_service.levels import PadesLevel
from tests.conftest import Federation, assert_one_line_error, run_cli, run_govtrust
from tests.tools import require_tool
from verifier.bundle import open_bundle
from verifier.licence_pdf import CREDENTIAL_ATTACHMENT, embedded_credential
from verifier.timeutil import utc_now


def agency_verify(
    federation: Federation, folder: Path, *args: str
) -> tuple[int, dict[str, object], str]:
    """`govtrust verify` as an offline agency of 440000 runs it: an empty folder, nothing but
    the files it was handed and the root fingerprint it pins."""
    folder.mkdir(exist_ok=True)
    result = run_govtrust(
        folder,
        {"GOVTRUST_HOME": str(folder)},
        "verify",
        *args,
        "--root-fingerprint",
        federation.root_fingerprint,
        "--json",
    )
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def test_revocation_reaches_an_offline_agency_only_through_a_newer_bundle(
    federation: Federation, tmp_path: Path
) -> None:
    identifier, pdf = federation.issue(region="330000", level=PadesLevel.B_T)
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(pdf)
    credential = embedded_credential(pdf)
    assert credential is not None
    # poppler reads the same attachment from the file.
    pdfdetach = require_tool("pdfdetach")
    listed = subprocess.run([pdfdetach, "-list", str(licence)], capture_output=True, text=True)
    assert CREDENTIAL_ATTACHMENT in listed.stdout, listed.stdout + listed.stderr
    saved = tmp_path / "credential.jwt"
    subprocess.run([pdfdetach, "-save", "1", "-o", str(saved), str(licence)], check=True)
    assert saved.read_text().strip() == credential

    before = tmp_path / "before.json"
    exported = run_cli(federation, "bundle", "export", "--out", str(before))
    assert exported.returncode == 0, exported.stderr
    with federation.runtime.database.transaction() as session:
        revoke_licence(session, identifier, "以欺骗手段取得")
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/bundle")
    assert response.status_code == 200, response.text
    after = tmp_path / "after.json"
    after.write_bytes(response.content)

    agency = tmp_path / "agency-440000"
    code, report, _ = agency_verify(federation, agency, str(licence), "--bundle", str(before))
    assert code == 0, report
    status = report["licence_status"]
    assert isinstance(status, dict)
    assert status["status"] == "valid" and status["indication"] == "OK"
    assert status["bundle"]["exported_at"]  # the bundle's time is stated
    assert status["status_list_issued_at"]

    code, report, stderr = agency_verify(federation, agency, str(licence), "--bundle", str(after))
    assert code == 1, report
    assert report["verdict"] == "INVALID"
    status = report["licence_status"]
    assert isinstance(status, dict)
    assert status["status"] == "revoked" and status["indication"] == "REVOKED"
    assert "revoked" in stderr
    # The seals themselves are still good: it is the status that fails.
    assert all(seal["verdict"] == "VALID" for seal in report["seals"])  # type: ignore[union-attr]

    # The QR code alone says the same.
    code, report, _ = agency_verify(federation, agency, credential, "--bundle", str(after))
    assert code == 1 and report["kind"] == "licence-credential"
    code, report, _ = agency_verify(federation, agency, credential, "--bundle", str(before))
    assert code == 0, report

    # Once it has seen the newer bundle, the agency refuses to be handed the older one.
    result = run_govtrust(
        agency,
        {"GOVTRUST_HOME": str(agency)},
        "verify",
        str(licence),
        "--bundle",
        str(before),
        "--root-fingerprint",
        federation.root_fingerprint,
    )
    if json.loads(after.read_text())["trust_list"] != json.loads(before.read_text())["trust_list"]:
        assert_one_line_error(result, "trust list")
    else:
        assert result.returncode == 0  # same trust list: the older bundle is not a rollback


def test_a_suspended_licence_and_a_tampered_bundle(federation: Federation, tmp_path: Path) -> None:
    identifier, pdf = federation.issue(region="330000", level=PadesLevel.B_T)
    (tmp_path / "licence.pdf").write_bytes(pdf)
    with federation.runtime.database.transaction() as session:
        suspend_licence(session, identifier, "核查中")
    bundle = tmp_path / "bundle.json"
    assert run_cli(federation, "bundle", "export", "--out", str(bundle)).returncode == 0
    opened = open_bundle(bundle.read_bytes(), federation.root_fingerprint, at=utc_now())
    assert not opened.problems, opened.problems

    code, report, _ = agency_verify(
        federation, tmp_path / "agency", str(tmp_path / "licence.pdf"), "--bundle", str(bundle)
    )
    assert code == 1 and report["licence_status"]["status"] == "suspended"  # type: ignore[index]

    # Someone edits the 330000 status list inside the bundle to make the licence look valid:
    # its signature no longer verifies, so the status is unknown, never valid.
    document = json.loads(bundle.read_text())
    token = document["regions"]["330000"]["status_list"]
    header, payload, signature = token.split(".")
    document["regions"]["330000"]["status_list"] = f"{header}.{payload[:-4]}AAAA.{signature}"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    code, report, _ = agency_verify(
        federation, tmp_path / "agency2", str(tmp_path / "licence.pdf"), "--bundle", str(forged)
    )
    assert code == 3, report
    status = report["licence_status"]
    assert isinstance(status, dict)
    assert status["indication"] == "TRY_LATER" and status["bundle"]["problems"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"{}", "format"), (b"not json", "JSON"), (b'{"format": "govtrust-bundle/1"}', "lacks")],
)
def test_an_unusable_bundle_is_one_line_exit_2(
    federation: Federation, tmp_path: Path, content: bytes, fragment: str
) -> None:
    _, pdf = federation.issue(region="440000", level=PadesLevel.B_T)
    (tmp_path / "licence.pdf").write_bytes(pdf)
    (tmp_path / "bundle.json").write_bytes(content)
    result = run_govtrust(
        tmp_path,
        {"GOVTRUST_HOME": str(tmp_path)},
        "verify",
        str(tmp_path / "licence.pdf"),
        "--bundle",
        str(tmp_path / "bundle.json"),
        "--root-fingerprint",
        federation.root_fingerprint,
    )
    assert_one_line_error(result, fragment)


def test_a_photo_of_the_qr_code_a_folder_and_a_printable_report(
    federation: Federation, tmp_path: Path
) -> None:
    _, pdf = federation.issue(region="330000", level=PadesLevel.B_T)
    credential = embedded_credential(pdf)
    assert credential is not None
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "licence.pdf").write_bytes(pdf)
    image = zxingcpp.create_barcode(credential, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4)
    Image.fromarray(image).save(folder / "qr.png")
    (folder / "notes.txt").write_text("not a licence")
    bundle = tmp_path / "bundle.json"
    assert run_cli(federation, "bundle", "export", "--out", str(bundle)).returncode == 0

    code, report, _ = agency_verify(
        federation, tmp_path / "a", str(folder / "qr.png"), "--bundle", str(bundle)
    )
    assert code == 0 and report["kind"] == "licence-credential", report

    page = tmp_path / "report.html"
    result = run_govtrust(
        tmp_path,
        {"GOVTRUST_HOME": str(tmp_path / "a")},
        "verify",
        str(folder),
        "--bundle",
        str(bundle),
        "--root-fingerprint",
        federation.root_fingerprint,
        "--html",
        str(page),
    )
    # One file is not a licence: nothing invalid, but not everything could be decided.
    assert result.returncode == 3, result.stdout + result.stderr
    assert "licence.pdf" in result.stdout and "UNUSABLE" in result.stdout
    assert "VALID 2" in result.stdout
    text = page.read_text(encoding="utf-8")
    assert text.count("<section>") == 3 and "<script" not in text
    assert html.escape("浙江省市场监督管理局") in text


def test_the_report_names_chain_trust_list_status_and_later_changes(
    federation: Federation, tmp_path: Path
) -> None:
    _, pdf = federation.issue(region="440000")  # B-LTA: a document timestamp follows
    (tmp_path / "licence.pdf").write_bytes(pdf)
    bundle = tmp_path / "bundle.json"
    assert run_cli(federation, "bundle", "export", "--out", str(bundle)).returncode == 0
    code, report, _ = agency_verify(
        federation, tmp_path / "agency", str(tmp_path / "licence.pdf"), "--bundle", str(bundle)
    )
    assert code == 0, report
    (seal,) = report["seals"]  # type: ignore[misc]
    assert seal["chain"][-1] == "广东省市场监督管理局电子印章"
    assert seal["trust_list_status"].startswith("seal-ca of region 440000: granted since")
    assert seal["changes_after"] == "lta updates (within what the certification allows)"
    # the seal certificate, its region CA, and the TSA behind the signature timestamp
    assert [r["status"] for r in seal["revocation"]] == ["good", "good", "good"], seal
    assert "CN=广东省时间戳服务" in seal["revocation"][2]["certificate"], seal


def test_a_bundle_older_than_allowed_is_never_valid(federation: Federation, tmp_path: Path) -> None:
    _, pdf = federation.issue(region="330000", level=PadesLevel.B_T)
    (tmp_path / "licence.pdf").write_bytes(pdf)
    bundle = tmp_path / "bundle.json"
    assert run_cli(federation, "bundle", "export", "--out", str(bundle)).returncode == 0
    licence = str(tmp_path / "licence.pdf")
    code, report, _ = agency_verify(
        federation, tmp_path / "a", licence, "--bundle", str(bundle), "--max-bundle-age", "30d"
    )
    assert code == 0, report
    time.sleep(1.1)
    code, report, _ = agency_verify(
        federation, tmp_path / "b", licence, "--bundle", str(bundle), "--max-bundle-age", "1s"
    )
    assert code == 3 and "--max-bundle-age" in str(report["reason"]), report
    result = run_govtrust(
        tmp_path,
        {"GOVTRUST_HOME": str(tmp_path / "c")},
        "verify",
        licence,
        "--bundle",
        str(bundle),
        "--root-fingerprint",
        federation.root_fingerprint,
        "--max-bundle-age",
        "soon",
    )
    assert_one_line_error(result, "--max-bundle-age")
