"""Acceptance: `govtrust audit` against a real server and its real database, tampered with
in SQL the way an insider would: a rewritten or deleted log row, a status list that does
not match its log entry, a licence's status flipped without an event, a fork.

Tampering runs on private federations (SQLite), never the shared one; a tamper that can be
undone is undone before its test ends, so the module's federation stays honest."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from govtrust.app import create_app
from govtrust.bundle import export_bundle
from govtrust.cli import main
from licence_registry.changes import get_licence, revoke_licence, suspend_licence
from licence_registry.transparency import checkpoint_if_due
from tests.conftest import (
    Federation,
    assert_one_line_error,
    private_federation,
    run_cli,
    run_govtrust,
)
from tests.server import free_port, live_server
from verifier.audit import AuditReport, Outcome, audit_bundle, audit_server
from verifier.audit_source import HttpLogServer
from verifier.audit_state import AuditState
from verifier.bundle import RegionMaterial, encode_bundle
from verifier.checkpoint import format_signed_note, sign_checkpoint_text, signed_at_extension
from verifier.timeutil import utc_now

REGION = "330000"
REGIONS = ("330000", "440000")
Statement = tuple[str, Sequence[object]]
SELECT_LEAF = 'SELECT leaf FROM log_leaf WHERE region_code = ? AND "index" = ?'
UPDATE_LEAF = 'UPDATE log_leaf SET leaf = ? WHERE region_code = ? AND "index" = ?'
SELECT_ROW = (
    'SELECT region_code, "index", leaf, leaf_hash, appended_at, licence_identifier '
    'FROM log_leaf WHERE region_code = ? AND "index" = ?'
)
DELETE_ROW = 'DELETE FROM log_leaf WHERE region_code = ? AND "index" = ?'
INSERT_ROW = (
    'INSERT INTO log_leaf (region_code, "index", leaf, leaf_hash, appended_at, '
    "licence_identifier) VALUES (?, ?, ?, ?, ?, ?)"
)
SELECT_TOKEN = "SELECT token FROM status_list_version WHERE region_code = ? AND number = ?"
UPDATE_TOKEN = "UPDATE status_list_version SET token = ? WHERE region_code = ? AND number = ?"


@dataclass(frozen=True)
class Audited:
    federation: Federation
    base: str

    @property
    def database(self) -> Path:
        return self.federation.home / "var" / "own.db"


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    federation = private_federation(tmp_path_factory.mktemp("audited"))
    with live_server(federation) as base:
        yield Audited(federation, base)


def sign(federation: Federation) -> None:
    """Checkpoint every region now (the server's own checkpointer waits 2 s between)."""
    runtime = federation.runtime
    for region in REGIONS:
        signer = runtime.log_signer(region)
        checkpoint_if_due(runtime.database.transaction, signer, region, min_interval=timedelta(0))


def publish(base: str) -> None:
    """Fetch the current status list, as any verifier does: re-signed if anything changed."""
    assert httpx.get(f"{base}/api/v1/status-lists/{REGION}", timeout=30).status_code == 200


def audit(base: str, federation: Federation, state: Path, *, replay: bool = True) -> AuditReport:
    with HttpLogServer(base) as server:
        return audit_server(server, federation.root_fingerprint, AuditState(state), replay=replay)


def region_of(report: AuditReport, region: str = REGION) -> dict[str, Any]:
    (found,) = [r for r in report.to_json()["regions"] if r["region"] == region]
    return dict(found)


def cli_audit(federation: Federation, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`govtrust audit` as an outside auditor runs it: an empty folder, the pinned root."""
    folder.mkdir(exist_ok=True)
    return run_govtrust(
        folder,
        {"GOVTRUST_HOME": str(folder)},
        "audit",
        *args,
        "--root-fingerprint",
        federation.root_fingerprint,
    )


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def query(database: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database, timeout=30)) as db:
        return db.execute(sql, params).fetchall()


@contextmanager
def tampered(database: Path, do: Statement, undo: Statement) -> Iterator[None]:
    """Change one row behind the server's back; put it back afterwards, whatever happens."""
    with closing(sqlite3.connect(database, timeout=30)) as db:
        with db:
            assert db.execute(*do).rowcount == 1
        try:
            yield
        finally:
            with db:
                assert db.execute(*undo).rowcount == 1


def leaf_indexes(database: Path, identifier: str) -> list[int]:
    rows = query(
        database,
        'SELECT "index" FROM log_leaf WHERE region_code = ? AND licence_identifier = ? '
        'ORDER BY "index"',
        REGION,
        identifier,
    )
    return [int(str(i)) for (i,) in rows]


def test_consistent_growth_passes_and_is_remembered(audited: Audited, tmp_path: Path) -> None:
    federation, base = audited.federation, audited.base
    revoked, _ = federation.issue(region=REGION)
    suspended, _ = federation.issue(region=REGION)
    with federation.runtime.database.transaction() as session:
        revoke_licence(session, revoked, "以欺骗手段取得")
        suspend_licence(session, suspended, "整改期间")
    publish(base)
    sign(federation)
    state, auditor = tmp_path / "state", tmp_path / "auditor"

    first = cli_audit(
        federation, auditor, "--server", base, "--state", str(state), "--replay", "--json"
    )
    assert first.returncode == 0, first.stdout + first.stderr
    report = json.loads(first.stdout)
    assert report["outcome"] == "agrees" and report["replayed"] is True
    region = next(r for r in report["regions"] if r["region"] == REGION)
    assert region["entries_replayed"] == region["tree_size"] > 0
    assert region["status_lists_checked"] >= 1
    remembered = json.loads((state / f"log-{REGION}.json").read_text())
    assert remembered["checkpoint"]["tree_size"] == region["tree_size"]
    assert remembered["checkpoint"]["note"].startswith(f"log.govtrust.gov.cn/{REGION}\n")

    with federation.runtime.database.transaction() as session:
        revoke_licence(session, suspended, "整改不合格")
    federation.issue(region=REGION)
    publish(base)
    sign(federation)
    second = audit(base, federation, state)
    assert second.exit_code == 0, second.to_json()
    grown = region_of(second)
    assert grown["tree_size"] > region["tree_size"]
    assert grown["remembered_tree_size"] == region["tree_size"]
    proven = f"consistent with the last accepted checkpoint (size {region['tree_size']})"
    assert proven in grown["notes"], grown
    remembered = json.loads((state / f"log-{REGION}.json").read_text())
    assert remembered["checkpoint"]["tree_size"] == grown["tree_size"]


def test_a_rewritten_log_row_is_caught_by_replay(audited: Audited, tmp_path: Path) -> None:
    federation, base = audited.federation, audited.base
    identifier, _ = federation.issue(region=REGION)
    with federation.runtime.database.transaction() as session:
        revoke_licence(session, identifier, "吊销")
    publish(base)
    sign(federation)
    state = tmp_path / "state"
    assert audit(base, federation, state).exit_code == 0
    _issued, revocation = leaf_indexes(audited.database, identifier)
    ((original,),) = query(audited.database, SELECT_LEAF, REGION, revocation)
    # The insider's edit: the revocation now reads as a reinstatement.
    forged = bytes(original).replace(b'"event":"revoked"', b'"event":"reinstated"')
    assert forged != original

    with tampered(
        audited.database,
        (UPDATE_LEAF, (forged, REGION, revocation)),
        (UPDATE_LEAF, (original, REGION, revocation)),
    ):
        result = cli_audit(
            federation, tmp_path / "auditor", "--server", base, "--state", str(state), "--replay"
        )
        line = one_line(result, 1)
        assert f"region {REGION}: entry {revocation} as served does not hash into" in line, line
        assert "不一致 disagrees" in result.stdout
    assert audit(base, federation, state).exit_code == 0  # put back, it agrees again


def test_a_deleted_log_row_is_caught_by_replay(audited: Audited, tmp_path: Path) -> None:
    federation, base = audited.federation, audited.base
    identifier, _ = federation.issue(region=REGION)
    federation.issue(region=REGION)  # so the row deleted is not the last
    sign(federation)
    (issued,) = leaf_indexes(audited.database, identifier)
    (row,) = query(audited.database, SELECT_ROW, REGION, issued)
    assert len(row) == INSERT_ROW.count("?")
    with tampered(audited.database, (DELETE_ROW, (REGION, issued)), (INSERT_ROW, row)):
        report = audit(base, federation, tmp_path / "state")
        assert report.outcome is Outcome.DISAGREES
        (problem,) = region_of(report)["disagreements"]
        assert f"entry {issued} is missing" in problem, problem
    assert audit(base, federation, tmp_path / "state").exit_code == 0


def test_a_status_list_version_that_does_not_match_its_log_entry_is_caught(
    audited: Audited, tmp_path: Path
) -> None:
    federation, base = audited.federation, audited.base
    identifier, _ = federation.issue(region=REGION)
    publish(base)
    with federation.runtime.database.transaction() as session:
        suspend_licence(session, identifier, "核查")
    publish(base)
    sign(federation)
    ((latest,),) = query(
        audited.database,
        "SELECT max(number) FROM status_list_version WHERE region_code = ?",
        REGION,
    )
    number = int(str(latest))
    ((token,),) = query(audited.database, SELECT_TOKEN, REGION, number)
    ((older,),) = query(audited.database, SELECT_TOKEN, REGION, number - 1)
    # Served under the newest number: the list from before the suspension.
    with tampered(
        audited.database,
        (UPDATE_TOKEN, (older, REGION, number)),
        (UPDATE_TOKEN, (token, REGION, number)),
    ):
        report = audit(base, federation, tmp_path / "state")
    problems = region_of(report)["disagreements"]
    digest = hashlib.sha256(str(older).encode()).hexdigest()
    assert any(
        f"status list #{number} (entry" in p and f"has SHA-256 {digest}, the log records" in p
        for p in problems
    ), problems
    assert audit(base, federation, tmp_path / "state").exit_code == 0


def test_a_fork_from_the_remembered_checkpoint_is_caught(audited: Audited, tmp_path: Path) -> None:
    federation, base = audited.federation, audited.base
    sign(federation)
    state = tmp_path / "state"
    assert audit(base, federation, state, replay=False).exit_code == 0
    path = state / f"log-{REGION}.json"
    remembered = json.loads(path.read_text())
    # The auditor remembers another root for its size: the log showed it a different tree.
    other = base64.b64encode(hashlib.sha256(b"another tree").digest()).decode()
    remembered["checkpoint"]["root_hash"] = other
    path.write_text(json.dumps(remembered))

    report = audit(base, federation, state, replay=False)
    assert report.exit_code == 1
    (problem,) = region_of(report)["disagreements"]
    # Same size: two roots; grown since: no consistency proof from the remembered root.
    assert problem.startswith("fork: "), problem
    assert other in problem
    assert json.loads(path.read_text())["checkpoint"]["root_hash"] == other  # not forgotten


def forged_checkpoint(federation: Federation, size: int, root: bytes) -> str:
    """A checkpoint of another tree, signed with the region's real log key."""
    signer = federation.runtime.log_signer(REGION)
    body = sign_checkpoint_text(signer.origin, size, root, [signed_at_extension(utc_now())])
    signature = signer.private_key.sign(body, ec.ECDSA(hashes.SHA256()))
    return format_signed_note(
        body, signer.origin, signer.private_key.public_key(), signature
    ).decode()


def test_bundle_mode_works_offline_from_an_exported_bundle(
    audited: Audited, tmp_path: Path
) -> None:
    federation, base = audited.federation, audited.base
    sign(federation)
    first = tmp_path / "first.json"
    exported = run_cli(federation, "bundle", "export", "--out", str(first))
    assert exported.returncode == 0, exported.stderr
    state, auditor = tmp_path / "state", tmp_path / "auditor"

    result = cli_audit(federation, auditor, "--bundle", str(first), "--state", str(state), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "bundle" and report["outcome"] == "agrees"

    # Growth: signed and not smaller, but a bundle cannot prove it extends what was seen.
    federation.issue(region=REGION)
    sign(federation)
    second = export_bundle(federation.runtime)
    grown = audit_bundle(second, federation.root_fingerprint, AuditState(state))
    assert grown.exit_code == 0, grown.to_json()
    notes = region_of(grown)["notes"]
    assert any(n.startswith("not proven offline") for n in notes), notes
    assert len(json.loads((state / f"log-{REGION}.json").read_text())["unproven"]) == 1

    # The older bundle again: smaller than a checkpoint already seen.
    older = audit_bundle(first.read_bytes(), federation.root_fingerprint, AuditState(state))
    assert older.exit_code == 1
    (problem,) = region_of(older)["disagreements"]
    assert problem.startswith("rollback: ") and "seen in an earlier bundle" in problem, problem

    # The server proves the growth the bundle could not.
    proven = audit(base, federation, state, replay=False)
    assert proven.exit_code == 0, proven.to_json()
    notes = region_of(proven)["notes"]
    assert any("a checkpoint seen in an earlier bundle" in n for n in notes), notes
    remembered = json.loads((state / f"log-{REGION}.json").read_text())
    assert remembered["unproven"] == []

    # A second tree of the remembered size, signed with the real log key: a fork.
    size = remembered["checkpoint"]["tree_size"]
    note = forged_checkpoint(federation, size, hashlib.sha256(b"forged").digest())
    forked = encode_bundle(
        exported_at=utc_now(),
        trust_list=federation.settings.trust_list_path.read_text().strip(),
        crls=[],
        regions={REGION: RegionMaterial(checkpoint=note)},
    )
    report_of_fork = audit_bundle(forked, federation.root_fingerprint, AuditState(state))
    assert report_of_fork.exit_code == 1
    (problem,) = region_of(report_of_fork)["disagreements"]
    assert problem.startswith(f"fork: two signed checkpoints of size {size}"), problem


def test_a_status_flip_without_an_event_is_caught(tmp_path: Path) -> None:
    federation = private_federation(tmp_path / "home")
    database = federation.home / "var" / "own.db"
    flipped, _ = federation.issue(region=REGION)
    other, _ = federation.issue(region=REGION)
    with federation.runtime.database.transaction() as session:
        revoke_licence(session, flipped, "以欺骗手段取得")
        index = get_licence(session, flipped).status_index

    # No checkpoint signed yet: nothing to decide on.
    with TestClient(create_app(federation.settings)) as client:
        server = HttpLogServer("http://testserver", client=client)
        early = audit_server(server, federation.root_fingerprint, AuditState(tmp_path / "early"))
    assert early.outcome is Outcome.UNDECIDED
    assert region_of(early)["undecided"] == [
        "http://testserver holds no checkpoint of this log yet"
    ]

    with live_server(federation) as base:
        publish(base)  # the list shows the revocation
        # The insider un-revokes in the table: no event, no log entry.
        with closing(sqlite3.connect(database, timeout=30)) as db, db:
            db.execute("UPDATE licence SET status = 'active' WHERE identifier = ?", (flipped,))
        # The next honest change re-signs the list from the table.
        with federation.runtime.database.transaction() as session:
            suspend_licence(session, other, "核查")
        publish(base)
        sign(federation)
        result = cli_audit(
            federation,
            tmp_path / "auditor",
            "--server",
            base,
            "--state",
            str(tmp_path / "s"),
            "--replay",
        )
    line = one_line(result, 1)
    assert "disagrees with the" in line, line
    assert f"index {index} is valid in the list, but the log says revoked" in line, line
    assert f"licence {flipped} revoked" in line, line


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The `govtrust` entry point in this process (its exits and one-line errors)."""
    monkeypatch.setenv("GOVTRUST_HOME", str(home))
    monkeypatch.setattr(sys, "argv", ["govtrust", "audit", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, exited.value.code or 0, out, err)


def test_unusable_input_exits_2_and_an_unreachable_server_3(
    audited: Audited,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pinned = ("--root-fingerprint", audited.federation.root_fingerprint)
    bundle = tmp_path / "bundle.json"
    bundle.write_text("not json")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_main(monkeypatch, capsys, tmp_path, *args)

    assert_one_line_error(run("--server", audited.base, "--bundle", str(bundle), *pinned), "either")
    assert_one_line_error(run("--bundle", str(bundle), "--replay", *pinned), "--replay needs")
    assert_one_line_error(run("--bundle", str(bundle), *pinned), "the bundle is not JSON")
    assert_one_line_error(
        run("--server", audited.base, "--root-fingerprint", "abc"), "64 hexadecimal"
    )
    assert_one_line_error(run("--server", "ftp://x", *pinned), "not an http")
    state = tmp_path / "state"
    state.mkdir()
    (state / f"log-{REGION}.json").write_text('{"format": "govtrust-audit-state/1"}')
    assert_one_line_error(
        run("--server", audited.base, "--state", str(state), *pinned), "audit state file"
    )
    unreachable = run("--server", f"http://127.0.0.1:{free_port()}", *pinned)
    assert "cannot audit" in one_line(unreachable, 3)
