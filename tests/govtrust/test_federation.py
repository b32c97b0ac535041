"""Trust-list lifecycle through the real CLI, on a federation of its own (it withdraws and
republishes, which the shared one must not see)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from ca.profiles import NATIONAL_ROOT, TRUST_LIST_SIGNER, Issuer, build_certificate, subject_name
from govtrust.app import create_app
from tests.conftest import Federation, assert_one_line_error, private_federation, run_cli
from verifier.timeutil import utc_now
from verifier.trust_list import ServiceStatus, ServiceType, verify_trust_list


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return private_federation(tmp_path_factory.mktemp("federation-lifecycle"))


@pytest.fixture(scope="module")
def client(own: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(own.settings), raise_server_exceptions=False) as client:
        yield client


def test_withdraw_publish_and_verify(own: Federation, tmp_path: Path) -> None:
    first = own.trust_list()
    _, pdf = own.issue(region="440000")
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(pdf)
    state = tmp_path / "state.json"
    assert seals_verified(own, licence, "--state-file", str(state)) == NO_STATUS_BUT_SEAL_VALID

    # Effective two seconds from now: the licence above was sealed before, the one below after.
    since = (utc_now() + timedelta(seconds=2)).replace(microsecond=0)
    withdrawn = run_cli(
        own,
        "federation",
        "withdraw",
        "--region",
        "440000",
        "--type",
        "seal-ca",
        "--at",
        f"{since:%Y-%m-%dT%H:%M:%SZ}",
    )
    assert withdrawn.returncode == 0, withdrawn.stderr
    published = run_cli(own, "federation", "publish", "--validity-days", "7")
    assert published.returncode == 0, published.stderr
    second = own.trust_list()
    assert second.sequence == first.sequence + 1
    service = next(s for s in second.services(ServiceType.SEAL_CA) if s.region_code == "440000")
    assert [c.status for c in service.history] == [ServiceStatus.GRANTED, ServiceStatus.WITHDRAWN]
    assert second.next_update - second.issued_at == timedelta(days=7)

    # Timestamped before the withdrawal: still valid. Sealed after it: not.
    assert seals_verified(own, licence, "--state-file", str(state)) == NO_STATUS_BUT_SEAL_VALID
    while utc_now() < since + timedelta(seconds=1):
        time.sleep(0.1)
    late = tmp_path / "late.pdf"
    late.write_bytes(own.issue(region="440000")[1])
    result = run_cli(own, "verify", str(late), "--state-file", str(state))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "NO_CERTIFICATE_CHAIN_FOUND" in result.stdout

    # Replaying the older, authentic list is a rollback: refused once the newer was seen.
    old_list = tmp_path / "old.jws"
    old_list.write_text(published_version(own, first.sequence))
    assert_one_line_error(
        run_cli(
            own, "verify", str(licence), "--trust-list", str(old_list), "--state-file", str(state)
        ),
        "rollback",
    )
    # A verifier that never saw the newer list still accepts the older one.
    fresh_state = tmp_path / "fresh.json"
    assert (
        seals_verified(
            own, licence, "--trust-list", str(old_list), "--state-file", str(fresh_state)
        )
        == NO_STATUS_BUT_SEAL_VALID
    )

    assert (
        run_cli(own, "federation", "grant", "--region", "440000", "--type", "seal-ca").returncode
        == 0
    )
    assert run_cli(own, "federation", "publish").returncode == 0
    assert seals_verified(own, licence, "--state-file", str(state)) == NO_STATUS_BUT_SEAL_VALID


# With a trust list alone the seals are judged but the licence's status is unknown: exit 3.
NO_STATUS_BUT_SEAL_VALID = (3, ["VALID"])


def seals_verified(own: Federation, licence: Path, *args: str) -> tuple[int, list[str]]:
    """`govtrust verify --json`: its exit code and each seal's verdict."""
    result = run_cli(own, "verify", str(licence), *args, "--json")
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, [seal["verdict"] for seal in json.loads(result.stdout)["seals"]]


def published_version(own: Federation, sequence: int) -> str:
    with TestClient(create_app(own.settings)) as client:
        response = client.get(f"/api/v1/trust-list/{sequence}")
        assert response.status_code == 200
        return response.text


def test_every_version_is_served(own: Federation, client: TestClient) -> None:
    latest = own.trust_list()
    for sequence in range(1, latest.sequence + 1):
        response = client.get(f"/api/v1/trust-list/{sequence}")
        assert response.status_code == 200
        listed = verify_trust_list(response.text, own.root_fingerprint, at=utc_now())
        assert listed.sequence == sequence
    missing = client.get(f"/api/v1/trust-list/{latest.sequence + 1}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/trust-list/0").status_code == 422


def test_independent_root_is_trusted_only_for_named_types(own: Federation, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    root = build_certificate(
        NATIONAL_ROOT, subject_name("上海市自建根CA"), key.public_key(), self_signing_key=key
    )
    root_pem = tmp_path / "sh-root.pem"
    root_pem.write_bytes(root.public_bytes(Encoding.PEM))
    added = run_cli(
        own,
        "federation",
        "add-region",
        "--code",
        "310000",
        "--name",
        "上海市",
        "--root-cert",
        str(root_pem),
        "--type",
        "tsa",
    )
    assert added.returncode == 0, added.stderr
    assert run_cli(own, "federation", "publish").returncode == 0
    listed = own.trust_list()
    shanghai = listed.region("310000")
    assert shanghai is not None
    assert [s.service_type for s in shanghai.services] == [ServiceType.TSA]
    assert all(s.region_code != "310000" for s in listed.services(ServiceType.SEAL_CA))


def test_lifecycle_refusals(own: Federation, tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli(own, "federation", "withdraw", "--region", "999999", "--type", "seal-ca"),
        "lists no",
    )
    assert_one_line_error(
        run_cli(own, "federation", "grant", "--region", "330000", "--type", "seal-ca"),
        "already granted",
    )
    not_ca = tmp_path / "leaf.pem"
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = build_certificate(
        NATIONAL_ROOT, subject_name("r"), root_key.public_key(), self_signing_key=root_key
    )
    leaf = build_certificate(
        TRUST_LIST_SIGNER,
        subject_name("leaf"),
        leaf_key.public_key(),
        issuer=Issuer(root, root_key, NATIONAL_ROOT),
    )
    not_ca.write_bytes(leaf.public_bytes(Encoding.PEM))
    assert_one_line_error(
        run_cli(
            own,
            "federation",
            "add-region",
            "--code",
            "320000",
            "--name",
            "江苏省",
            "--root-cert",
            str(not_ca),
            "--type",
            "seal-ca",
        ),
        "self-signed CA",
    )
    assert_one_line_error(
        run_cli(
            own,
            "federation",
            "withdraw",
            "--region",
            "330000",
            "--type",
            "seal-ca",
            "--at",
            "2000-01-01T00:00:00Z",
        ),
        "before the previous",
    )
