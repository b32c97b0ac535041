"""Replaying a region's log from its leaves, independently of the stored subtree hashes.

What the auditor runs: every leaf hash is recomputed from the stored leaf bytes, every
stored node and every checkpoint root from those leaf hashes alone, every checkpoint's
signature verified and every pair of consecutive checkpoints proven consistent with proofs
served by the storage. Each problem names the leaf index, node or tree size at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.counters import read_counters
from ca.models import IssuedCertificate
from ca.profiles import LOG_SIGNER
from licence_registry.log_leaves import LeafError, licence_identifier_of, parse_leaf
from licence_registry.log_models import LogCheckpointRow, LogLeaf, LogNode
from licence_registry.log_store import LogCorrupted, consistency_proof, counter_name
from verifier.checkpoint import (
    CheckpointError,
    NoteKey,
    log_origin,
    open_note,
    sign_checkpoint_text,
    signed_at_extension,
)
from verifier.merkle import EMPTY_ROOT, ProofError, leaf_hash, node_hash, root_hash
from verifier.merkle import verify_consistency as verify_merkle_consistency

MAX_PROBLEMS = 100
_BATCH = 10_000


class ProblemKind(StrEnum):
    LEAF_MISSING = "leaf-missing"
    LEAF_HASH = "leaf-hash"
    LEAF_FORMAT = "leaf-format"
    COUNTER = "counter"
    NODE_HASH = "node-hash"
    NODE_MISSING = "node-missing"
    NODE_EXTRA = "node-extra"
    CHECKPOINT_SIZE = "checkpoint-size"
    CHECKPOINT_ROOT = "checkpoint-root"
    CHECKPOINT_TEXT = "checkpoint-text"
    CHECKPOINT_SIGNATURE = "checkpoint-signature"
    CONSISTENCY = "consistency"


@dataclass(frozen=True)
class AuditProblem:
    kind: ProblemKind
    message: str
    index: int | None = None
    level: int | None = None
    tree_size: int | None = None


@dataclass(frozen=True)
class AuditResult:
    region: str
    tree_size: int
    root_hash: bytes
    checkpoints: int
    # The first MAX_PROBLEMS problems, in the order found: leaves, nodes, then checkpoints.
    problems: tuple[AuditProblem, ...]
    problem_count: int

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


@dataclass
class _Problems:
    limit: int
    found: list[AuditProblem] = field(default_factory=list)
    count: int = 0

    def add(self, kind: ProblemKind, message: str, **where: int) -> None:
        self.count += 1
        if len(self.found) < self.limit:
            self.found.append(AuditProblem(kind, message, **where))


def audit_log(
    session: Session,
    region: str,
    *,
    keys: Sequence[NoteKey] | None = None,
    max_problems: int = MAX_PROBLEMS,
) -> AuditResult:
    """Replay `region`'s log. Checkpoint signatures are checked against `keys`, or by
    default against every log-signer certificate this database holds for the region (a
    rotated-out key still signed the older checkpoints)."""
    problems = _Problems(max_problems)
    leaf_hashes = _audit_leaves(session, region, problems)
    size = len(leaf_hashes)
    (counted,) = read_counters(session, counter_name(region))
    if counted != size:
        problems.add(
            ProblemKind.COUNTER,
            f"the index counter says {counted} entries but {size} leaves are stored",
            tree_size=size,
        )
    levels = _levels(leaf_hashes)
    _audit_nodes(session, region, levels, problems)
    root = root_hash(leaf_hashes)
    if size and _root_from_levels(levels, size) != root:
        raise AssertionError("subtree fold disagrees with verifier.merkle.root_hash")
    note_keys = list(keys) if keys is not None else region_log_keys(session, region)
    checkpoints = _audit_checkpoints(session, region, levels, note_keys, problems)
    return AuditResult(region, size, root, checkpoints, tuple(problems.found), problems.count)


def region_log_keys(session: Session, region: str) -> list[NoteKey]:
    """Note keys of every log-signer certificate issued to `region`, revoked or not."""
    keys = []
    for row in session.scalars(
        select(IssuedCertificate).where(
            IssuedCertificate.issuer_code == region, IssuedCertificate.profile == LOG_SIGNER.name
        )
    ):
        public_key = row.certificate.public_key()
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            keys.append(NoteKey(log_origin(region), public_key))
    return keys


def _audit_leaves(session: Session, region: str, problems: _Problems) -> list[bytes]:
    hashes: list[bytes] = []
    rows = session.execute(
        select(LogLeaf.index, LogLeaf.leaf, LogLeaf.leaf_hash, LogLeaf.licence_identifier)
        .where(LogLeaf.region_code == region)
        .order_by(LogLeaf.index)
        .execution_options(yield_per=_BATCH)
    )
    for index, data, stored, identifier in rows:
        if index != len(hashes):
            problems.add(
                ProblemKind.LEAF_MISSING,
                f"leaves {len(hashes)} to {index - 1} are missing",
                index=len(hashes),
            )
        computed = leaf_hash(bytes(data))
        if computed != bytes(stored):
            problems.add(
                ProblemKind.LEAF_HASH,
                f"leaf {index}: stored leaf hash is not the hash of the stored leaf bytes",
                index=index,
            )
        try:
            if licence_identifier_of(parse_leaf(bytes(data))) != identifier:
                problems.add(
                    ProblemKind.LEAF_FORMAT,
                    f"leaf {index}: licence identifier column disagrees with the leaf",
                    index=index,
                )
        except LeafError as exc:
            problems.add(ProblemKind.LEAF_FORMAT, f"leaf {index}: {exc}", index=index)
        hashes.append(computed)
    return hashes


def _levels(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    """Every complete subtree's hash, level by level, built from the leaf hashes alone."""
    levels = [leaf_hashes]
    while len(levels[-1]) >= 2:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def _root_from_levels(levels: list[list[bytes]], size: int) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    hashes = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            hashes.append(levels[level][start >> level])
            start += 1 << level
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _audit_nodes(
    session: Session, region: str, levels: list[list[bytes]], problems: _Problems
) -> None:
    next_index = [0] * len(levels)
    rows = session.execute(
        select(LogNode.level, LogNode.index, LogNode.hash)
        .where(LogNode.region_code == region)
        .order_by(LogNode.level, LogNode.index)
        .execution_options(yield_per=_BATCH)
    )
    for level, index, stored in rows:
        if level >= len(levels) or index >= len(levels[level]):
            problems.add(
                ProblemKind.NODE_EXTRA,
                f"node level {level} index {index} is not a complete subtree of the "
                f"{len(levels[0])} leaves",
                level=level,
                index=index,
            )
            continue
        _missing(level, next_index[level], index, problems)
        next_index[level] = index + 1
        if bytes(stored) != levels[level][index]:
            first, count = index << level, 1 << level
            problems.add(
                ProblemKind.NODE_HASH,
                f"node level {level} index {index} (leaves {first} to {first + count - 1}) "
                "does not match the leaves",
                level=level,
                index=index,
            )
    for level, hashes in enumerate(levels):
        _missing(level, next_index[level], len(hashes), problems)


def _missing(level: int, start: int, end: int, problems: _Problems) -> None:
    for index in range(start, end):
        problems.add(
            ProblemKind.NODE_MISSING,
            f"node level {level} index {index} is missing",
            level=level,
            index=index,
        )
        if problems.count > problems.limit:
            return


def _audit_checkpoints(
    session: Session,
    region: str,
    levels: list[list[bytes]],
    keys: list[NoteKey],
    problems: _Problems,
) -> int:
    size = len(levels[0])
    origin = log_origin(region)
    previous: LogCheckpointRow | None = None
    count = 0
    rows = session.scalars(
        select(LogCheckpointRow)
        .where(LogCheckpointRow.region_code == region)
        .order_by(LogCheckpointRow.tree_size)
        .execution_options(yield_per=_BATCH)
    )
    for row in rows:
        count += 1
        at, root = int(row.tree_size), bytes(row.root_hash)
        try:
            text, _ = open_note(row.note, keys)
        except CheckpointError as exc:
            problems.add(ProblemKind.CHECKPOINT_SIGNATURE, f"checkpoint {at}: {exc}", tree_size=at)
            text = None
        if text is not None and text.encode("utf-8") not in _expected_texts(
            origin, at, root, row.signed_at
        ):
            problems.add(
                ProblemKind.CHECKPOINT_TEXT,
                f"checkpoint {at}: the signed text is not {origin}, size {at}, the stored root "
                "and the stored signing time",
                tree_size=at,
            )
        if at > size:
            problems.add(
                ProblemKind.CHECKPOINT_SIZE,
                f"checkpoint {at} is beyond the {size} stored leaves",
                tree_size=at,
            )
            continue
        if _root_from_levels(levels, at) != root:
            problems.add(
                ProblemKind.CHECKPOINT_ROOT,
                f"checkpoint {at}: its root is not the root of the first {at} leaves",
                tree_size=at,
            )
        if previous is not None:
            _audit_consistency(session, region, previous, row, problems)
        previous = row
    return count


def _expected_texts(origin: str, size: int, root: bytes, signed_at: datetime) -> set[bytes]:
    """What the checkpoint's signed text may be: with its stored signing time, or (signed
    before checkpoints stated their time) without one."""
    try:
        return {
            sign_checkpoint_text(origin, size, root, [signed_at_extension(signed_at)]),
            sign_checkpoint_text(origin, size, root),
        }
    except CheckpointError:
        return set()


def _audit_consistency(
    session: Session,
    region: str,
    first: LogCheckpointRow,
    second: LogCheckpointRow,
    problems: _Problems,
) -> None:
    size1, size2 = int(first.tree_size), int(second.tree_size)
    try:
        proof = consistency_proof(session, region, size1, size2)
        verify_merkle_consistency(
            size1, size2, bytes(first.root_hash), bytes(second.root_hash), proof
        )
    except (ProofError, LogCorrupted) as exc:
        problems.add(
            ProblemKind.CONSISTENCY,
            f"checkpoints {size1} and {size2} are not proven consistent: {exc}",
            tree_size=size2,
        )
