"""Registry benchmark: licences issued through the HTTP API with and without sealing, log
appends and proofs, a status list rebuilt for a million licences, each beside raw ECDSA
P-256 signs, raw SHA-256 or a naive baseline measured in the same run.

    .venv/bin/python -m bench.registry [--quick]

Issuance goes through a real server: uvicorn on 127.0.0.1 in a subprocess (one worker, as
`govtrust serve` starts it), driven by 8 client threads in this process, each POSTing
business licences over its own kept-alive connection (httpx) with a clerk's bearer token.
"Sealed" is the app as built (the type's PAdES level). "Unsealed" is the same app with
`get_office` giving an office whose sealer returns a fixed PDF: the registry path alone
(serial, status index, credential signature, record, event, log leaf). The log figures are
bench/log.py's own functions on the same database. Licence rows for the status list are
bulk-inserted for region 990000 only (bench-only path; 100,000 with --quick, else
1,000,000); the in-memory rebuild always has 1,000,000 licences.

SQLite always (a fresh file); PostgreSQL too when GOVTRUST_BENCH_DATABASE_URL is set (a
fresh database on that server, dropped afterwards).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
from fastapi import FastAPI
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.orm import Session

from bench.ca import free_port
from bench.common import Row, bench_federation, print_table, rate, raw_ecdsa_sign_rate
from bench.log import BENCH_DATABASE_URL_ENV, database_rows, raw_sha256_rate, timings
from ca.registry import find_department
from govtrust.api import licences
from govtrust.app import create_app
from govtrust.db import Database
from govtrust.issuance import LicenceOffice, SealingService
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from identity.signin import ACR_PASSWORD, API_AUDIENCE
from licence_registry import IssueRequest
from licence_registry.catalogue import licence_type
from licence_registry.lifecycle import LicenceContent
from licence_registry.models import Licence, LicenceStatus
from licence_registry.status_lists import (
    LIST_SIZE,
    LIST_TTL,
    LIST_VALIDITY,
    STATUS_VALUES,
    StatusSigner,
    publish_status_list,
)
from seal_service.levels import PadesLevel
from verifier.identifiers import HolderIdType, make_uscc
from verifier.status_list import (
    compress_list,
    encode_status_list,
    pack_sparse,
    pack_statuses,
    sign_status_list,
)
from verifier.timeutil import utc_now

CLIENTS = 8
REGION, DEPARTMENT = "330000", "amr"
BENCH_REGION = "990000"
NON_ACTIVE = 0.02
MILLION = 1_000_000
LEVEL = licence_type("business-licence").pades_level
FIXED_PDF = b"%PDF-1.7\n% govtrust bench: not a sealed licence\n%%EOF\n"
ROOT = Path(__file__).resolve().parents[1]
ISSUE_PATH = f"/api/v1/departments/{REGION}/{DEPARTMENT}/licences"
_numbers = itertools.count(1)


def fixed_pdf(_session: Session, _content: LicenceContent) -> bytes:
    return FIXED_PDF


class UnsealedOffice(LicenceOffice):
    @classmethod
    def for_pdf(cls, runtime: Runtime, level: PadesLevel | None = None) -> LicenceOffice:
        return cls(runtime, cast(SealingService, fixed_pdf))


def unsealed_app() -> FastAPI:
    """uvicorn factory: the server's app, but issuance records a fixed PDF instead of sealing.

    Done by rebinding the class `get_office` calls (in the server process only), not with
    `app.dependency_overrides`: once any override is set, FastAPI re-analyses every
    dependency of every request (about 2.5 ms each here), which the real server never pays."""
    licences.LicenceOffice = UnsealedOffice
    return create_app(Settings(), background=True)


def issue_body() -> dict[str, str]:
    n = next(_numbers)
    return {
        "licence_type": "business-licence",
        "holder_name": f"杭州登记基准第{n}号科技有限公司",
        "holder_id": make_uscc("9", "1", "330100", f"{n:08d}"),
    }


def drive(base: str, token: str, seconds: float) -> tuple[float, list[float], list[str]]:
    """CLIENTS threads POSTing issuances for `seconds`, each waiting for its answer:
    issuances per second, sorted latencies (ms) and the error answers."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def client() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                answer = http.post(ISSUE_PATH, json=issue_body())
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 201:
                    errors.append(f"{answer.status_code} {answer.text[:200]}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - started), sorted(latencies), errors


@contextmanager
def server(runtime: Runtime, factory: str) -> Iterator[str]:
    """uvicorn serving `factory` on a free loopback port; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVTRUST_")}
    env |= {
        "GOVTRUST_HOME": str(runtime.settings.home),
        "GOVTRUST_DATABASE_URL": runtime.settings.effective_database_url,
    }
    command = [sys.executable, "-m", "uvicorn", factory, "--factory", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{factory} did not start on port {port}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def issuance_rows(label: str, runtime: Runtime, seconds: float, signs: float) -> list[Row]:
    rows = []
    for kind, factory in (
        ("unsealed", "bench.registry:unsealed_app"),
        (f"sealed {LEVEL}", "govtrust.app:create_app_from_environment"),
    ):
        token = runtime.identity_issuer(REGION).issue(
            "bench-clerk", API_AUDIENCE, ["clerk"], ACR_PASSWORD, department=DEPARTMENT
        )
        with server(runtime, factory) as base:
            drive(base, token, 1.0)  # warm: keys, font, TSA, OCSP, connection pools
            per_second, spent, errors = drive(base, token, seconds)
        if errors:
            print(f"{label} {kind}: first error: {errors[0]}", file=sys.stderr)
        p99 = spent[min(len(spent) - 1, int(len(spent) * 0.99))]
        note = (
            f"{CLIENTS} clients, p50 {statistics.median(spent):,.0f} ms, p99 {p99:,.0f} ms, "
            f"n={len(spent)}, {len(errors)} errors; {per_second / signs:.2%} of raw signs"
        )
        rows.append(Row(f"{label}: API issuance, {kind}", f"{per_second:,.1f}/s", note))
    office = LicenceOffice(runtime, cast(SealingService, fixed_pdf))

    def issue() -> None:
        office.issue(IssueRequest(REGION, DEPARTMENT, **issue_body()))

    issue()
    in_process = rate(issue, seconds=seconds / 3)
    note = "one thread, no HTTP, no auth, no view: the registry path alone"
    return [
        *rows,
        Row(f"{label}: issue_licence in process, unsealed", f"{in_process:,.1f}/s", note),
    ]


def sample_licences(count: int, fraction: float) -> tuple[list[int], dict[int, LicenceStatus]]:
    """Distinct random status indices of `count` licences, and the status of the non-active
    share of them: three in four revoked, the rest suspended."""
    rng = random.Random(count)
    indices = rng.sample(range(LIST_SIZE), count)
    changed = {
        index: LicenceStatus.REVOKED if rng.random() < 0.75 else LicenceStatus.SUSPENDED
        for index in indices[: int(count * fraction)]
    }
    return indices, changed


def entries(count: int, fraction: float) -> list[tuple[int, int]]:
    return [(i, STATUS_VALUES[s]) for i, s in sample_licences(count, fraction)[1].items()]


def sign_list(packed: bytes, signer: StatusSigner) -> str:
    now = utc_now()
    payload = encode_status_list(
        packed, region=signer.region, issued_at=now, expires_at=now + LIST_VALIDITY, ttl=LIST_TTL
    )
    return sign_status_list(
        payload, signer.private_key, [signer.certificate, signer.ca_certificate]
    )


def median_ms(operation: Callable[[], object], repeats: int) -> float:
    return timings(lambda _: operation(), list(range(repeats)))[0]


def status_memory_rows(signer: StatusSigner, repeats: int) -> list[Row]:
    changed = entries(MILLION, NON_ACTIVE)
    packed = pack_sparse(LIST_SIZE, changed)
    pack = median_ms(lambda: pack_sparse(LIST_SIZE, changed), repeats)
    squeeze = median_ms(lambda: compress_list(packed), repeats)
    whole = median_ms(lambda: sign_list(pack_sparse(LIST_SIZE, changed), signer), repeats)
    size = len(sign_list(packed, signer))

    def naive() -> str:
        by_index = dict(changed)
        return sign_list(pack_statuses([by_index.get(i, 0) for i in range(LIST_SIZE)]), signer)

    slow = median_ms(naive, max(1, repeats // 2))
    every = entries(MILLION, 1.0)
    worst = median_ms(lambda: sign_list(pack_sparse(LIST_SIZE, every), signer), 1)
    return [
        Row(
            "status list, 1,000,000 licences, 2% non-active",
            f"{whole:,.1f} ms",
            f"target < 1 s; in memory: pack {pack:.1f} ms, zlib-9 + base64 {squeeze:.1f} ms, "
            f"rest (claims, ES256) the remainder; token {size / 1024:,.1f} KiB",
        ),
        Row(
            "naive: the same list built value by value",
            f"{slow:,.1f} ms",
            f"2^20 Python ints + pack_statuses, same compress + sign; {slow / whole:.1f}x slower",
        ),
        Row("status list, all 1,000,000 non-active", f"{worst:,.1f} ms", "worst case, in memory"),
    ]


_LICENCE_COLUMNS = (
    "identifier", "type_name", "department_id", "serial", "version", "holder_name",
    "holder_id_type", "holder_id_hash", "holder_id_encrypted", "holder_id_masked", "status",
    "issued_at", "valid_from", "pdf", "pdf_sha256", "region_code", "status_index",
)  # fmt: skip


def licence_rows(database: Database, department_id: int, count: int) -> Iterator[tuple[Any, ...]]:
    """`count` minimal licences of BENCH_REGION, 2% revoked or suspended (in index order:
    the indices are random, the insertion order need not be)."""
    issued_at, valid_from = (
        _stored(database, "issued_at", utc_now()),
        _stored(database, "valid_from", utc_now().date()),
    )
    indices, changed = sample_licences(count, NON_ACTIVE)
    pdf_sha256 = hashlib.sha256(FIXED_PDF).hexdigest()
    uscc = str(HolderIdType.USCC)
    for n, index in enumerate(sorted(indices)):
        status = changed.get(index, LicenceStatus.ACTIVE).value
        yield (
            f"BENCH-{n:07d}", "business-licence", department_id, n + 1, 1, "基准测试有限公司",
            uscc, "0" * 64, b"\x00", "91330100********", status, issued_at, valid_from,
            FIXED_PDF, pdf_sha256, BENCH_REGION, index,
        )  # fmt: skip


def _stored(database: Database, column: str, value: object) -> object:
    """`value` as SQLAlchemy would bind it to the raw driver (SQLite has no aware times)."""
    if database.engine.dialect.name != "sqlite":
        return value
    bind = Licence.__table__.c[column].type.bind_processor(database.engine.dialect)
    return bind(value) if bind else value


def bulk_insert(database: Database, rows: Iterable[tuple[Any, ...]]) -> None:
    names = ", ".join(f'"{column}"' for column in _LICENCE_COLUMNS)
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if database.engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY licence ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
            raw.commit()
            cursor.execute("ANALYZE licence")
        else:
            marks = ", ".join("?" for _ in _LICENCE_COLUMNS)
            cursor.executemany(f"INSERT INTO licence ({names}) VALUES ({marks})", rows)
        raw.commit()
    finally:
        raw.close()


def status_database_rows(label: str, runtime: Runtime, count: int) -> list[Row]:
    database = runtime.database
    with database.transaction() as session:
        department_id = find_department(session, REGION, DEPARTMENT).id
    started = time.perf_counter()
    bulk_insert(database, licence_rows(database, department_id, count))
    filled = time.perf_counter() - started
    signer = dataclasses.replace(runtime.status_signer(REGION), region=BENCH_REGION)
    non_active = select(Licence.status_index, Licence.status).where(
        Licence.region_code == BENCH_REGION,
        Licence.status != LicenceStatus.ACTIVE,
        Licence.status_index >= 0,
    )

    def publish() -> None:
        with database.transaction() as session:
            publish_status_list(session, signer, 0, utc_now())

    def query() -> int:
        with database.transaction() as session:
            return len(session.execute(non_active).all())

    publish()  # warm
    whole, read = median_ms(publish, 3), median_ms(query, 3)
    at = f"{count:,} licences"
    return [
        Row(f"{label}: bulk insert, {at}", f"{filled:,.1f} s", "bench-only path, 2% non-active"),
        Row(
            f"{label}: publish_status_list, {at}",
            f"{whole:,.1f} ms",
            f"target < 1 s (at 1,000,000); median of 3; query alone {read:,.1f} ms "
            f"for {query():,} non-active rows",
        ),
    ]


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A brand-new database on the server of `server_url`, dropped afterwards."""
    url = make_url(server_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"govtrust_bench_{os.urandom(4).hex()}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def federation(database_url: str | None) -> Iterator[Runtime]:
    runtime = bench_federation(database_url)
    try:
        yield runtime
    finally:
        runtime.database.engine.dispose()
        shutil.rmtree(runtime.settings.home, ignore_errors=True)


def backend_rows(label: str, runtime: Runtime, quick: bool, signs: float) -> list[Row]:
    size = 100_000 if quick else MILLION
    return [
        *issuance_rows(label, runtime, 3.0 if quick else 8.0, signs),
        *database_rows(label, runtime.database, size, 200 if quick else 1000),
        *status_database_rows(label, runtime, size),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, 100,000 rows")
    args = parser.parse_args()
    signs = raw_ecdsa_sign_rate()
    rows = [
        Row(
            "raw ECDSA P-256 signs",
            f"{signs:,.0f}/s",
            "one core, same run; an unsealed issuance signs 1 credential, a sealed one adds "
            "the seal, its timestamps and OCSP",
        ),
        Row("raw SHA-256 (65-byte node input)", f"{raw_sha256_rate():,.0f}/s", "same run"),
    ]
    with federation(None) as runtime:
        signer = dataclasses.replace(runtime.status_signer(REGION), region=BENCH_REGION)
        rows += status_memory_rows(signer, 3 if args.quick else 7)
        rows += backend_rows("SQLite", runtime, args.quick, signs)
    url = os.environ.get(BENCH_DATABASE_URL_ENV)
    if url:
        with postgres_database(url) as fresh, federation(fresh) as runtime:
            rows += backend_rows("PostgreSQL", runtime, args.quick, signs)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    servers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows.append(
        Row("peak memory", f"{own:,.0f} MB", f"this process; servers up to {servers:,.0f} MB")
    )
    print_table("licence registry (bench/registry.py)", rows)


if __name__ == "__main__":
    main()
