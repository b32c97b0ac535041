"""Revoking certificates: what is refused, what a revocation changes, and the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509

from ca.counters import bump_counter, read_counters
from ca.errors import CaError, UnknownAuthority
from ca.registry import CertificateNotFound, find_certificate
from ca.revocation import (
    AlreadyRevoked,
    RevocationError,
    parse_reason,
    revoke_certificate,
)
from tests.ca.revocation_support import issue_test_certificate
from tests.conftest import Federation, assert_one_line_error, run_cli
from verifier.timeutil import utc_now


def _serial(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def test_reason_names_are_rfc5280() -> None:
    assert parse_reason("keyCompromise") is x509.ReasonFlags.key_compromise
    assert parse_reason("cessationOfOperation") is x509.ReasonFlags.cessation_of_operation
    with pytest.raises(RevocationError, match="unknown revocation reason 'stolen'"):
        parse_reason("stolen")


def test_revoke_records_time_reason_and_counts(federation: Federation) -> None:
    certificate = issue_test_certificate(federation)
    serial = _serial(certificate)
    with federation.runtime.database.transaction() as session:
        (before,) = read_counters(session, "revocations:330000")
    at = utc_now() - timedelta(days=2)  # e.g. the key was compromised before anyone noticed
    with federation.runtime.database.transaction() as session:
        row = revoke_certificate(
            session, "330000", serial.upper(), x509.ReasonFlags.superseded, at=at
        )
        assert row.serial == serial
    with federation.runtime.database.transaction() as session:
        row = find_certificate(session, "330000", serial)
        assert row.revocation_reason == "superseded"
        assert row.revoked_at == at.replace(microsecond=0)
        assert read_counters(session, "revocations:330000") == [before + 1]


def test_refusals(federation: Federation) -> None:
    certificate = issue_test_certificate(federation)
    serial = _serial(certificate)
    key_compromise = x509.ReasonFlags.key_compromise
    with federation.runtime.database.transaction() as session:
        with pytest.raises(UnknownAuthority):
            revoke_certificate(session, "990000", serial, key_compromise)
        with pytest.raises(CertificateNotFound):
            revoke_certificate(session, "330000", "1234abcd", key_compromise)
        with pytest.raises(CertificateNotFound):  # serials belong to one CA
            revoke_certificate(session, "440000", serial, key_compromise)
        with pytest.raises(RevocationError, match="removeFromCRL"):
            revoke_certificate(session, "330000", serial, x509.ReasonFlags.remove_from_crl)
        with pytest.raises(RevocationError, match="future"):
            revoke_certificate(
                session, "330000", serial, key_compromise, at=utc_now() + timedelta(hours=1)
            )
        with pytest.raises(CaError, match="hexadecimal"):
            revoke_certificate(session, "330000", "not-hex", key_compromise)
    with federation.runtime.database.transaction() as session:
        revoke_certificate(session, "330000", serial, key_compromise)
    with (
        federation.runtime.database.transaction() as session,
        pytest.raises(AlreadyRevoked, match=f"certificate {serial} was revoked at"),
    ):
        revoke_certificate(session, "330000", serial, x509.ReasonFlags.superseded)


def test_responder_of_another_ca_is_refused(federation: Federation) -> None:
    certificate = issue_test_certificate(federation)
    responder = federation.runtime.ocsp_responder("440000")
    with (
        federation.runtime.database.transaction() as session,
        pytest.raises(RevocationError, match="cannot answer for 330000"),
    ):
        revoke_certificate(
            session,
            "330000",
            _serial(certificate),
            x509.ReasonFlags.key_compromise,
            responder=responder,
        )


def test_counter_bumps_are_atomic_and_lock_without_change(federation: Federation) -> None:
    with federation.runtime.database.transaction() as session:
        assert bump_counter(session, "test:revocation-counter") == 1
        assert bump_counter(session, "test:revocation-counter") == 2
        assert bump_counter(session, "test:revocation-counter", by=0) == 2
        assert read_counters(session, "test:revocation-counter", "test:never") == [2, 0]


def test_cli_revoke(federation: Federation) -> None:
    serial = _serial(issue_test_certificate(federation))
    result = run_cli(
        federation,
        "ca",
        "revoke",
        "--ca",
        "330000",
        "--serial",
        serial,
        "--reason",
        "keyCompromise",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"revoked {serial} at ")
    assert "(keyCompromise)" in result.stdout
    with federation.runtime.database.transaction() as session:
        assert find_certificate(session, "330000", serial).revocation_reason == "keyCompromise"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--ca", "330000", "--serial", "abc", "--reason", "stolen"], "unknown revocation reason"),
        (["--ca", "330000", "--serial", "abc123", "--reason", "superseded"], "no certificate"),
        (["--ca", "990000", "--serial", "abc123", "--reason", "superseded"], "990000"),
        (["--ca", "330000", "--serial", "xyz", "--reason", "superseded"], "hexadecimal"),
        (["--ca", "330000", "--serial", "abc"], "reason"),
    ],
)
def test_cli_revoke_refuses_bad_input(
    federation: Federation, args: list[str], fragment: str
) -> None:
    assert_one_line_error(run_cli(federation, "ca", "revoke", *args), fragment)


def test_cli_revoke_twice_is_one_line(federation: Federation) -> None:
    serial = _serial(issue_test_certificate(federation))
    args = ["ca", "revoke", "--ca", "330000", "--serial", serial, "--reason", "superseded"]
    assert run_cli(federation, *args).returncode == 0
    assert_one_line_error(run_cli(federation, *args), "was revoked at")
