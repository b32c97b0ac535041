"""Signed checkpoints of a region's log (C2SP tlog-checkpoint in a C2SP signed note).

The format is the verifier's (verifier.checkpoint); this side only signs, self-checks and
stores. A checkpoint covers many appends: `checkpoint_if_due` signs at most once per
interval, and only when the tree grew.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.authority import current_signer_certificate
from ca.counters import bump_counter
from ca.errors import CaError
from ca.keys import KeyRef, KeyStore, KeyStores
from ca.profiles import LOG_SIGNER
from licence_registry.log_models import LogCheckpointRow
from licence_registry.log_store import (
    MAX_PAGE,
    LogCorrupted,
    LogError,
    LogNotFound,
    consistency_proof,
    root_at,
    tree_size,
)
from verifier.certs import valid_at
from verifier.checkpoint import (
    CheckpointError,
    NoteKey,
    format_signed_note,
    log_origin,
    open_note,
    sign_checkpoint_text,
    signed_at_extension,
)
from verifier.errors import NotFoundError
from verifier.merkle import ProofError, verify_consistency
from verifier.timeutil import format_time, utc_now
from verifier.trust_list import ServiceType

Transaction = Callable[[], AbstractContextManager[Session]]
DEFAULT_CHECKPOINT_INTERVAL = timedelta(seconds=2)


class UnknownLog(LogError, NotFoundError):
    """No transparency-log signer runs for the requested region."""


@dataclass(frozen=True)
class LogSigner:
    """A region's log key and certificate; the key name and origin is log_origin(region)."""

    region: str
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    origin: str
    note_key: NoteKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        public_key = self.certificate.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise CaError(f"the log certificate of {self.region} does not hold an ECDSA key")
        object.__setattr__(self, "note_key", NoteKey(self.origin, public_key))


@dataclass(frozen=True)
class LogCheckpoint:
    region: str
    tree_size: int
    root_hash: bytes
    note: str
    signed_at: datetime


def load_log_signer(
    transaction: Transaction, key_stores: KeyStores | KeyStore, region: str
) -> LogSigner:
    """The log signer of `region`: its newest unrevoked log-signer certificate that the
    region lists as its `log` service, and its key."""
    with transaction() as session:
        row = current_signer_certificate(
            session, region, LOG_SIGNER, utc_now(), listed_as=ServiceType.LOG
        )
        if row is None or row.key_ref is None:
            raise UnknownLog(f"no transparency-log signer for region {region!r}")
        certificate = row.certificate
        key_ref = KeyRef.parse(row.key_ref)
    key = KeyStores.of(key_stores).private_key(key_ref)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaError(f"the log-signer key of {region} is not an ECDSA key")
    signer = LogSigner(region, certificate, key, log_origin(region))
    # Sign-and-verify rather than comparing public keys: an HSM-backed key may only sign.
    probe = b"govtrust log key check"
    try:
        signer.note_key.public_key.verify(
            key.sign(probe, ec.ECDSA(hashes.SHA256())), probe, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        raise CaError(f"the log-signer key of {region} does not match its certificate") from None
    return signer


def sign_checkpoint(
    session: Session, signer: LogSigner, region: str, *, now: datetime
) -> LogCheckpoint | None:
    """Sign and store a checkpoint of the current tree; None when the tree has not grown
    since the latest checkpoint. Never signs a tree inconsistent with that checkpoint."""
    if signer.region != region:
        raise LogError(f"the log signer of region {signer.region} cannot sign for {region}")
    if not valid_at(signer.certificate, now):
        raise LogError(
            f"the log-signer certificate of region {region} is not valid at {format_time(now)}"
        )
    size = tree_size(session, region)
    latest = latest_checkpoint(session, region)
    if latest is not None and latest.tree_size >= size:
        if latest.tree_size > size:
            raise LogCorrupted(
                f"log of region {region}: checkpoint of size {latest.tree_size} but only "
                f"{size} entries"
            )
        return None
    root = root_at(session, region, size)
    if latest is not None:
        proof = consistency_proof(session, region, latest.tree_size, size)
        try:
            verify_consistency(latest.tree_size, size, latest.root_hash, root, proof)
        except ProofError as exc:
            raise LogCorrupted(
                f"log of region {region} forked from its checkpoint: {exc}"
            ) from None
    body = sign_checkpoint_text(signer.origin, size, root, [signed_at_extension(now)])
    signature = signer.private_key.sign(body, ec.ECDSA(hashes.SHA256()))
    note = format_signed_note(body, signer.origin, signer.note_key.public_key, signature)
    try:
        text, _ = open_note(note, [signer.note_key])
    except CheckpointError as exc:
        raise LogCorrupted(f"the checkpoint just signed does not open: {exc}") from None
    if text.encode("utf-8") != body:
        raise LogCorrupted("the checkpoint just signed does not carry the text signed")
    checkpoint = LogCheckpoint(region, size, root, note.decode("utf-8"), now)
    session.execute(
        insert(LogCheckpointRow).values(
            region_code=region,
            tree_size=size,
            root_hash=root,
            note=checkpoint.note,
            signed_at=now,
        )
    )
    return checkpoint


def checkpoint_if_due(
    transaction: Transaction,
    signer: LogSigner,
    region: str,
    *,
    min_interval: timedelta = DEFAULT_CHECKPOINT_INTERVAL,
    now: datetime | None = None,
) -> LogCheckpoint | None:
    """Sign a checkpoint in a short transaction of its own, if the tree grew and the latest
    checkpoint is at least `min_interval` old; None otherwise (or if another process just
    signed that size)."""
    at = now or utc_now()
    with transaction() as session:
        # A cheap look first, so the common "nothing to do" takes no lock.
        if not _due(session, region, min_interval, at):
            return None
    try:
        with transaction() as session:
            # The first statement, so SQLite takes its write lock before reading anything.
            bump_counter(session, f"log-checkpoint:{region}", by=0)
            if not _due(session, region, min_interval, at):
                return None
            return sign_checkpoint(session, signer, region, now=at)
    except IntegrityError:
        # The unique (region, tree size) caught a signer that did not take the lock.
        return None


def _due(session: Session, region: str, min_interval: timedelta, at: datetime) -> bool:
    latest = latest_checkpoint(session, region)
    if latest is None:
        return True
    return latest.tree_size < tree_size(session, region) and at - latest.signed_at >= min_interval


def _checkpoint(row: LogCheckpointRow) -> LogCheckpoint:
    return LogCheckpoint(
        row.region_code, int(row.tree_size), bytes(row.root_hash), row.note, row.signed_at
    )


def latest_checkpoint(session: Session, region: str) -> LogCheckpoint | None:
    row = session.scalars(
        select(LogCheckpointRow)
        .where(LogCheckpointRow.region_code == region)
        .order_by(LogCheckpointRow.tree_size.desc())
        .limit(1)
    ).first()
    return None if row is None else _checkpoint(row)


def checkpoint_at(session: Session, region: str, size: int) -> LogCheckpoint:
    """The checkpoint of tree size `size`; LogNotFound when none was signed for that size."""
    row = session.get(LogCheckpointRow, (region, size))
    if row is None:
        raise LogNotFound(f"no checkpoint of tree size {size} in the log of region {region}")
    return _checkpoint(row)


def list_checkpoints(
    session: Session, region: str, *, after_size: int = -1, limit: int = MAX_PAGE
) -> list[LogCheckpoint]:
    """Checkpoints of `region` with a tree size above `after_size`, smallest first."""
    rows = session.scalars(
        select(LogCheckpointRow)
        .where(LogCheckpointRow.region_code == region, LogCheckpointRow.tree_size > after_size)
        .order_by(LogCheckpointRow.tree_size)
        .limit(min(max(limit, 1), MAX_PAGE))
    )
    return [_checkpoint(row) for row in rows]
