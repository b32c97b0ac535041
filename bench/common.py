"""Helpers for the benchmarks: timing loops, a table printer, a throw-away federation."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from govtrust.devinit import dev_init
from govtrust.runtime import Runtime
from govtrust.settings import Settings


@dataclass
class Row:
    name: str
    value: str
    note: str = ""


def rate(operation: Callable[[], object], *, seconds: float = 1.0, rounds: int = 3) -> float:
    """Median operations per second over `rounds` runs of about `seconds` each."""
    results = []
    for _ in range(rounds):
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            operation()
            count += 1
        results.append(count / elapsed)
    return statistics.median(results)


def raw_ecdsa_sign_rate() -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    data = b"x" * 64
    return rate(lambda: key.sign(data, ec.ECDSA(hashes.SHA256())))


def raw_ecdsa_verify_rate() -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    data = b"x" * 64
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()
    return rate(lambda: public.verify(signature, data, ec.ECDSA(hashes.SHA256())))


def bench_federation(database_url: str | None = None) -> Runtime:
    """A fresh dev federation in a temporary home (SQLite unless a URL is given)."""
    home = Path(tempfile.mkdtemp(prefix="govtrust-bench-"))
    settings = Settings(home=home, database_url=database_url, dev_mode=True)
    dev_init(settings, force=True)
    return Runtime(settings)


def print_table(title: str, rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows)
    value_width = max(len(r.value) for r in rows)
    print(f"\n## {title}\n")
    print(f"| {'measure'.ljust(width)} | {'result'.rjust(value_width)} | note |")
    print(f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|------|")
    for row in rows:
        print(f"| {row.name.ljust(width)} | {row.value.rjust(value_width)} | {row.note} |")
