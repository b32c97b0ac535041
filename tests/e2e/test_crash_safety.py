"""Crash safety (issue #9): the server is killed (SIGKILL, the supervisor and both workers)
in the middle of a batch of issuances over HTTP, then restarted on the same database.

What must hold: every licence the client saw acknowledged exists, with its `issued` event,
its log leaf and its status-list index; no licence exists without them, and no log leaf
names a licence that does not exist (issuance draws its serial and index in a first
transaction and records licence, event and leaf together in a last one, so a kill in
between leaves a gap in the counters and nothing else); the log after the restart extends
the checkpoint an auditor accepted before the crash, and `govtrust audit --replay` agrees;
rerunning the batch with the same idempotency keys completes it with no duplicates.

Private federation on SQLite: the shared one is never killed under.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import select

from ca.models import Counter as CounterRow
from ca.models import Department
from licence_registry.lifecycle import HOLDER_ID_PURPOSE
from licence_registry.log_models import LogLeaf
from licence_registry.models import Licence, LicenceEvent
from licence_registry.transparency import audit_log, checkpoint_if_due
from tests.api_support import bearer
from tests.conftest import Federation, private_federation, run_cli, run_govtrust
from tests.server import free_port, start_server, wait_until_serving
from verifier.audit import audit_server
from verifier.audit_source import HttpLogServer
from verifier.audit_state import AuditState, RememberedCheckpoint
from verifier.checkpoint import Checkpoint, verify_checkpoint
from verifier.credential import verify_credential
from verifier.identifiers import HolderIdType, make_uscc
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.status_list import verify_status_list
from verifier.timeutil import utc_now

REGION = "330000"
REGIONS = ("330000", "440000")
DEPARTMENT = "amr"
ISSUE_PATH = f"/api/v1/departments/{REGION}/{DEPARTMENT}/licences"
LOG_PATH = f"/api/v1/log/{REGION}"
COUNT = 40
THREADS = 3
WORKERS = 2
# An auditor accepts a checkpoint after CHECKPOINT_AFTER answers; the kill comes once
# KILL_AFTER are answered and at least IN_FLIGHT requests are on their way.
CHECKPOINT_AFTER = 4
KILL_AFTER = 8
IN_FLIGHT = 2
LIST_SIZE = 1 << 20
REQUEST_TIMEOUT = 30.0
PUBLISHED_KINDS = frozenset({"status-list", "trust-list"})


@dataclass
class Batch:
    """What the client saw of each request of a batch, by idempotency key."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> identifier answered
    unanswered: dict[str, str] = field(default_factory=dict)  # key -> the transport error
    unexpected: dict[str, str] = field(default_factory=dict)  # key -> status and body
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return len(self.acknowledged), self.in_flight


@dataclass(frozen=True)
class Stored:
    """The licences the database holds, each checked whole (see `stored_licences`)."""

    identifiers: dict[str, str]  # idempotency key -> identifier
    status_indexes: dict[str, int]  # identifier -> status-list index
    pdf_sha256: dict[str, str]  # idempotency key -> SHA-256 hex of the sealed PDF
    log_size: int
    serials_drawn: int
    indexes_drawn: int


def holder_ids(count: int) -> list[str]:
    return [make_uscc("9", "1", "330100", f"CR{n:06d}") for n in range(count)]


def issue_all(
    client: httpx.Client,
    keys: list[str],
    holders: list[str],
    batch: Batch,
    stop: threading.Event,
) -> list[Future[None]]:
    """Start THREADS senders that issue the keys' licences one after another until done or
    `stop`; the caller waits on the futures returned."""
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for n in range(len(keys)):
        todo.put(n)

    def send() -> None:
        while not stop.is_set():
            try:
                n = todo.get_nowait()
            except queue.Empty:
                return
            body = {
                "licence_type": "business-licence",
                "holder_name": f"断电测试{n}号有限公司",
                "holder_id": holders[n],
            }
            with batch.lock:
                batch.in_flight += 1
            try:
                response = client.post(ISSUE_PATH, json=body, headers={"Idempotency-Key": keys[n]})
            except httpx.TransportError as exc:
                with batch.lock:
                    batch.unanswered[keys[n]] = type(exc).__name__
            else:
                with batch.lock:
                    if response.status_code == 201:
                        batch.acknowledged[keys[n]] = response.json()["identifier"]
                    else:
                        batch.unexpected[keys[n]] = f"{response.status_code} {response.text[:300]}"
            finally:
                with batch.lock:
                    batch.in_flight -= 1

    pool = ThreadPoolExecutor(THREADS)
    futures = [pool.submit(send) for _ in range(THREADS)]
    pool.shutdown(wait=False)
    return futures


@contextmanager
def server_group(
    federation: Federation, port: int, log: IO[bytes]
) -> Iterator[subprocess.Popen[bytes]]:
    """The server with its workers in a process group of their own, serving on `port`;
    stopped at the end unless the test killed it already."""
    server = start_server(federation, port, workers=WORKERS, log=log, new_session=True)
    try:
        wait_until_serving(server, f"http://127.0.0.1:{port}", timeout=60)
        yield server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)


def kill_mid_batch(
    federation: Federation,
    server: subprocess.Popen[bytes],
    client: httpx.Client,
    keys: list[str],
    holders: list[str],
    state: Path,
) -> tuple[Batch, RememberedCheckpoint]:
    """Issue the batch; after CHECKPOINT_AFTER answers an auditor (remembering in `state`)
    accepts a checkpoint; after KILL_AFTER, with requests in flight, SIGKILL the server's
    whole process group. What the client saw, and the checkpoint accepted."""
    batch, stop = Batch(), threading.Event()
    senders = issue_all(client, keys, holders, batch, stop)
    deadline = time.monotonic() + 60
    try:
        while batch.snapshot()[0] < CHECKPOINT_AFTER:
            assert time.monotonic() < deadline and not batch.unexpected, batch.unexpected
            time.sleep(0.01)
        sign_checkpoints(federation)
        with HttpLogServer(str(client.base_url).rstrip("/")) as source:
            before = audit_server(source, federation.root_fingerprint, AuditState(state))
        assert before.exit_code == 0, before.to_json()
        accepted = AuditState(state).load(REGION).checkpoint
        assert accepted is not None
        while True:
            acknowledged, in_flight = batch.snapshot()
            if acknowledged >= KILL_AFTER and in_flight >= IN_FLIGHT:
                break
            assert acknowledged + len(batch.unanswered) < COUNT, "the batch ended unkilled"
            assert time.monotonic() < deadline and not batch.unexpected, batch.unexpected
            time.sleep(0.002)
        # No new request from here: those on their way are the ones the kill cuts.
        stop.set()
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        stop.set()
        for sender in senders:
            sender.result(timeout=REQUEST_TIMEOUT + 5)
    return batch, accepted


def sign_checkpoints(federation: Federation) -> None:
    """Checkpoint every region now, as the server's checkpointer would within seconds."""
    runtime = federation.runtime
    for region in REGIONS:
        checkpoint_if_due(
            runtime.database.transaction,
            runtime.log_signer(region),
            region,
            min_interval=timedelta(0),
        )


def served_checkpoint(federation: Federation, client: httpx.Client) -> Checkpoint:
    response = client.get(f"{LOG_PATH}/checkpoint")
    assert response.status_code == 200, response.text
    return verify_checkpoint(response.text, federation.trust_list(), region=REGION, at=utc_now())


def checkpoint_covering(federation: Federation, client: httpx.Client, size: int) -> Checkpoint:
    """The served checkpoint once the server's own checkpointer has signed `size` entries."""
    deadline = time.monotonic() + 15
    while (checkpoint := served_checkpoint(federation, client)).tree_size < size:
        assert time.monotonic() < deadline, (checkpoint.tree_size, size)
        time.sleep(0.2)
    assert checkpoint.tree_size == size, "the log grew with nobody issuing"
    return checkpoint


def stored_licences(federation: Federation, keys: list[str], holders: list[str]) -> Stored:
    """Read the database as the restarted server left it and check every licence whole:
    one per key and per holder, active, with one `issued` event, one log leaf that says
    the same, a unique index in the region's status list; every licence leaf in the log
    names an existing licence; and the log replays whole."""
    database = federation.runtime.database
    database.engine.dispose()  # no pooled connection from before the crash
    protector = federation.runtime.data_protector
    holder_of = {
        protector.lookup_hash(HOLDER_ID_PURPOSE, f"{HolderIdType.USCC}:{h}"): n
        for n, h in enumerate(holders)
    }
    with database.transaction() as session:
        department = session.scalars(
            select(Department).where(
                Department.region_code == REGION, Department.code == DEPARTMENT
            )
        ).one()
        licences = session.scalars(select(Licence)).all()
        events = session.execute(select(LicenceEvent.licence_id, LicenceEvent.event)).all()
        leaves = session.execute(
            select(LogLeaf.index, LogLeaf.leaf, LogLeaf.licence_identifier)
            .where(LogLeaf.region_code == REGION)
            .order_by(LogLeaf.index)
        ).all()
        counters = dict(session.execute(select(CounterRow.name, CounterRow.value)).all())
        # The registry's own replay: leaves, subtree hashes, index counter and checkpoints.
        replayed = audit_log(session, REGION)
    assert replayed.ok, replayed.problems

    assert all(licence.idempotency_key in keys for licence in licences), "a licence of no key"
    assert len({licence.idempotency_key for licence in licences}) == len(licences)
    for licence in licences:
        # So also one licence per holder: each request has a holder of its own.
        assert holder_of[licence.holder_id_hash] == keys.index(str(licence.idempotency_key))
        assert (licence.status, licence.version, licence.region_code) == ("active", 1, REGION)
        assert licence.department_id == department.id
        assert 0 <= licence.status_index < LIST_SIZE
    assert len({licence.status_index for licence in licences}) == len(licences)
    assert len({licence.serial for licence in licences}) == len(licences)

    by_id = {licence.id: licence for licence in licences}
    event_names: dict[str, list[str]] = {}
    for licence_id, event in events:
        event_names.setdefault(by_id[licence_id].identifier, []).append(event)
    assert event_names == {licence.identifier: ["issued"] for licence in licences}

    assert [index for index, _, _ in leaves] == list(range(len(leaves))), "a gap in the log"
    logged: dict[str, list[dict[str, Any]]] = {}
    for index, data, identifier in leaves:
        leaf = json.loads(data)
        if leaf["type"] in PUBLISHED_KINDS:
            continue
        assert leaf["type"] == "licence" and identifier == leaf["licence"], (index, leaf)
        logged.setdefault(identifier, []).append(leaf)
    mine = {licence.identifier: licence for licence in licences}
    assert set(logged) == set(mine), "a licence without its leaf, or a leaf without licence"
    for identifier, found in logged.items():
        (leaf,) = found
        licence = mine[identifier]
        assert leaf["event"] == "issued", leaf
        assert (leaf["status_index"], leaf["version"]) == (licence.status_index, 1), leaf
        assert leaf["department"] == department.uscc, leaf

    serials_drawn = counters.get(f"licence-serial:{department.id}", 0)
    indexes_drawn = counters.get(f"status-index:{REGION}", 0)
    assert serials_drawn >= max((licence.serial for licence in licences), default=0)
    assert indexes_drawn >= len(licences)
    return Stored(
        identifiers={str(licence.idempotency_key): licence.identifier for licence in licences},
        status_indexes={licence.identifier: licence.status_index for licence in licences},
        pdf_sha256={str(licence.idempotency_key): licence.pdf_sha256 for licence in licences},
        log_size=len(leaves),
        serials_drawn=serials_drawn,
        indexes_drawn=indexes_drawn,
    )


def check_over_api(
    federation: Federation, client: httpx.Client, stored: Stored, checkpoint: Checkpoint
) -> None:
    """What any client sees of every stored licence: readable and active; exactly one log
    entry, included in the signed checkpoint; a QR credential naming the index the log
    names, and that index valid in the region's signed status list."""
    trust_list = federation.trust_list()
    response = client.get(f"/api/v1/status-lists/{REGION}")
    assert response.status_code == 200, response.text
    status_list = verify_status_list(response.text, trust_list, at=utc_now(), region=REGION)
    for identifier, status_index in stored.status_indexes.items():
        view = client.get(f"{ISSUE_PATH}/{identifier}")
        assert view.status_code == 200, view.text
        assert view.json()["status"] == "active", view.json()
        indexes = client.get(f"{LOG_PATH}/licences/{identifier}").json()
        assert len(indexes) == 1, (identifier, indexes)
        (index,) = indexes
        entry = client.get(f"{LOG_PATH}/entries", params={"start": index, "end": index + 1})
        (served,) = entry.json()
        leaf = json.loads(served["leaf"])
        assert (leaf["licence"], leaf["event"]) == (identifier, "issued"), leaf
        proof = client.get(
            f"{LOG_PATH}/proof/inclusion",
            params={"tree_size": checkpoint.tree_size, "index": index},
        ).json()
        verify_inclusion(
            leaf_hash(served["leaf"].encode()),
            index,
            checkpoint.tree_size,
            [base64.b64decode(h) for h in proof["hashes"]],
            checkpoint.root_hash,
        )
        credential = client.get(f"{ISSUE_PATH}/{identifier}/credential")
        assert credential.status_code == 200, credential.text
        claims = verify_credential(credential.text, trust_list, at=utc_now()).claims
        assert claims.identifier == identifier
        assert claims.status_index == leaf["status_index"] == status_index
        assert status_list.value(status_index) == 0, identifier  # valid


def cli_audit(federation: Federation, base: str, state: Path, folder: Path) -> dict[str, Any]:
    """`govtrust audit --server --replay` as an outside auditor runs it, remembering in
    `state`; exit 0 asserted; the report of REGION."""
    folder.mkdir(exist_ok=True)
    result = run_govtrust(
        folder,
        {"GOVTRUST_HOME": str(folder)},
        "audit",
        "--server",
        base,
        "--replay",
        "--json",
        "--state",
        str(state),
        "--root-fingerprint",
        federation.root_fingerprint,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "agrees" and report["replayed"] is True, report
    (region,) = [r for r in report["regions"] if r["region"] == REGION]
    assert region["entries_replayed"] == region["tree_size"], region
    return dict(region)


def server_log(path: Path) -> str:
    return "\n--- server stderr (tail) ---\n" + path.read_text(errors="replace")[-4000:]


def test_a_server_killed_mid_batch_loses_no_acknowledged_licence_and_a_rerun_completes_it(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    federation = private_federation(tmp_path / "home")
    keys = [f"crash-{n:03d}" for n in range(COUNT)]
    holders = holder_ids(COUNT)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = tmp_path / "audit-state"
    first_log, second_log = tmp_path / "server-1.log", tmp_path / "server-2.log"
    headers = bearer(federation.staff_token(REGION, "clerk", DEPARTMENT))
    limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS)

    # 1. The batch, and the kill in its middle.
    with (
        first_log.open("wb") as log,
        server_group(federation, port, log) as server,
        httpx.Client(
            base_url=base, headers=headers, timeout=REQUEST_TIMEOUT, limits=limits
        ) as client,
    ):
        batch, accepted = kill_mid_batch(federation, server, client, keys, holders, state)
    killed_at = time.monotonic() - started
    assert batch.unexpected == {}, batch.unexpected
    acknowledged, cut = dict(batch.acknowledged), dict(batch.unanswered)
    never_sent = set(keys) - set(acknowledged) - set(cut)
    assert len(acknowledged) >= KILL_AFTER and len(cut) >= 1, (acknowledged, cut)

    # 2. Restart on the same database and port: what survived the crash.
    with (
        second_log.open("wb") as log,
        server_group(federation, port, log),
        httpx.Client(
            base_url=base, headers=headers, timeout=REQUEST_TIMEOUT, limits=limits
        ) as client,
    ):
        # Fetched first, the status list is signed and logged before the database is
        # read, so the checkpoint below and the audit cover its entry.
        assert client.get(f"/api/v1/status-lists/{REGION}").status_code == 200
        after_crash = stored_licences(federation, keys, holders)
        survived = after_crash.identifiers
        lost = {k: i for k, i in acknowledged.items() if survived.get(k) != i}
        assert lost == {}, f"acknowledged but not stored as answered: {lost}"
        # A request cut by the kill either committed whole or left nothing: the only
        # licences beyond those acknowledged are of requests in flight.
        finished_unseen = set(survived) - set(acknowledged)
        assert finished_unseen <= set(cut), finished_unseen - set(cut)
        assert after_crash.log_size >= accepted.tree_size
        checkpoint = checkpoint_covering(federation, client, after_crash.log_size)
        check_over_api(federation, client, after_crash, checkpoint)
        audited = cli_audit(federation, base, state, tmp_path / "auditor")
        assert audited["tree_size"] == after_crash.log_size
        if after_crash.log_size > accepted.tree_size:
            proven = f"consistent with the last accepted checkpoint (size {accepted.tree_size})"
            assert proven in audited["notes"], audited

        # 3. The whole batch again, same keys: completed, nothing twice.
        rerun = Batch()
        for sender in issue_all(client, keys, holders, rerun, threading.Event()):
            sender.result(timeout=120)
        assert rerun.unanswered == {} and rerun.unexpected == {}, (
            rerun.unanswered,
            rerun.unexpected,
        )
        assert set(rerun.acknowledged) == set(keys)
        changed = {k: i for k, i in survived.items() if rerun.acknowledged[k] != i}
        assert changed == {}, f"a replayed key answered another licence: {changed}"
        final = stored_licences(federation, keys, holders)
        assert final.identifiers == rerun.acknowledged
        assert len(set(final.identifiers.values())) == COUNT
        checkpoint = checkpoint_covering(federation, client, final.log_size)
        check_over_api(federation, client, final, checkpoint)
        audited_again = cli_audit(federation, base, state, tmp_path / "auditor")
        assert audited_again["tree_size"] == final.log_size
        proven = f"consistent with the last accepted checkpoint (size {after_crash.log_size})"
        assert proven in audited_again["notes"], audited_again

    for path in (first_log, second_log):
        assert "Traceback" not in path.read_text(errors="replace"), server_log(path)
    print(
        f"killed at {killed_at:.1f} s: {len(acknowledged)} acknowledged, {len(cut)} cut "
        f"({dict(Counter(cut.values()))}), {len(never_sent)} never sent; after restart "
        f"{len(survived)} stored ({len(finished_unseen)} finished unseen), "
        f"{after_crash.serials_drawn - len(survived)} serial(s) and "
        f"{after_crash.indexes_drawn - len(survived)} index(es) drawn by killed requests; "
        f"rerun: {COUNT} answered, {COUNT - len(survived)} new, log {final.log_size} entries; "
        f"{time.monotonic() - started:.1f} s in all"
    )


BATCH_COUNT = 24
# The batch is killed once this many PDFs are written.
BATCH_KILL_AFTER = 4


def test_a_batch_killed_mid_way_leaves_whole_licences_and_a_rerun_completes_it(
    tmp_path: Path,
) -> None:
    """`govtrust seal batch` (2 worker processes) killed with SIGKILL: every file written
    is its committed licence, every licence is whole (event, leaf, index), and a rerun
    writes the missing files, issues the rest and leaves no temporary file behind."""
    federation = private_federation(tmp_path / "home")
    keys = [f"batch-{n:03d}" for n in range(BATCH_COUNT)]
    holders = holder_ids(BATCH_COUNT)
    source = tmp_path / "rows.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "region", "department", "type", "holder_name", "holder_id"])
        for n, key in enumerate(keys):
            row = [key, REGION, DEPARTMENT, "business-licence", f"断电测试{n}号有限公司"]
            writer.writerow([*row, holders[n]])
    out = tmp_path / "out"
    arguments = ("seal", "batch", "--input", str(source), "--out", str(out), "--workers", "2")
    log = tmp_path / "batch.log"
    with log.open("wb") as stderr:
        batch = subprocess.Popen(
            [sys.executable, "-m", "govtrust", *arguments],
            cwd=federation.home,
            env={k: v for k, v in os.environ.items() if not k.startswith("GOVTRUST_")}
            | federation.env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while len(list(out.glob("*.pdf"))) < BATCH_KILL_AFTER:
                assert batch.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "the batch wrote too few files"
                time.sleep(0.01)
        finally:
            os.killpg(batch.pid, signal.SIGKILL)
            batch.wait(timeout=10)

    written = {path.stem: path for path in out.glob("*.pdf")}
    stored = stored_licences(federation, keys, holders)
    assert set(written) <= set(stored.identifiers), "a file without its licence"
    for key, path in written.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == stored.pdf_sha256[key], key
    assert len(stored.identifiers) < BATCH_COUNT, "the batch ended unkilled"

    rerun = run_cli(federation, *arguments, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    done, unwritten = len(written), len(stored.identifiers) - len(written)
    assert (
        f"{BATCH_COUNT - len(stored.identifiers)} issued, {done} already done, "
        f"{unwritten} file(s) restored, 0 refused, of {BATCH_COUNT} rows"
    ) in rerun.stdout, rerun.stdout
    final = stored_licences(federation, keys, holders)
    assert set(final.identifiers) == set(keys)
    assert {k: i for k, i in stored.identifiers.items() if final.identifiers[k] != i} == {}
    assert sorted(path.name for path in out.iterdir()) == sorted(f"{key}.pdf" for key in keys)
    for key in keys:
        digest = hashlib.sha256((out / f"{key}.pdf").read_bytes()).hexdigest()
        assert digest == final.pdf_sha256[key], key
    print(
        f"batch killed: {len(written)} files written, {len(stored.identifiers)} licences "
        f"committed, {stored.serials_drawn - len(stored.identifiers)} serial(s) drawn by "
        f"killed rows; rerun: {rerun.stdout.strip()}"
    )
