"""Concurrency: 200 issuances in parallel against a live server (two worker processes, on
the suite's database: PostgreSQL in CI) give unique identifiers, serials and status-list
indices, a retried request never makes a second licence, and the region's transparency
log, checked against its signed checkpoint and replayed from the leaves alone, matches
the database's licence events one for one.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ca.models import Department
from govtrust.checkpointer import checkpoint_all
from licence_registry.lifecycle import HOLDER_ID_PURPOSE
from licence_registry.log_models import LogLeaf
from licence_registry.models import Licence, LicenceEvent
from tests.api_support import bearer
from tests.conftest import Federation
from tests.server import live_server
from verifier.checkpoint import Checkpoint, verify_checkpoint
from verifier.identifiers import USCC_ALPHABET, HolderIdType, make_uscc
from verifier.merkle import leaf_hash, root_hash
from verifier.timeutil import format_time, utc_now

REGION = "440000"
DEPARTMENT = "amr"
ISSUE_PATH = f"/api/v1/departments/{REGION}/{DEPARTMENT}/licences"
LOG_PATH = f"/api/v1/log/{REGION}"
COUNT = 200
# Every RETRY_EVERY-th request is sent twice at once, as a client retrying too early does.
RETRY_EVERY = 10
THREADS = 16
WORKERS = 2
PAGE = 1000
LIST_SIZE = 1 << 20
# Leaves that record a published list, not a licence event: no LicenceEvent row to match.
PUBLISHED_KINDS = frozenset({"status-list", "trust-list"})

# What one licence event says, in the log and in the database alike: identifier, event,
# version, status-list index, reason, time (to the second, as logged), department USCC.
Event = tuple[str, str, int, int | None, str | None, str, str]


def new_holder_ids(count: int) -> list[str]:
    """USCCs of this test's own holders, none shared with another test."""
    holders: set[str] = set()
    while len(holders) < count:
        body = "".join(secrets.choice(USCC_ALPHABET[:10]) for _ in range(8))
        holders.add(make_uscc("9", "1", "440300", body))
    return sorted(holders)


def logged_events(leaves: Sequence[bytes]) -> tuple[Counter[Event], list[str]]:
    """The licence events a log records, read from its leaf bytes alone; and what is wrong
    with the leaves that are neither a licence event nor a published list."""
    events: Counter[Event] = Counter()
    strange = []
    for index, data in enumerate(leaves):
        leaf = json.loads(data)
        kind = leaf.get("type") if isinstance(leaf, dict) else None
        if kind in PUBLISHED_KINDS:
            continue
        if kind != "licence":
            strange.append(f"leaf {index} is neither a licence event nor a published list: {leaf}")
            continue
        events[
            (
                leaf["licence"],
                leaf["event"],
                leaf["version"],
                leaf["status_index"],
                leaf["reason"],
                leaf["at"],
                leaf["department"],
            )
        ] += 1
    return events, strange


def database_events(session: Session, region: str) -> Counter[Event]:
    """Every LicenceEvent row of the licences of `region`, as its log leaf would say it."""
    rows = session.execute(
        select(
            Licence.identifier,
            LicenceEvent.event,
            Licence.version,
            Licence.status_index,
            LicenceEvent.reason,
            LicenceEvent.at,
            Department.uscc,
        )
        .join(Licence, LicenceEvent.licence_id == Licence.id)
        .join(Department, Licence.department_id == Department.id)
        .where(Licence.region_code == region)
    )
    return Counter(
        (identifier, event, version, index if index >= 0 else None, reason, format_time(at), uscc)
        for identifier, event, version, index, reason, at, uscc in rows
    )


def replay_mismatches(leaves: Sequence[bytes], database: Counter[Event]) -> list[str]:
    """Where a region's log, replayed from its leaves, and its licences' events in the
    database differ, as multisets (an event twice in one and once in the other differs)."""
    logged, problems = logged_events(leaves)
    for event, times in sorted((logged - database).items(), key=repr):
        problems.append(f"logged {times} more time(s) than in the database: {event}")
    for event, times in sorted((database - logged).items(), key=repr):
        problems.append(f"in the database {times} more time(s) than logged: {event}")
    return problems


def region_leaves(session: Session, region: str) -> list[bytes]:
    rows = session.scalars(
        select(LogLeaf.leaf).where(LogLeaf.region_code == region).order_by(LogLeaf.index)
    )
    return [bytes(leaf) for leaf in rows]


def server_log(path: Path) -> str:
    return "\n--- server stderr (tail) ---\n" + path.read_text(errors="replace")[-6000:]


def signed_checkpoint(
    federation: Federation, client: httpx.Client, size: int, log: Path
) -> Checkpoint:
    """The served checkpoint once it covers `size` entries, verified against the trust list
    (the server's checkpointers sign at most every 2 s; checkpoint_all nudges as well)."""
    deadline = time.monotonic() + 30
    while True:
        checkpoint_all(federation.runtime)
        response = client.get(f"{LOG_PATH}/checkpoint")
        assert response.status_code == 200, response.text + server_log(log)
        checkpoint = verify_checkpoint(
            response.text, federation.trust_list(), region=REGION, at=utc_now()
        )
        if checkpoint.tree_size >= size:
            return checkpoint
        assert time.monotonic() < deadline, (checkpoint.tree_size, size, server_log(log))
        time.sleep(0.5)


def fetch_leaves(client: httpx.Client, size: int) -> list[bytes]:
    """Entries [0, size) through the public API, page by page."""
    leaves: list[bytes] = []
    while len(leaves) < size:
        start = len(leaves)
        response = client.get(
            f"{LOG_PATH}/entries", params={"start": start, "end": min(size, start + PAGE)}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert page and [entry["index"] for entry in page] == list(range(start, start + len(page)))
        leaves.extend(entry["leaf"].encode("utf-8") for entry in page)
    return leaves


def duplicates(values: Iterable[object]) -> dict[object, int]:
    return {value: n for value, n in Counter(values).items() if n > 1}


def test_200_parallel_issuances_are_unique_and_the_log_replays_to_the_database(
    federation: Federation, tmp_path: Path
) -> None:
    run = secrets.token_hex(4)
    holders = new_holder_ids(COUNT)
    keys = [f"concurrency-{run}-{n:03d}" for n in range(COUNT)]
    retried = set(range(0, COUNT, RETRY_EVERY))
    # A retry right behind its original: two pool threads take them up together.
    jobs = [n for n in range(COUNT) for _ in range(2 if n in retried else 1)]
    clerk = bearer(federation.staff_token(REGION, "clerk", DEPARTMENT))
    log = tmp_path / "server.log"

    def post(n: int) -> tuple[int, int, str]:
        body = {"licence_type": "business-licence", "holder_name": f"并发测试{n}号有限公司"}
        try:
            response = client.post(
                ISSUE_PATH,
                json=body | {"holder_id": holders[n]},
                headers={"Idempotency-Key": keys[n]},
            )
        except httpx.HTTPError as exc:
            return n, -1, repr(exc)
        return n, response.status_code, response.text

    with (
        log.open("wb") as log_file,
        live_server(federation, workers=WORKERS, log=log_file) as base,
        httpx.Client(
            base_url=base,
            headers=clerk,
            timeout=120,
            limits=httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS),
        ) as client,
    ):
        started = time.monotonic()
        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(post, jobs))
        issuing_seconds = time.monotonic() - started

        failed = [(n, status, text[:500]) for n, status, text in answers if status != 201]
        assert not failed, f"{len(failed)} of {len(jobs)} failed: {failed[:5]}" + server_log(log)
        returned: dict[int, set[str]] = {}
        for n, _, text in answers:
            view = json.loads(text)
            assert view["status"] == "active" and view["version"] == 1, view
            returned.setdefault(n, set()).add(view["identifier"])
        # A retry gets the first licence back, never a second one.
        assert {n: ids for n, ids in returned.items() if len(ids) != 1} == {}
        identifier_of = {n: ids.pop() for n, ids in returned.items()}
        assert len(set(identifier_of.values())) == COUNT, duplicates(identifier_of.values())

        with federation.runtime.database.transaction() as session:
            size = session.scalar(
                select(func.count()).select_from(LogLeaf).where(LogLeaf.region_code == REGION)
            )
        checkpoint = signed_checkpoint(federation, client, size, log)
        assert checkpoint.tree_size == size, "the log grew with nobody issuing"
        leaves = fetch_leaves(client, checkpoint.tree_size)
        # The log served is the log signed: its root, recomputed by the verifier alone.
        assert root_hash([leaf_hash(leaf) for leaf in leaves]) == checkpoint.root_hash
        # A few licences found by identifier, as an auditor looks one up.
        found = {
            identifier_of[n]: client.get(f"{LOG_PATH}/licences/{identifier_of[n]}").json()
            for n in sorted(retried)[:5]
        }
    assert "Traceback" not in log.read_text(errors="replace"), server_log(log)

    protector = federation.runtime.data_protector
    with federation.runtime.database.transaction() as session:
        department = session.scalars(
            select(Department).where(
                Department.region_code == REGION, Department.code == DEPARTMENT
            )
        ).one()
        licences = session.scalars(select(Licence).where(Licence.idempotency_key.in_(keys))).all()
        holder_hashes = {
            protector.lookup_hash(HOLDER_ID_PURPOSE, f"{HolderIdType.USCC}:{holder}"): n
            for n, holder in enumerate(holders)
        }
        by_holder = session.scalars(
            select(Licence).where(Licence.holder_id_hash.in_(holder_hashes))
        ).all()
        region_index_duplicates = session.execute(
            select(Licence.region_code, Licence.status_index, func.count())
            .group_by(Licence.region_code, Licence.status_index)
            .having(func.count() > 1)
        ).all()
        serial_duplicates = session.execute(
            select(Licence.department_id, Licence.serial, Licence.version, func.count())
            .group_by(Licence.department_id, Licence.serial, Licence.version)
            .having(func.count() > 1)
        ).all()
        events = session.execute(
            select(Licence.identifier, LicenceEvent.event, LicenceEvent.actor)
            .join(Licence, LicenceEvent.licence_id == Licence.id)
            .where(Licence.idempotency_key.in_(keys))
        ).all()
        replay = database_events(session, REGION)
        size_after = session.scalar(
            select(func.count()).select_from(LogLeaf).where(LogLeaf.region_code == REGION)
        )

    # Exactly one licence per request, under its key and for its holder.
    assert len(licences) == COUNT
    assert sorted(licence.id for licence in by_holder) == sorted(licence.id for licence in licences)
    for licence in licences:
        n = keys.index(licence.idempotency_key)
        assert licence.identifier == identifier_of[n]
        assert holder_hashes[licence.holder_id_hash] == n
        assert (licence.region_code, licence.department_id) == (REGION, department.id)
        assert 0 <= licence.status_index < LIST_SIZE
    assert duplicates(licence.status_index for licence in licences) == {}
    assert duplicates(licence.serial for licence in licences) == {}
    assert region_index_duplicates == []
    assert serial_duplicates == []
    # Each has exactly one event: issued, by the clerk of that department.
    assert sorted(identifier for identifier, _, _ in events) == sorted(identifier_of.values())
    assert {event for _, event, _ in events} == {"issued"}
    assert all(actor.startswith(f"{REGION}/{DEPARTMENT}/") for _, _, actor in events)

    # Each has its one `issued` leaf, with the index and version the database holds.
    mine = {licence.identifier: licence for licence in licences}
    issued_leaves: dict[str, list[int]] = {}
    for index, data in enumerate(leaves):
        leaf = json.loads(data)
        if leaf.get("type") == "licence" and leaf["licence"] in mine:
            assert leaf["event"] == "issued", (index, leaf)
            licence = mine[leaf["licence"]]
            assert leaf["status_index"] == licence.status_index, (index, leaf)
            assert leaf["version"] == licence.version == 1, (index, leaf)
            assert leaf["department"] == department.uscc, (index, leaf)
            issued_leaves.setdefault(leaf["licence"], []).append(index)
    assert {i: ix for i, ix in issued_leaves.items() if len(ix) != 1} == {}
    assert set(issued_leaves) == set(mine)
    for identifier, indices in found.items():
        assert indices == issued_leaves[identifier], identifier

    # The whole region's log, replayed, is the database's licence events, one for one.
    assert size_after == len(leaves), "the log grew while the database was read"
    assert replay_mismatches(leaves, replay) == []
    serials = [licence.serial for licence in licences]
    print(
        f"{len(jobs)} requests in {issuing_seconds:.1f} s; log of {len(leaves)} entries; "
        f"{max(serials) - min(serials) + 1 - COUNT} serials drawn by retries that raced"
    )


def test_the_replay_comparison_reports_a_missing_or_extra_event(
    federation: Federation,
) -> None:
    """The comparison is not vacuous: an event row gone, an event row more, a leaf gone,
    a leaf twice or a leaf that says otherwise are each reported (all rolled back)."""
    identifier, _ = federation.issue(
        "一次性测试有限公司", new_holder_ids(1)[0], region=REGION, department=DEPARTMENT
    )
    session = Session(federation.runtime.database.engine)
    try:
        leaves = region_leaves(session, REGION)
        assert replay_mismatches(leaves, database_events(session, REGION)) == []
        licence = session.scalars(select(Licence).where(Licence.identifier == identifier)).one()
        (issued,) = [
            i for i, leaf in enumerate(leaves) if f'"licence":"{identifier}"' in leaf.decode()
        ]

        # An event row deleted: the log has an event the database lacks.
        session.execute(delete(LicenceEvent).where(LicenceEvent.licence_id == licence.id))
        session.flush()
        problems = replay_mismatches(leaves, database_events(session, REGION))
        assert len(problems) == 1 and problems[0].startswith("logged 1 more"), problems
        assert f"'{identifier}', 'issued'" in problems[0]

        # An event row more (two, in fact): the database has events the log lacks.
        for _ in range(2):
            session.add(LicenceEvent(licence_id=licence.id, event="issued", at=licence.issued_at))
        session.flush()
        problems = replay_mismatches(leaves, database_events(session, REGION))
        assert len(problems) == 1 and problems[0].startswith("in the database 1 more"), problems
        assert f"'{identifier}', 'issued'" in problems[0]
    finally:
        session.rollback()
        session.close()

    with federation.runtime.database.transaction() as session:
        database = database_events(session, REGION)
        assert (
            session.scalar(
                select(func.count())
                .select_from(LicenceEvent)
                .join(Licence, LicenceEvent.licence_id == Licence.id)
                .where(Licence.identifier == identifier)
            )
            == 1
        ), "the rollback left the database changed"
    assert replay_mismatches(leaves, database) == []

    # The log side: a leaf dropped, a leaf appended twice, a leaf that lies about its index.
    assert len(replay_mismatches(leaves[:issued] + leaves[issued + 1 :], database)) == 1
    assert len(replay_mismatches([*leaves, leaves[issued]], database)) == 1
    altered = json.loads(leaves[issued])
    altered["status_index"] = (altered["status_index"] + 1) % LIST_SIZE
    forged = json.dumps(altered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    problems = replay_mismatches(
        [*leaves[:issued], forged.encode(), *leaves[issued + 1 :]], database
    )
    assert len(problems) == 2, problems
    strange = replay_mismatches([*leaves, b'{"type":"test","n":1}'], database)
    assert len(strange) == 1 and "neither" in strange[0], strange
