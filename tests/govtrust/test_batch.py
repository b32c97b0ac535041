"""`govtrust seal batch`: many licences on every core, resumable, idempotent, crash-safe."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from licence_registry.models import Licence
from tests.conftest import Federation, assert_one_line_error, run_cli
from verifier.identifiers import make_uscc
from verifier.pdf import verify_pdf
from verifier.report import Verdict
from verifier.timeutil import utc_now

CITIZEN_IDS = ("11010519491231002X", "33010619900101123X", "440305198512154561")


def rows(count: int, prefix: str) -> list[dict[str, str]]:
    """Licences of all three types, from both regions' departments."""
    made = []
    for index in range(count):
        region = ("330000", "440000")[index % 2]
        if index % 3 == 2:
            licence = {"department": "psb", "type": "no-criminal-record"}
            holder = {"holder_name": f"公民{index}", "holder_id": CITIZEN_IDS[index % 3]}
        else:
            licence = {"department": "amr", "type": ("business-licence", "food-permit")[index % 3]}
            holder_id = make_uscc("9", "1", "330100", f"MA{index:06d}"[:8])
            holder = {"holder_name": f"批量测试{index}有限公司", "holder_id": holder_id}
        made.append({"key": f"{prefix}-{index}", "region": region, **licence, **holder})
    return made


def write_csv(path: Path, records: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return path


def licences_with_keys(federation: Federation, keys: list[str]) -> dict[str, str]:
    with federation.runtime.database.transaction() as session:
        found = session.execute(
            select(Licence.idempotency_key, Licence.pdf_sha256).where(
                Licence.idempotency_key.in_(keys)
            )
        ).all()
        duplicates = session.scalar(
            select(func.count()).select_from(Licence).where(Licence.idempotency_key.in_(keys))
        )
    assert duplicates == len(found)
    return {str(key): digest for key, digest in found}


def test_batch_issues_resumes_and_rewrites_lost_files(
    federation: Federation, tmp_path: Path
) -> None:
    records = rows(6, f"b{uuid.uuid4().hex[:8]}")
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    out = tmp_path / "out"
    arguments = ("seal", "batch", "--input", str(jsonl), "--out", str(out), "--workers", "2")
    first = run_cli(federation, *arguments)
    assert first.returncode == 0, first.stderr
    assert "6 issued, 0 already done, 0 file(s) restored, 0 refused" in first.stdout
    keys = [r["key"] for r in records]
    stored = licences_with_keys(federation, keys)
    assert set(stored) == set(keys)
    bundle = federation.bundle()
    for key in keys:
        pdf = (out / f"{key}.pdf").read_bytes()
        assert hashlib.sha256(pdf).hexdigest() == stored[key]
        report = verify_pdf(pdf, bundle.trust_list, at=utc_now(), crls=bundle.crls)
        assert report.verdict is Verdict.VALID, report.reason

    (out / f"{keys[0]}.pdf").unlink()
    again = run_cli(federation, *arguments)
    assert again.returncode == 0, again.stderr
    assert "0 issued, 5 already done, 1 file(s) restored" in again.stdout
    assert hashlib.sha256((out / f"{keys[0]}.pdf").read_bytes()).hexdigest() == stored[keys[0]]
    assert licences_with_keys(federation, keys) == stored


def test_refused_rows_are_listed_and_the_rest_issued(
    federation: Federation, tmp_path: Path
) -> None:
    records = rows(3, f"r{uuid.uuid4().hex[:8]}")
    records[1]["holder_id"] = "110105194912310021"  # wrong check digit
    source = write_csv(tmp_path / "rows.csv", records)
    result = run_cli(federation, "seal", "batch", "--input", str(source), "--out", str(tmp_path))
    assert_one_line_error(result, "1 row(s) refused", "refused.jsonl")
    (refused,) = [
        json.loads(line) for line in (tmp_path / "refused.jsonl").read_text().splitlines()
    ]
    assert refused["key"] == records[1]["key"] and refused["line"] == 3
    assert "check" in refused["error"]
    assert set(licences_with_keys(federation, [r["key"] for r in records])) == {
        records[0]["key"],
        records[2]["key"],
    }


def test_malformed_input_is_refused_before_anything_is_issued(
    federation: Federation, tmp_path: Path
) -> None:
    cases = {
        "no-key.csv": "region,department,type,holder_name,holder_id\n330000,amr,x,y,z\n",
        "twice.jsonl": '{"key":"a","region":"1","department":"d","type":"t","holder_name":"n",'
        '"holder_id":"i"}\n' * 2,
        "not-json.jsonl": "{oops\n",
        "rows.txt": "whatever\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = run_cli(federation, "seal", "batch", "--input", str(path), "--out", str(tmp_path))
        assert_one_line_error(result)


def test_a_killed_batch_loses_nothing_and_a_rerun_completes_it(
    federation: Federation, tmp_path: Path
) -> None:
    records = rows(16, f"k{uuid.uuid4().hex[:8]}")
    source = write_csv(tmp_path / "rows.csv", records)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "govtrust", "seal", "batch", "--input", str(source)]
    command += ["--out", str(out), "--workers", "2"]
    process = subprocess.Popen(
        command,
        env={k: v for k, v in os.environ.items() if not k.startswith("GOVTRUST_")}
        | federation.env(),
        cwd=federation.home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*.pdf"))) < 3:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the batch and its workers, mid-flight
    process.wait(timeout=30)
    keys = [r["key"] for r in records]
    written = {p.stem for p in out.glob("*.pdf")}
    stored = licences_with_keys(federation, keys)
    assert len(written) >= 3 and written <= set(stored)  # every file has its committed licence
    for key in written:
        assert hashlib.sha256((out / f"{key}.pdf").read_bytes()).hexdigest() == stored[key]

    rerun = run_cli(federation, "seal", "batch", "--input", str(source), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    final = licences_with_keys(federation, keys)  # asserts one licence per key
    assert set(final) == set(keys)
    assert {p.stem for p in out.glob("*.pdf")} == set(keys)
