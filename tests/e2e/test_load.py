"""Mixed load, bounded: issuance, OCSP, status lists and public verification together
against a real server with two worker processes (bench/load.py, shortened). Against
PostgreSQL when the suite runs on it, in a brand-new database on that server. Zero errors
expected; the long run is `make load` (README)."""

from __future__ import annotations

import os
import shutil
from contextlib import nullcontext

from bench.common import bench_federation
from bench.load import run_load_test
from bench.registry import postgres_database
from tests.conftest import TEST_DATABASE_URL_ENV


def test_mixed_load_answers_every_request_correctly() -> None:
    server_url = os.environ.get(TEST_DATABASE_URL_ENV)
    database = postgres_database(server_url) if server_url else nullcontext(None)
    with database as url:
        runtime = bench_federation(url)
        try:
            report = run_load_test(runtime, seconds=8, workers=2)
        finally:
            runtime.database.engine.dispose()
            shutil.rmtree(runtime.settings.home, ignore_errors=True)
    for operation in report.operations:
        assert operation.latencies, f"{operation.name}: no request completed"
        assert not operation.errors, f"{operation.name}: {operation.errors[:3]}"
