"""The per-region transparency log: stored-subtree proofs agree with the reference Merkle
code, checkpoints verify against the real trust list, concurrent appends stay gapless, and
the audit names exactly the leaf, node or checkpoint that was tampered with."""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ca.authority import issue_with_new_key
from ca.profiles import LOG_SIGNER, subject_name
from ca.revocation import revoke_certificate
from licence_registry import log_checkpoints, log_store
from licence_registry.log_models import LogCheckpointRow
from licence_registry.transparency import (
    LeafError,
    LogCheckpoint,
    LogError,
    LogNotFound,
    LogSigner,
    ProblemKind,
    UnknownLog,
    append_leaf,
    audit_log,
    canonical_json,
    checkpoint_at,
    checkpoint_if_due,
    consistency_proof,
    entries,
    find_licence_leaves,
    inclusion_proof,
    latest_checkpoint,
    licence_leaf,
    load_log_signer,
    parse_leaf,
    published_leaf,
    root_at,
    sign_checkpoint,
    tree_size,
)
from tests.conftest import Federation
from tests.verifier.offline_pki import issue, name, new_key
from verifier import merkle
from verifier.checkpoint import log_origin, verify_checkpoint
from verifier.errors import InputError, NotFoundError
from verifier.identifiers import LicenceIdentifier, make_uscc
from verifier.timeutil import utc_now

ZJ = "330000"
DEPARTMENT = make_uscc("1", "1", "330000", "33000101")
OTHER_DEPARTMENT = make_uscc("1", "1", "330000", "33000202")
AT = datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=UTC)
_regions = itertools.count(990000)


def new_region() -> str:
    """A log of its own for each test: the shared federation's region logs stay clean."""
    return str(next(_regions))


def licence_id(serial: int, department: str = DEPARTMENT) -> str:
    return str(LicenceIdentifier(DEPARTMENT + "001", department, serial))


def fill(federation: Federation, region: str, count: int, per_transaction: int = 25) -> list[bytes]:
    """Append `count` test leaves; return their leaf hashes in index order."""
    with federation.runtime.database.transaction() as session:
        start = tree_size(session, region)
    hashes: list[bytes] = []
    while len(hashes) < count:
        with federation.runtime.database.transaction() as session:
            for _ in range(min(per_transaction, count - len(hashes))):
                index = start + len(hashes)
                entry = append_leaf(session, region, {"type": "test", "n": index})
                assert (entry.region, entry.index) == (region, index)
                hashes.append(entry.leaf_hash)
    return hashes


def throwaway_signer(region: str) -> LogSigner:
    """A log signer for a test region that no trust list knows: for audit tests."""
    key, now = new_key(), utc_now()
    subject = f"{region} test log"
    certificate = issue(
        (key, name(subject)),
        subject,
        key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=1),
    )
    return LogSigner(region, certificate, key, log_origin(region))


def zj_signer(federation: Federation) -> LogSigner:
    runtime = federation.runtime
    return load_log_signer(runtime.database.transaction, runtime.key_stores, ZJ)


def test_canonical_json_is_one_spelling() -> None:
    leaf = {"z": 1, "a": "浙江", "m": None, "b": -7}
    data = canonical_json(leaf)
    assert data == '{"a":"浙江","b":-7,"m":null,"z":1}'.encode()
    assert parse_leaf(data) == leaf
    for bad in ({"x": 1.0}, {"x": True}, {1: "x"}, {"x": {"y": 1}}, {"x": [1]}, {"x": 2**53}, {}):
        with pytest.raises(LeafError):
            canonical_json(bad)  # type: ignore[arg-type]
    for spelling in (b'{"b":1, "a":2}', b'{"b":1,"a":2}', b'{"a":"\\u6d59"}', b'{"a":1,"a":1}'):
        with pytest.raises(LeafError):
            parse_leaf(spelling)


def test_leaf_builders() -> None:
    identifier = licence_id(42)
    leaf = licence_leaf("revoked", identifier, 1, 131071, AT, DEPARTMENT, reason="吊销")
    assert leaf == {
        "type": "licence",
        "event": "revoked",
        "licence": identifier,
        "version": 1,
        "status_index": 131071,
        "department": DEPARTMENT,
        "at": "2026-11-25T08:30:15Z",
        "reason": "吊销",
    }
    assert licence_leaf("issued", identifier, 1, None, AT, DEPARTMENT)["reason"] is None
    with pytest.raises(LeafError, match="version"):
        licence_leaf("issued", identifier, 2, 5, AT, DEPARTMENT)
    with pytest.raises(InputError):
        licence_leaf("issued", identifier[:-1] + "0", 1, 5, AT, DEPARTMENT)
    with pytest.raises(LeafError, match="event"):
        licence_leaf("Issued!", identifier, 1, 5, AT, DEPARTMENT)
    with pytest.raises(LeafError, match="status index"):
        licence_leaf("issued", identifier, 1, -1, AT, DEPARTMENT)
    published = published_leaf("status-list", ZJ, 3, "AB" * 32, AT)
    assert published == {
        "type": "status-list",
        "region": ZJ,
        "number": 3,
        "sha256": "ab" * 32,
        "at": "2026-11-25T08:30:15Z",
    }
    with pytest.raises(LeafError, match="kind"):
        published_leaf("crl", ZJ, 3, "ab" * 32, AT)  # type: ignore[arg-type]
    with pytest.raises(LeafError, match="SHA-256"):
        published_leaf("trust-list", ZJ, 3, "ab" * 31, AT)


def test_stored_proofs_equal_the_reference_for_every_index(federation: Federation) -> None:
    region = new_region()
    hashes = fill(federation, region, 300)
    with federation.runtime.database.transaction() as session:
        assert tree_size(session, region) == 300
        for size in range(301):
            assert root_at(session, region, size) == merkle.root_hash(hashes[:size])
        for size in (1, 2, 3, 5, 8, 64, 127, 128, 129, 255, 256, 257, 300):
            root = merkle.root_hash(hashes[:size])
            for index in range(size):
                proof = inclusion_proof(session, region, index, size)
                assert proof == merkle.inclusion_proof(hashes[:size], index)
                merkle.verify_inclusion(hashes[index], index, size, proof, root)
        for size2 in (1, 2, 7, 8, 9, 100, 128, 255, 256, 257, 300):
            root2 = merkle.root_hash(hashes[:size2])
            for size1 in range(size2 + 1):
                proof = consistency_proof(session, region, size1, size2)
                assert proof == merkle.consistency_proof(hashes, size1, size2), (size1, size2)
                merkle.verify_consistency(
                    size1, size2, merkle.root_hash(hashes[:size1]), root2, proof
                )


def test_each_append_stores_its_leaf_and_completed_subtrees(federation: Federation) -> None:
    region = new_region()
    fill(federation, region, 8)
    with federation.runtime.database.transaction() as session:
        nodes = session.execute(
            text('SELECT level, "index" FROM log_node WHERE region_code = :r'), {"r": region}
        ).all()
    # 8 leaves, 4 pairs, 2 quads and the whole tree: every complete subtree exactly once.
    assert sorted(nodes) == sorted(
        [(0, i) for i in range(8)] + [(1, i) for i in range(4)] + [(2, 0), (2, 1), (3, 0)]
    )


def test_out_of_range_requests_say_what_is_wrong(federation: Federation) -> None:
    region = new_region()
    fill(federation, region, 10)
    with federation.runtime.database.transaction() as session:
        with pytest.raises(LogError, match="larger than the log of region"):
            inclusion_proof(session, region, 0, 11)
        with pytest.raises(LogError, match="leaf index 10 is not in a tree of size 10"):
            inclusion_proof(session, region, 10, 10)
        with pytest.raises(LogError, match="is not an integer"):
            inclusion_proof(session, region, True, 10)  # type: ignore[arg-type]
        with pytest.raises(LogError, match="first tree size 6 is larger"):
            consistency_proof(session, region, 6, 5)
        with pytest.raises(LogError, match="second tree size 11"):
            consistency_proof(session, region, 1, 11)
        with pytest.raises(LogError, match="out of range"):
            root_at(session, region, -1)
        with pytest.raises(LogNotFound, match="no entry 10") as found:
            entries(session, region, 10, 20)
        assert isinstance(found.value, NotFoundError)
        with pytest.raises(LogNotFound):
            checkpoint_at(session, region, 10)
        assert isinstance(LogError("x"), InputError)
        assert root_at(session, new_region(), 0) == merkle.EMPTY_ROOT


def test_entries_are_paged_and_licence_leaves_found(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    region = new_region()
    first, second = licence_id(1), licence_id(2)
    with federation.runtime.database.transaction() as session:
        append_leaf(session, region, licence_leaf("issued", first, 1, 7, AT, DEPARTMENT))
        append_leaf(session, region, published_leaf("status-list", region, 1, "00" * 32, AT))
        append_leaf(session, region, licence_leaf("issued", second, 1, 9, AT, DEPARTMENT))
        append_leaf(session, region, licence_leaf("revoked", first, 1, 7, AT, DEPARTMENT, "x"))
    with federation.runtime.database.transaction() as session:
        assert find_licence_leaves(session, region, first) == [0, 3]
        assert find_licence_leaves(session, region, second) == [2]
        assert find_licence_leaves(session, region, licence_id(3)) == []
        page = entries(session, region, 1, 100)
        assert [index for index, _ in page] == [1, 2, 3]
        assert parse_leaf(page[0][1])["type"] == "status-list"
        monkeypatch.setattr(log_store, "MAX_PAGE", 2)
        assert [index for index, _ in entries(session, region, 0, 4)] == [0, 1]


def test_an_append_rolled_back_leaves_no_trace(federation: Federation) -> None:
    region = new_region()
    fill(federation, region, 3)
    with pytest.raises(RuntimeError), federation.runtime.database.transaction() as session:
        append_leaf(session, region, {"type": "test", "n": 3})
        raise RuntimeError("the licence change failed")
    with pytest.raises(LeafError), federation.runtime.database.transaction() as session:
        append_leaf(session, region, {"type": "test", "n": 1.5})
    with federation.runtime.database.transaction() as session:
        assert tree_size(session, region) == 3
        entry = append_leaf(session, region, {"type": "test", "n": "next"})
    assert entry.index == 3
    with federation.runtime.database.transaction() as session:
        assert entries(session, region, 3, 4) == [(3, b'{"n":"next","type":"test"}')]
        assert audit_log(session, region, keys=[]).ok


def test_concurrent_appends_are_gapless(federation: Federation) -> None:
    region = new_region()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(thread: int) -> None:
        try:
            barrier.wait()
            for n in range(25):
                with federation.runtime.database.transaction() as session:
                    append_leaf(session, region, {"type": "test", "thread": thread, "n": n})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with federation.runtime.database.transaction() as session:
        indexes = [index for index, _ in entries(session, region, 0, 1000)]
        assert indexes == list(range(200))
        result = audit_log(session, region, keys=[])
    assert result.ok, result.problems
    assert result.tree_size == 200


def test_checkpoints_verify_against_the_trust_list(federation: Federation) -> None:
    signer = zj_signer(federation)
    transaction = federation.runtime.database.transaction
    fill(federation, ZJ, 5)
    # In the past, so later tests signing at the real time find these checkpoints old enough;
    # but after any checkpoint an earlier test signed at the real time.
    with transaction() as session:
        latest = latest_checkpoint(session, ZJ)
    now = utc_now() - timedelta(seconds=30)
    if latest is not None:
        now = max(now, latest.signed_at + timedelta(milliseconds=1))
    first = checkpoint_if_due(transaction, signer, ZJ, min_interval=timedelta(), now=now)
    assert first is not None
    with transaction() as session:
        assert first.tree_size == tree_size(session, ZJ)
        assert first.root_hash == root_at(session, ZJ, first.tree_size)
        assert latest_checkpoint(session, ZJ) == first
        assert checkpoint_at(session, ZJ, first.tree_size) == first
    verified = verify_checkpoint(first.note, federation.trust_list(), region=ZJ, at=utc_now())
    assert (verified.tree_size, verified.root_hash) == (first.tree_size, first.root_hash)
    assert verified.origin == log_origin(ZJ)
    # Not grown: nothing to sign, however long ago the last checkpoint was.
    assert checkpoint_if_due(transaction, signer, ZJ, now=now + timedelta(hours=1)) is None
    fill(federation, ZJ, 3)
    later = now + timedelta(seconds=1)
    assert checkpoint_if_due(transaction, signer, ZJ, now=later) is None  # grown, not due
    second = checkpoint_if_due(transaction, signer, ZJ, now=now + timedelta(seconds=2))
    assert second is not None and second.tree_size == first.tree_size + 3
    verify_checkpoint(second.note, federation.trust_list(), region=ZJ, at=utc_now())
    with transaction() as session:
        proof = consistency_proof(session, ZJ, first.tree_size, second.tree_size)
        assert audit_log(session, ZJ).ok
    merkle.verify_consistency(
        first.tree_size, second.tree_size, first.root_hash, second.root_hash, proof
    )


def test_a_signer_signs_only_its_own_region(federation: Federation) -> None:
    signer = zj_signer(federation)
    with (
        federation.runtime.database.transaction() as session,
        pytest.raises(LogError, match="cannot sign for 440000"),
    ):
        sign_checkpoint(session, signer, "440000", now=utc_now())
    with pytest.raises(UnknownLog, match="no transparency-log signer") as unknown:
        load_log_signer(
            federation.runtime.database.transaction, federation.runtime.key_stores, "990999"
        )
    assert isinstance(unknown.value, NotFoundError)


def checkpoints_of(federation: Federation, region: str, size: int) -> int:
    with federation.runtime.database.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    LogCheckpointRow.region_code == region, LogCheckpointRow.tree_size == size
                )
            )
            or 0
        )


def test_racing_signers_sign_each_size_once(federation: Federation) -> None:
    signer = zj_signer(federation)
    transaction = federation.runtime.database.transaction
    fill(federation, ZJ, 4)
    with transaction() as session:
        size = tree_size(session, ZJ)
    barrier = threading.Barrier(8)
    results: list[LogCheckpoint | None] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            barrier.wait()
            results.append(checkpoint_if_due(transaction, signer, ZJ, min_interval=timedelta()))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    signed = [r for r in results if r is not None]
    assert len(results) == 8 and len(signed) == 1
    assert signed[0].tree_size == size
    assert checkpoints_of(federation, ZJ, size) == 1


def test_a_signer_that_missed_the_latest_checkpoint_does_not_sign_twice(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = zj_signer(federation)
    transaction = federation.runtime.database.transaction
    fill(federation, ZJ, 2)
    assert checkpoint_if_due(transaction, signer, ZJ, min_interval=timedelta()) is not None
    with transaction() as session:
        size = tree_size(session, ZJ)
    blind: Callable[[Session, str], None] = lambda _session, _region: None  # noqa: E731
    monkeypatch.setattr(log_checkpoints, "latest_checkpoint", blind)
    # It signs the size again; the unique (region, tree size) refuses the second note.
    assert checkpoint_if_due(transaction, signer, ZJ, min_interval=timedelta()) is None
    assert checkpoints_of(federation, ZJ, size) == 1


def audited_log(federation: Federation, leaves: int = 40) -> tuple[str, LogSigner, list[int]]:
    """A test region with `leaves` leaves and a checkpoint at sizes 10, 20 and 40."""
    region = new_region()
    signer = throwaway_signer(region)
    sizes = [10, 20, leaves]
    done = 0
    for size in sizes:
        fill(federation, region, size - done)
        done = size
        with federation.runtime.database.transaction() as session:
            assert sign_checkpoint(session, signer, region, now=utc_now()) is not None
    with federation.runtime.database.transaction() as session:
        result = audit_log(session, region, keys=[signer.note_key])
    assert result.ok, result.problems
    assert (result.tree_size, result.checkpoints) == (leaves, 3)
    return region, signer, sizes


def tamper(federation: Federation, statement: str, **parameters: object) -> None:
    with federation.runtime.database.transaction() as session:
        assert session.execute(text(statement), parameters).rowcount == 1  # type: ignore[attr-defined]


def audit(federation: Federation, region: str, signer: LogSigner) -> list[tuple[object, ...]]:
    with federation.runtime.database.transaction() as session:
        result = audit_log(session, region, keys=[signer.note_key])
    assert not result.ok and result.problem_count == len(result.problems)
    return [(p.kind, p.level, p.index, p.tree_size) for p in result.problems]


def test_audit_names_a_tampered_leaf(federation: Federation) -> None:
    region, signer, _ = audited_log(federation)
    forged = canonical_json({"type": "test", "n": 999})
    tamper(
        federation,
        'UPDATE log_leaf SET leaf = :leaf WHERE region_code = :r AND "index" = 17',
        leaf=forged,
        r=region,
    )
    problems = audit(federation, region, signer)
    assert problems[0] == (ProblemKind.LEAF_HASH, None, 17, None)
    # Every subtree over leaf 17 and every checkpoint after it, nothing else.
    nodes = [(level, index) for kind, level, index, _ in problems if kind == ProblemKind.NODE_HASH]
    assert nodes == [(level, 17 >> level) for level in range(6)]
    roots = [size for kind, _, _, size in problems if kind == ProblemKind.CHECKPOINT_ROOT]
    assert roots == [20, 40]
    assert {p[0] for p in problems} == {
        ProblemKind.LEAF_HASH,
        ProblemKind.NODE_HASH,
        ProblemKind.CHECKPOINT_ROOT,
    }


def test_audit_names_a_tampered_node(federation: Federation) -> None:
    region, signer, _ = audited_log(federation)
    tamper(
        federation,
        'UPDATE log_node SET hash = :hash WHERE region_code = :r AND level = 2 AND "index" = 3',
        hash=b"\x07" * 32,
        r=region,
    )
    problems = audit(federation, region, signer)
    assert problems[0] == (ProblemKind.NODE_HASH, 2, 3, None)
    # Of the proofs between checkpoints only 10 -> 20 uses that subtree (leaves 12 to 15).
    assert problems[1:] == [(ProblemKind.CONSISTENCY, None, None, 20)]


def test_audit_names_a_missing_node(federation: Federation) -> None:
    region, signer, _ = audited_log(federation)
    tamper(
        federation,
        'DELETE FROM log_node WHERE region_code = :r AND level = 3 AND "index" = 4',
        r=region,
    )
    problems = audit(federation, region, signer)
    assert problems[0] == (ProblemKind.NODE_MISSING, 3, 4, None)


def test_audit_names_a_tampered_checkpoint_signature(federation: Federation) -> None:
    region, signer, _ = audited_log(federation)
    with federation.runtime.database.transaction() as session:
        note = checkpoint_at(session, region, 20).note
    body, _, signature_line = note.rstrip("\n").rpartition("\n")
    # Flip one byte of the DER signature (after the 4-byte key ID) and re-encode it.
    name, blob = signature_line[2:].split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 0x01
    forged = f"{body}\n— {name} {base64.b64encode(bytes(raw)).decode()}\n"
    tamper(
        federation,
        "UPDATE log_checkpoint SET note = :note WHERE region_code = :r AND tree_size = 20",
        note=forged,
        r=region,
    )
    problems = audit(federation, region, signer)
    assert len(problems) == 1
    assert problems[0][0] == ProblemKind.CHECKPOINT_SIGNATURE and problems[0][3] == 20


def test_a_log_signer_certificate_the_trust_list_does_not_list_never_signs(
    federation: Federation,
) -> None:
    """A newer log-signer certificate (a rollover not yet listed) must not take over:
    checkpoints it signed would verify for nobody."""
    runtime = federation.runtime
    listed = zj_signer(federation).certificate
    with runtime.database.transaction() as session:
        row = issue_with_new_key(
            session,
            runtime.key_store,
            "330000/log-signer-unlisted",
            ZJ,
            runtime.issuer(ZJ),
            LOG_SIGNER,
            subject_name("日志签名 未列入", organization="浙江省", province="浙江省"),
        )
        newer = row.certificate
    try:
        assert newer != listed
        assert zj_signer(federation).certificate == listed
    finally:
        with runtime.database.transaction() as session:
            revoke_certificate(
                session,
                ZJ,
                format(newer.serial_number, "x"),
                x509.ReasonFlags.cessation_of_operation,
            )
