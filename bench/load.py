"""Mixed load on a real server: issuance, OCSP, status lists and public verification at
once, for a bounded time, on loopback, with several worker processes.

    python -m bench.load [--seconds 180] [--workers 4] [--database-url URL]

With a PostgreSQL URL (or GOVTRUST_BENCH_DATABASE_URL) it runs against a brand-new
database on that server, dropped afterwards; otherwise SQLite. Prints per operation the
throughput, p50/p99 latency and error count; exits 1 on any error. `run_load_test` is the
same run for the test suite (tests/e2e/test_load.py, a few seconds).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import count

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from sqlalchemy import select

from bench.ca import free_port
from bench.common import Row, bench_federation, print_table, raw_ecdsa_sign_rate
from bench.log import BENCH_DATABASE_URL_ENV
from bench.registry import postgres_database
from ca.models import Department, IssuedCertificate
from govtrust.runtime import Runtime
from identity.signin import ACR_PASSWORD, API_AUDIENCE
from seal_service.seals import active_seal
from verifier.identifiers import make_uscc

REGION, DEPARTMENT = "330000", "amr"
ISSUE_PATH = f"/api/v1/departments/{REGION}/{DEPARTMENT}/licences"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_serials = count(1)


@dataclass
class Operation:
    """One kind of request: its latencies (ms) and the first few errors."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, started: float, problem: str | None) -> None:
        with self.lock:
            self.latencies.append((time.perf_counter() - started) * 1000)
            if problem is not None:
                self.errors.append(problem)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else 0.0


@dataclass(frozen=True)
class LoadReport:
    seconds: float
    operations: tuple[Operation, ...]

    @property
    def errors(self) -> int:
        return sum(len(o.errors) for o in self.operations)

    def rows(self) -> list[Row]:
        rows = []
        for o in self.operations:
            note = (
                f"p50 {o.percentile(50):,.0f} ms, p99 {o.percentile(99):,.0f} ms, "
                f"n={len(o.latencies):,}, {len(o.errors)} errors"
            )
            if o.errors:
                note += f"; first: {o.errors[0][:120]}"
            rows.append(Row(o.name, f"{len(o.latencies) / self.seconds:,.1f}/s", note))
        return rows


@contextmanager
def served(runtime: Runtime, workers: int) -> Iterator[str]:
    """`govtrust serve --workers N` on a free loopback port; yields the base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVTRUST_")}
    env |= {
        "GOVTRUST_HOME": str(runtime.settings.home),
        "GOVTRUST_DATABASE_URL": runtime.settings.effective_database_url,
        "GOVTRUST_PORT": str(port),
        # every verification judges against the bundle of that moment
        "GOVTRUST_WEB_BUNDLE_SECONDS": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "govtrust", "serve", "--workers", str(workers)],
        env=env,
        cwd=runtime.settings.home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


def _ocsp_request(runtime: Runtime) -> bytes:
    """An OCSP request for the department's seal certificate."""
    with runtime.database.transaction() as session:
        department = session.scalars(
            select(Department).where(
                Department.region_code == REGION, Department.code == DEPARTMENT
            )
        ).one()
        seal = active_seal(session, department)
        certificate = session.get_one(IssuedCertificate, seal.certificate_id).certificate
    issuer = runtime.issuer(REGION).certificate
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1())
    return builder.build().public_bytes(Encoding.DER)


def _issue_body() -> dict[str, str]:
    n = next(_serials)
    return {
        "licence_type": "food-permit",
        "holder_name": f"负载测试第{n}号餐饮有限公司",
        "holder_id": make_uscc("9", "1", "330100", f"{os.getpid() % 100:02d}{n:06d}"),
    }


def _loop(
    operation: Operation, stop: float, action: Callable[[httpx.Client], str | None], base: str
) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                problem = action(client)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            operation.record(started, problem)


def _expect(response: httpx.Response, status: int) -> str | None:
    if response.status_code == status:
        return None
    return f"{response.status_code} {response.text[:200]}"


def run_load_test(
    runtime: Runtime, *, seconds: float, workers: int, clients_per_operation: int = 2
) -> LoadReport:
    """Drive the four operations together against a served `runtime` for `seconds`."""
    token = runtime.identity_issuer(REGION).issue(
        "load-clerk", API_AUDIENCE, ["clerk"], ACR_PASSWORD, department=DEPARTMENT
    )
    ocsp_request = _ocsp_request(runtime)
    with served(runtime, workers) as base:
        with httpx.Client(base_url=base, timeout=120) as http:
            first = http.post(
                ISSUE_PATH, json=_issue_body(), headers={"Authorization": f"Bearer {token}"}
            )
            first.raise_for_status()
            pdf = http.get(
                f"{ISSUE_PATH}/{first.json()['identifier']}/pdf",
                headers={"Authorization": f"Bearer {token}"},
            ).content

        def issue(client: httpx.Client) -> str | None:
            answer = client.post(
                ISSUE_PATH, json=_issue_body(), headers={"Authorization": f"Bearer {token}"}
            )
            return _expect(answer, 201)

        def check_ocsp(client: httpx.Client) -> str | None:
            answer = client.post(
                f"/api/v1/ca/{REGION}/ocsp",
                content=ocsp_request,
                headers={"Content-Type": "application/ocsp-request"},
            )
            if answer.status_code == 200:
                status = ocsp.load_der_ocsp_response(answer.content).certificate_status
                return None if status is ocsp.OCSPCertStatus.GOOD else f"OCSP said {status}"
            return _expect(answer, 200)

        def status_list(client: httpx.Client) -> str | None:
            return _expect(client.get(f"/api/v1/status-lists/{REGION}"), 200)

        forms = threading.local()  # each client's CSRF token, fetched once

        def verify(client: httpx.Client) -> str | None:
            if getattr(forms, "csrf", None) is None:
                match = _CSRF.search(client.get("/verify").text)
                forms.csrf = match.group(1) if match else ""
            csrf = forms.csrf
            answer = client.post(
                "/verify",
                data={"csrf_token": csrf},
                files={"file": ("licence.pdf", pdf, "application/pdf")},
            )
            if answer.status_code == 200 and 'id="verdict">有效' not in answer.text:
                return "the genuine licence was not judged VALID"
            return _expect(answer, 200)

        actions = {
            "issue a sealed licence (API)": issue,
            "OCSP request (API)": check_ocsp,
            "status list (API)": status_list,
            "verify an uploaded PDF (web page)": verify,
        }
        operations = tuple(Operation(name) for name in actions)
        started = time.perf_counter()
        stop = started + seconds
        threads = [
            threading.Thread(target=_loop, args=(operation, stop, action, base))
            for operation, action in zip(operations, actions.values(), strict=True)
            for _ in range(clients_per_operation)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return LoadReport(time.perf_counter() - started, operations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--database-url", default=os.environ.get(BENCH_DATABASE_URL_ENV))
    args = parser.parse_args()
    signs = raw_ecdsa_sign_rate()
    database = postgres_database(args.database_url) if args.database_url else nullcontext(None)
    with database as url:
        runtime = bench_federation(url)
        try:
            report = run_load_test(runtime, seconds=args.seconds, workers=args.workers)
        finally:
            runtime.database.engine.dispose()
            shutil.rmtree(runtime.settings.home, ignore_errors=True)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    rows = [
        Row("raw ECDSA P-256 signs", f"{signs:,.0f}/s", "one core, same run"),
        *report.rows(),
    ]
    print_table(
        f"mixed load, {backend}, {args.workers} workers, {report.seconds:.0f} s (bench/load.py)",
        rows,
    )
    sys.exit(1 if report.errors else 0)


if __name__ == "__main__":
    main()
