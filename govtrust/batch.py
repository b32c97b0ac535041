"""Batch issuance: many licences from a CSV or JSON Lines file, on every core, resumable.

Every row carries a key of the caller's (`key`) that becomes the licence's idempotency key,
so a rerun skips what is done and a crash loses nothing already sealed: each licence is
committed on its own, and its PDF is written (atomically) only after the commit. A row whose
licence exists but whose file is missing gets its file written again.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from ca.models import Department
from govtrust.settings import Settings
from licence_registry.lifecycle import IDEMPOTENCY_KEY, IssueRequest
from licence_registry.models import Licence
from seal_service.levels import PadesLevel
from verifier.errors import InputError
from verifier.identifiers import HolderIdType

if TYPE_CHECKING:
    from govtrust.issuance import LicenceOffice
    from govtrust.runtime import Runtime

MAX_INPUT_BYTES = 256 * 1024 * 1024
COLUMNS = ("key", "region", "department", "type", "holder_name", "holder_id")
OPTIONAL_COLUMNS = ("holder_id_type",)


@dataclass(frozen=True)
class BatchRow:
    line: int
    key: str
    request: IssueRequest


@dataclass
class BatchResult:
    issued: int = 0
    already_done: int = 0
    files_restored: int = 0  # issued by an earlier run whose PDF file was missing
    failed: list[tuple[BatchRow, str]] = field(default_factory=list)


def read_batch(path: Path) -> list[BatchRow]:
    """Rows of a .csv (header row naming the columns) or .jsonl file; InputError naming the
    line for anything malformed, so nothing starts until the whole file is readable."""
    if path.suffix.lower() not in (".csv", ".jsonl"):
        raise InputError(f"{path}: the batch file must be .csv or .jsonl")
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise InputError(f"{path}: larger than {MAX_INPUT_BYTES} bytes")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as UTF-8 text ({type(exc).__name__})") from None
    records = _csv_records(text) if path.suffix.lower() == ".csv" else _jsonl_records(text)
    rows, seen = [], set()
    for line, record in records:
        row = _row(path, line, record)
        if row.key in seen:
            raise InputError(f"{path}:{line}: key {row.key!r} appears twice")
        seen.add(row.key)
        rows.append(row)
    if not rows:
        raise InputError(f"{path}: no rows")
    return rows


def _csv_records(text: str) -> Iterator[tuple[int, dict[str, object]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InputError(f"batch CSV header lacks column(s): {', '.join(missing)}")
    for record in reader:
        yield reader.line_num, dict(record)


def _jsonl_records(text: str) -> Iterator[tuple[int, dict[str, object]]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            raise InputError(f"line {line}: not a JSON object") from None
        if not isinstance(record, dict):
            raise InputError(f"line {line}: not a JSON object")
        yield line, record


def _row(path: Path, line: int, record: dict[str, object]) -> BatchRow:
    unknown = set(record) - set(COLUMNS) - set(OPTIONAL_COLUMNS)
    if unknown:
        raise InputError(f"{path}:{line}: unknown field(s) {', '.join(sorted(unknown))}")
    values: dict[str, str] = {}
    for column in COLUMNS:
        value = record.get(column)
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{path}:{line}: {column} is missing or not text")
        values[column] = value.strip()
    if not IDEMPOTENCY_KEY.fullmatch(values["key"]):
        raise InputError(f"{path}:{line}: key must be 1 to 100 of A-Z a-z 0-9 . _ : -")
    id_type = record.get("holder_id_type") or None
    try:
        holder_id_type = HolderIdType(id_type) if id_type else None
    except ValueError:
        raise InputError(f"{path}:{line}: holder_id_type {id_type!r} is not known") from None
    request = IssueRequest(
        values["region"],
        values["department"],
        values["type"],
        values["holder_name"],
        values["holder_id"],
        holder_id_type,
    )
    return BatchRow(line, values["key"], request)


def output_path(out_dir: Path, key: str) -> Path:
    return out_dir / f"{key}.pdf"


def run_batch(
    settings: Settings,
    rows: list[BatchRow],
    out_dir: Path,
    *,
    workers: int | None = None,
    level: PadesLevel | None = None,
    progress: Callable[[int], None] = lambda _: None,
) -> BatchResult:
    """Issue every row not done yet across `workers` processes (default: every core)."""
    from govtrust.runtime import Runtime

    out_dir.mkdir(parents=True, exist_ok=True)
    result = BatchResult()
    runtime = Runtime(settings)
    done = _done_keys(runtime, [row.key for row in rows])
    # Keys are each department's own: a row is done by its own department's licence.
    runtime.database.engine.dispose()
    todo = []
    for row in rows:
        if _place(row) in done and output_path(out_dir, row.key).exists():
            result.already_done += 1
            progress(1)
        else:
            todo.append(row)
    if not todo:
        return result
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    # Spawned, not forked: a forked worker would share the parent's database connections.
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(settings, level),
    ) as pool:
        outcomes = pool.map(_issue_row, todo, [out_dir] * len(todo), chunksize=4)
        for row, error in zip(todo, outcomes, strict=True):
            if error is None and _place(row) in done:
                result.files_restored += 1
            elif error is None:
                result.issued += 1
            else:
                result.failed.append((row, error))
            progress(1)
    return result


def _place(row: BatchRow) -> tuple[str, str, str]:
    return row.request.region, row.request.department, row.key


def _done_keys(runtime: Runtime, keys: list[str]) -> set[tuple[str, str, str]]:
    """(region, department, key) of every licence already recorded under one of `keys`."""
    done: set[tuple[str, str, str]] = set()
    with runtime.database.transaction() as session:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found = session.execute(
                select(Department.region_code, Department.code, Licence.idempotency_key)
                .join(Department, Department.id == Licence.department_id)
                .where(Licence.idempotency_key.in_(chunk))
            )
            done.update((region, code, str(key)) for region, code, key in found)
    return done


# One per worker process: keys, sealers and fonts are loaded once, not per row.
_worker: list[LicenceOffice] = []


def _start_worker(settings: Settings, level: PadesLevel | None) -> None:
    from govtrust.issuance import LicenceOffice
    from govtrust.runtime import Runtime

    _worker.append(LicenceOffice.for_pdf(Runtime(settings), level))


def _issue_row(row: BatchRow, out_dir: Path) -> str | None:
    """Issue (or find) the row's licence and write its PDF; the error text if refused."""
    try:
        licence = _worker[0].issue(row.request, idempotency_key=row.key)
    except InputError as exc:
        return str(exc)
    path = output_path(out_dir, row.key)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(licence.pdf)
    tmp.replace(path)
    return None
