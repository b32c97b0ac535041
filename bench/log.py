"""Transparency-log benchmark: appends per second (one transaction each), and the cost of a
root, an inclusion proof and a consistency proof in a log of a million leaves, beside raw
SHA-256 hashes per second in the same run.

    .venv/bin/python -m bench.log [--leaves 1000000] [--quick]

SQLite always (a fresh file); PostgreSQL too when GOVTRUST_BENCH_DATABASE_URL is set (the
bench's own regions are deleted afterwards). The big log is filled by a bulk path that
exists only here (nodes computed in memory, bulk-inserted), not by a million transactions.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import delete

from bench.common import Row, print_table, rate
from ca.counters import bump_counter, set_counter
from ca.models import Counter
from govtrust.db import Database, upgrade
from licence_registry.log_models import LogCheckpointRow, LogLeaf, LogNode
from licence_registry.transparency import (
    LogSigner,
    append_leaf,
    canonical_json,
    consistency_proof,
    inclusion_proof,
    root_at,
    sign_checkpoint,
)
from verifier import merkle
from verifier.checkpoint import log_origin
from verifier.timeutil import utc_now

BENCH_DATABASE_URL_ENV = "GOVTRUST_BENCH_DATABASE_URL"


def raw_sha256_rate() -> float:
    """SHA-256 of one interior node's input (0x01 || two hashes): the log's unit of work."""
    data = b"\x01" + b"x" * 64
    return rate(lambda: hashlib.sha256(data).digest())


def bench_region(kind: str) -> str:
    return f"bench-{kind}-{secrets.token_hex(4)}"


def leaf_bytes(n: int) -> bytes:
    return b'{"n":%d,"type":"bench"}' % n


def write_floor(database: Database) -> float:
    """Transactions per second that only bump one counter: what any append costs at least."""
    name = bench_region("floor")

    def bump() -> None:
        with database.transaction() as session:
            bump_counter(session, name)

    floor = rate(bump)
    with database.transaction() as session:
        session.execute(delete(Counter).where(Counter.name == name))
    return floor


def append_rates(database: Database, threads: int) -> tuple[float, float]:
    """Appends per second, one transaction each: one writer, then `threads` writers."""
    region = bench_region("append")

    def append_one() -> None:
        with database.transaction() as session:
            append_leaf(session, region, {"type": "bench", "n": 0})

    single = rate(append_one)
    stop = time.perf_counter() + 3.0
    counts = [0] * threads

    def worker(slot: int) -> None:
        while time.perf_counter() < stop:
            append_one()
            counts[slot] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(slot,)) for slot in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    concurrent = sum(counts) / (time.perf_counter() - started)
    forget(database, region)
    return single, concurrent


def tree_levels(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    levels = [leaf_hashes]
    while len(levels[-1]) >= 2:
        below = levels[-1]
        levels.append(
            [merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        )
    return levels


def bulk_fill(database: Database, region: str, count: int) -> float:
    """Put `count` leaves and every complete subtree into the tables; return seconds."""
    started = time.perf_counter()
    assert leaf_bytes(7) == canonical_json({"type": "bench", "n": 7})
    leaf_hashes = [merkle.leaf_hash(leaf_bytes(n)) for n in range(count)]
    levels = tree_levels(leaf_hashes)
    now = utc_now()
    leaves = ((region, n, leaf_bytes(n), leaf_hashes[n], now, None) for n in range(count))
    nodes = (
        (region, level, index, value)
        for level, values in enumerate(levels)
        for index, value in enumerate(values)
    )
    if database.engine.dialect.name == "postgresql":
        _copy_rows(database, leaves, nodes)
    else:
        _insert_rows(database, leaves, nodes)
    with database.transaction() as session:
        set_counter(session, f"log:{region}", count)
    return time.perf_counter() - started


_LEAF_COLUMNS = ("region_code", "index", "leaf", "leaf_hash", "appended_at", "licence_identifier")
_NODE_COLUMNS = ("region_code", "level", "index", "hash")


def _insert_rows(
    database: Database, leaves: Iterator[tuple[Any, ...]], nodes: Iterator[tuple[Any, ...]]
) -> None:
    dialect = database.engine.dialect
    stored_time = LogLeaf.__table__.c.appended_at.type.bind_processor(dialect)
    assert stored_time is not None

    def stored(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        for region, index, leaf, hashed, at, identifier in rows:
            yield region, index, leaf, hashed, stored_time(at), identifier

    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, columns, rows in (
            ("log_leaf", _LEAF_COLUMNS, stored(leaves)),
            ("log_node", _NODE_COLUMNS, nodes),
        ):
            names = ", ".join(f'"{column}"' for column in columns)
            marks = ", ".join("?" for _ in columns)
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        raw.commit()
    finally:
        raw.close()


def _copy_rows(
    database: Database, leaves: Iterator[tuple[Any, ...]], nodes: Iterator[tuple[Any, ...]]
) -> None:
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, columns, rows in (
            ("log_leaf", _LEAF_COLUMNS, leaves),
            ("log_node", _NODE_COLUMNS, nodes),
        ):
            names = ", ".join(f'"{column}"' for column in columns)
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        raw.commit()
        cursor.execute("ANALYZE log_leaf")
        cursor.execute("ANALYZE log_node")
        raw.commit()
    finally:
        raw.close()


def timings(operation: Callable[[int], object], arguments: list[int]) -> tuple[float, float]:
    """Median and 99th percentile, in milliseconds, of `operation` over `arguments`."""
    spent = []
    for argument in arguments:
        started = time.perf_counter()
        operation(argument)
        spent.append((time.perf_counter() - started) * 1000)
    spent.sort()
    return statistics.median(spent), spent[min(len(spent) - 1, int(len(spent) * 0.99))]


def throwaway_signer(region: str) -> LogSigner:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench log")])
    now = utc_now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    return LogSigner(region, certificate, key, log_origin(region))


def big_log_rows(database: Database, label: str, count: int, samples: int) -> list[Row]:
    region = bench_region("big")
    filled = bulk_fill(database, region, count)
    picks = [secrets.randbelow(count) for _ in range(samples)]
    older = [1 + secrets.randbelow(count - 1) for _ in range(samples)]
    rows = [Row(f"{label}: bulk fill, {count:,} leaves", f"{filled:,.1f} s", "bench-only path")]
    try:
        with database.transaction() as session:
            inclusion_proof(session, region, 0, count)  # warm the statement caches
            consistency_proof(session, region, 1, count)
            root = timings(lambda _: root_at(session, region, count), picks[:50])
            inclusion = timings(lambda i: inclusion_proof(session, region, i, count), picks)
            inclusion_old = timings(lambda i: inclusion_proof(session, region, i // 2, i), older)
            consistency = timings(
                lambda size: consistency_proof(session, region, size, count), older
            )
        signer = throwaway_signer(region)
        with database.transaction() as session:
            started = time.perf_counter()
            sign_checkpoint(session, signer, region, now=utc_now())
            signing = (time.perf_counter() - started) * 1000
    finally:
        forget(database, region)
    at = f"at {count:,}"
    return [
        *rows,
        Row(f"{label}: root {at}", _ms(root), "median / p99"),
        Row(f"{label}: inclusion proof {at}", _ms(inclusion), "target < 5 ms; median / p99"),
        Row(f"{label}: inclusion proof, older sizes", _ms(inclusion_old), "median / p99"),
        Row(f"{label}: consistency proof {at}", _ms(consistency), "median / p99"),
        Row(f"{label}: sign checkpoint {at}", f"{signing:.1f} ms", "root + self-check + store"),
    ]


def _ms(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.2f} / {pair[1]:.2f} ms"


def forget(database: Database, region: str) -> None:
    with database.transaction() as session:
        for table in (LogLeaf, LogNode, LogCheckpointRow):
            session.execute(delete(table).where(table.region_code == region))
        session.execute(delete(Counter).where(Counter.name.in_([f"log:{region}"])))


def database_rows(label: str, database: Database, count: int, samples: int) -> list[Row]:
    upgrade(database.engine)
    floor = write_floor(database)
    single, concurrent = append_rates(database, threads=4)
    return [
        Row(f"{label}: floor, 1 counter bump per transaction", f"{floor:,.0f}/s", "same run"),
        Row(f"{label}: append, 1 transaction each", f"{single:,.0f}/s", "target >= 500/s"),
        Row(f"{label}: append, 4 threads", f"{concurrent:,.0f}/s", "serialised per region"),
        *big_log_rows(database, label, count, samples),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 leaves, fewer samples")
    args = parser.parse_args()
    count = 100_000 if args.quick else args.leaves
    samples = 200 if args.quick else 1000
    rows = [Row("raw SHA-256 (65-byte node input)", f"{raw_sha256_rate():,.0f}/s", "same run")]
    home = Path(tempfile.mkdtemp(prefix="govtrust-bench-log-"))
    sqlite = Database(f"sqlite:///{home / 'var' / 'log.db'}")
    try:
        rows += database_rows("SQLite", sqlite, count, samples)
    finally:
        sqlite.engine.dispose()
        shutil.rmtree(home, ignore_errors=True)
    url = os.environ.get(BENCH_DATABASE_URL_ENV)
    if url:
        postgres = Database(url)
        rows += database_rows("PostgreSQL", postgres, count, samples)
        postgres.engine.dispose()
    print_table("transparency log (RFC 9162, stored complete subtrees)", rows)


if __name__ == "__main__":
    main()
