"""CA benchmark: issuance, CRLs, OCSP over loopback HTTP and TSA, beside raw ECDSA.

    .venv/bin/python -m bench.ca [--quick]

Prints one table. Everything runs on this machine, loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from datetime import timedelta

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from bench.common import Row, bench_federation, print_table, rate, raw_ecdsa_sign_rate
from bench.loadgen import run_load
from ca.authority import get_authority, issue_certificate, record_certificate
from ca.lint import lint_certificate
from ca.models import IssuedCertificate
from ca.profiles import NATIONAL_ROOT, SEAL, build_certificate, subject_name
from ca.revocation import CrlEntry, build_crl
from govtrust.runtime import Runtime
from verifier.timeutil import utc_now

SEAL_SUBJECT = subject_name(
    "基准测试印章",
    organization="基准测试局",
    organization_identifier="113300003300010149",
    province="浙江省",
)


def issuance_rows(runtime: Runtime, count: int) -> list[Row]:
    issuer = runtime.issuer("330000")
    keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(count)]
    started = time.perf_counter()
    for key in keys:
        build_certificate(SEAL, SEAL_SUBJECT, key, issuer=issuer)
    builder_rate = count / (time.perf_counter() - started)
    started = time.perf_counter()
    built = []
    for key in keys:
        cert = build_certificate(SEAL, SEAL_SUBJECT, key, issuer=issuer)
        lint_certificate(cert, SEAL, issuer.certificate)
        built.append(cert)
    build_rate = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for cert in built:
        with runtime.database.transaction() as session:
            record_certificate(session, "330000", SEAL, cert)
    db_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for key in keys:
        with runtime.database.transaction() as session:
            issue_certificate(session, "330000", issuer, SEAL, SEAL_SUBJECT, key)
    total_seconds = time.perf_counter() - started
    return [
        Row(
            "certificate build only (cryptography builder)",
            f"{builder_rate:,.0f}/s",
            "the floor under any issuance",
        ),
        Row(
            "certificate issuance, build+lint (no DB)",
            f"{build_rate:,.0f}/s",
            "lint parses every extension back and verifies the signature",
        ),
        Row(
            "certificate issuance, build+lint+commit",
            f"{count / total_seconds:,.0f}/s",
            "one transaction per certificate, SQLite",
        ),
        Row(
            "  ... after subtracting database time",
            f"{count / max(total_seconds - db_seconds, 1e-9):,.0f}/s",
        ),
    ]


def crl_rows(sizes: list[int]) -> list[Row]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_cert = build_certificate(
        NATIONAL_ROOT, subject_name("bench CA"), key.public_key(), self_signing_key=key
    )
    rows = []
    now = utc_now()
    for size in sizes:
        entries = [
            CrlEntry(serial, now, x509.ReasonFlags.key_compromise)
            for serial in range(10**15, 10**15 + size)
        ]
        started = time.perf_counter()
        crl = build_crl(
            issuer_cert,
            key,
            entries,
            number=1,
            this_update=now,
            next_update=now + timedelta(days=1),
        )
        der = crl.public_bytes(serialization.Encoding.DER)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(
            Row(
                f"CRL with {size:,} entries",
                f"{elapsed:.2f} s",
                f"{len(der) / 1e6:.1f} MB DER; process peak RSS so far {peak:.0f} MB",
            )
        )
    return rows


def ocsp_request(runtime: Runtime) -> bytes:
    with runtime.database.transaction() as session:
        row = (
            session.query(IssuedCertificate).filter_by(issuer_code="330000", profile="seal").first()
        )
        assert row is not None
        issuer = get_authority(session, "330000").certificate
        cert = row.certificate
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    return builder.build().public_bytes(serialization.Encoding.DER)


def tsa_request() -> bytes:
    return tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": b"\x11" * 32,
            },
            "cert_req": True,
        }
    ).dump()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_rows(runtime: Runtime, seconds: float, workers: int) -> list[Row]:
    port = free_port()
    env = {**os.environ, "GOVTRUST_HOME": str(runtime.settings.home), "GOVTRUST_PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "-m", "govtrust", "serve", "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v1/ca/330000"
    try:
        _wait_for(port)
        rows = []
        for label, url, body, content_type in (
            (
                "OCSP over HTTP (pre-signed, no nonce)",
                f"{base}/ocsp",
                ocsp_request(runtime),
                "application/ocsp-request",
            ),
            ("TSA over HTTP", f"{base}/tsa", tsa_request(), "application/timestamp-query"),
        ):
            run_load(url, body, content_type, connections=4, seconds=1)  # warm-up
            result = run_load(url, body, content_type, connections=16, seconds=seconds)
            rows.append(
                Row(
                    f"{label}, {workers} worker(s)",
                    f"{result.per_second:,.0f}/s",
                    f"16 connections, p50 {result.p50:.1f} ms, "
                    f"p99 {result.percentile(99):.1f} ms, {result.errors} errors",
                )
            )
        return rows
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def in_process_rows(runtime: Runtime) -> list[Row]:
    request = ocsp_request(runtime)
    responder = runtime.ocsp_responder("330000")
    tsa = runtime.tsa("330000")
    tsa_body = tsa_request()
    with runtime.database.transaction() as session:
        ocsp_rate = rate(lambda: responder.respond(session, request))
    return [
        Row("OCSP respond() in process (pre-signed)", f"{ocsp_rate:,.0f}/s", "one DB read each"),
        Row("TSA respond() in process", f"{rate(lambda: tsa.respond(tsa_body)):,.0f}/s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    args = parser.parse_args()
    runtime = bench_federation()
    raw = raw_ecdsa_sign_rate()
    rows = [Row("raw ECDSA P-256 sign (the limit)", f"{raw:,.0f}/s", "cryptography, one core")]
    rows += issuance_rows(runtime, 200 if args.quick else 1000)
    rows += crl_rows([1_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000])
    rows += in_process_rows(runtime)
    for workers in (1, 2):
        rows += http_rows(runtime, 3 if args.quick else 10, workers)
    print_table("CA (bench/ca.py)", rows)


if __name__ == "__main__":
    main()
