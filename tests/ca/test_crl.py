"""CRLs: numbering, when a new one is signed, large lists, the root's, openssl and pkilint."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from ca.errors import CaError
from ca.revocation import (
    CrlEntry,
    build_crl,
    current_crl,
    install_crl,
    publish_crl,
    revoke_certificate,
)
from govtrust.app import create_app
from tests.ca.revocation_support import (
    ROOT,
    authority_certificate,
    issue_test_certificate,
    pkilint_crl_errors,
    write_pem,
)
from tests.conftest import Federation, assert_one_line_error, run_cli
from tests.tools import require_tool
from verifier.timeutil import utc_now


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def _revoke(federation: Federation, certificate: x509.Certificate, reason: str) -> None:
    with federation.runtime.database.transaction() as session:
        revoke_certificate(
            session, "330000", format(certificate.serial_number, "x"), x509.ReasonFlags(reason)
        )


@pytest.fixture(scope="module")
def revoked_pair(federation: Federation) -> tuple[x509.Certificate, x509.Certificate]:
    """Two certificates of 330000, one revoked for key compromise, one 'unspecified'."""
    first, second = issue_test_certificate(federation), issue_test_certificate(federation)
    _revoke(federation, first, "keyCompromise")
    _revoke(federation, second, "unspecified")
    return first, second


def test_crl_numbers_strictly_increase(federation: Federation) -> None:
    runtime = federation.runtime
    numbers = []
    for _ in range(3):
        with runtime.database.transaction() as session:
            numbers.append(publish_crl(session, "330000", runtime.issuer("330000")).number)
    issue_and_revoke = issue_test_certificate(federation)
    _revoke(federation, issue_and_revoke, "superseded")
    with runtime.database.transaction() as session:
        numbers.append(current_crl(session, "330000", runtime.issuer).number)
    assert numbers == sorted(set(numbers)) and numbers[0] > 0
    with runtime.database.transaction() as session:
        crl = x509.load_der_x509_crl(current_crl(session, "330000", runtime.issuer).der)
    assert _crl_number(crl) == numbers[-1]


def test_current_crl_is_reused_until_a_revocation_or_half_its_life(
    federation: Federation,
) -> None:
    runtime = federation.runtime
    with runtime.database.transaction() as session:
        first = current_crl(session, "330000", runtime.issuer)
    with runtime.database.transaction() as session:
        assert current_crl(session, "330000", runtime.issuer).number == first.number
    half = (first.next_update - first.this_update) / 2
    with runtime.database.transaction() as session:
        later = current_crl(session, "330000", runtime.issuer, now=first.this_update + half)
    assert later.number > first.number
    # A back-dated revocation is still noticed: freshness is counted, not compared by time.
    certificate = issue_test_certificate(federation)
    with runtime.database.transaction() as session:
        revoke_certificate(
            session,
            "330000",
            format(certificate.serial_number, "x"),
            x509.ReasonFlags.key_compromise,
            at=utc_now() - timedelta(days=30),
        )
    with runtime.database.transaction() as session:
        after = current_crl(session, "330000", runtime.issuer)
    assert after.number > later.number
    listed = x509.load_der_x509_crl(after.der)
    assert listed.get_revoked_certificate_by_serial_number(certificate.serial_number)


def test_crl_lists_revocations_with_reasons(
    federation: Federation, revoked_pair: tuple[x509.Certificate, x509.Certificate]
) -> None:
    runtime = federation.runtime
    with runtime.database.transaction() as session:
        crl = x509.load_der_x509_crl(current_crl(session, "330000", runtime.issuer).der)
    region = authority_certificate(federation, "330000")
    assert crl.is_signature_valid(region.public_key())  # type: ignore[arg-type]
    assert crl.issuer == region.subject
    assert crl.next_update_utc is not None and crl.next_update_utc > crl.last_update_utc
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = region.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    compromised, unspecified = (
        crl.get_revoked_certificate_by_serial_number(c.serial_number) for c in revoked_pair
    )
    assert compromised is not None and unspecified is not None
    reason = compromised.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    # RFC 5280 5.3.1: no reason code rather than "unspecified"
    assert len(unspecified.extensions) == 0


def test_a_thousand_entries_all_present() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = utc_now().replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "crl test CA")])
    issuer = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    reasons = [None, *x509.ReasonFlags]
    reasons.remove(x509.ReasonFlags.remove_from_crl)
    entries = [
        CrlEntry(2**64 + i * 7919, now - timedelta(seconds=i), reasons[i % len(reasons)])
        for i in range(1000)
    ]
    crl = build_crl(
        issuer, key, entries, number=42, this_update=now, next_update=now + timedelta(hours=1)
    )
    crl = x509.load_der_x509_crl(crl.public_bytes(Encoding.DER))
    assert crl.is_signature_valid(key.public_key()) and _crl_number(crl) == 42
    listed = {revoked.serial_number: revoked for revoked in crl}
    assert len(listed) == 1000
    for entry in entries:
        revoked = listed[entry.serial]
        assert revoked.revocation_date_utc == entry.revoked_at
        reason = [e.value.reason for e in revoked.extensions if isinstance(e.value, x509.CRLReason)]
        expected = [] if entry.reason in (None, x509.ReasonFlags.unspecified) else [entry.reason]
        assert reason == expected
    assert not pkilint_crl_errors(crl.public_bytes(Encoding.DER))


def test_root_crl_is_the_ceremony_one_and_never_signed_online(federation: Federation) -> None:
    runtime = federation.runtime
    ceremony_crl = (federation.home / "keys-dev" / "root" / "crl.der").read_bytes()
    with runtime.database.transaction() as session:

        def no_key(code: str) -> object:
            raise AssertionError(f"asked for the offline key of {code}")

        served = current_crl(session, ROOT, no_key, now=utc_now() + timedelta(days=80))  # type: ignore[arg-type]
        assert served.der == ceremony_crl
        with pytest.raises(CaError, match="not above"):
            install_crl(session, ROOT, ceremony_crl)
        region_crl = current_crl(session, "330000", runtime.issuer).der
        with pytest.raises(CaError, match="not signed by CA root"):
            install_crl(session, ROOT, region_crl)
        with pytest.raises(CaError, match="not a DER CRL"):
            install_crl(session, ROOT, b"garbage")
        with pytest.raises(CaError, match="online"):
            install_crl(session, "330000", region_crl)
    assert not pkilint_crl_errors(ceremony_crl)


def test_openssl_verifies_the_published_crl(
    federation: Federation,
    revoked_pair: tuple[x509.Certificate, x509.Certificate],
    tmp_path: Path,
) -> None:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/ca/330000/crl")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkix-crl"
    assert not pkilint_crl_errors(response.content)
    crl_file = tmp_path / "330000.crl"
    crl_file.write_bytes(response.content)
    chain = write_pem(
        tmp_path / "chain.pem",
        authority_certificate(federation, "330000"),
        authority_certificate(federation, ROOT),
    )
    command = [require_tool("openssl"), "crl", "-inform", "DER", "-in", str(crl_file)]
    command += ["-verify", "-CAfile", str(chain), "-noout", "-text"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stderr
    for certificate in revoked_pair:
        digits = f"{certificate.serial_number:X}"
        digits = digits.zfill(len(digits) + len(digits) % 2)  # openssl prints whole octets
        assert f"Serial Number: {digits}" in result.stdout
    assert "Key Compromise" in result.stdout


@pytest.mark.parametrize("pem", [False, True])
def test_cli_writes_the_current_crl(federation: Federation, tmp_path: Path, pem: bool) -> None:
    out = tmp_path / "out.crl"
    result = run_cli(
        federation, "ca", "crl", "--ca", "330000", "--out", str(out), *(["--pem"] if pem else [])
    )
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    crl = x509.load_pem_x509_crl(data) if pem else x509.load_der_x509_crl(data)
    assert f"CRL {_crl_number(crl)} of 330000" in result.stdout


def test_cli_crl_refuses_bad_input(federation: Federation, tmp_path: Path) -> None:
    out = str(tmp_path / "x.crl")
    assert_one_line_error(
        run_cli(federation, "ca", "crl", "--ca", "990000", "--out", out), "990000"
    )
    missing = str(tmp_path / "no-such-dir" / "x.crl")
    assert_one_line_error(
        run_cli(federation, "ca", "crl", "--ca", "330000", "--out", missing), "does not exist"
    )
    assert_one_line_error(
        run_cli(federation, "ca", "install-crl", "--ca", "root", "--crl", out), "does not exist"
    )


def test_crl_endpoint_refuses_unknown_ca(federation: Federation) -> None:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/ca/990000/crl")
        root = client.get("/api/v1/ca/root/crl")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert root.status_code == 200
    assert root.content == (federation.home / "keys-dev" / "root" / "crl.der").read_bytes()


def test_concurrent_requests_after_a_revocation_sign_one_crl(federation: Federation) -> None:
    runtime = federation.runtime
    _revoke(federation, issue_test_certificate(federation), "superseded")

    def fetch() -> int:
        with runtime.database.transaction() as session:
            return current_crl(session, "330000", runtime.issuer).number

    with ThreadPoolExecutor(max_workers=6) as pool:
        numbers = list(pool.map(lambda _: fetch(), range(12)))
    assert len(set(numbers)) == 1, numbers
