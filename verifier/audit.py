"""The auditor's outside view of every region's transparency log (`govtrust audit`).

For each region with a `log` service granted in the federation trust list (itself verified
against the pinned national root), the latest checkpoint must be signed by that region's
log key and, against what the auditor remembers (`verifier.audit_state`):
  - not smaller than the remembered checkpoint (a rollback),
  - of the same root if of the same size (else a fork: two signed trees of one size),
  - provably an extension of it when larger (an RFC 9162 consistency proof from the log).
With `replay`, every entry is fetched and must rebuild the checkpoint's root; the licence
events are replayed into each status-list index's status, and every status-list version
the log names is fetched, checked against the SHA-256 its entry records, verified, and must
equal the replayed statuses as of its entry: the list is signed, and its entry appended,
in one transaction holding the region's log lock, so it reflects exactly the events logged
before it. The current list must also be a logged version that equals the replay of the
whole checkpointed log; one published after the checkpoint is remembered and checked by a
later replay. Trust-list versions the log names must hash as logged and verify.

What an offline bundle can prove (`audit_bundle`): each region's checkpoint is signed by
its trust-listed log key, is not smaller than the remembered or any earlier bundle's
checkpoint, and a checkpoint of the same size with another root is a fork. It cannot prove
that a larger checkpoint extends the remembered one (that needs the log's proof): such a
checkpoint is noted as unproven and kept, and the next server audit proves it (or names the
fork). Bundle mode neither sees log entries nor compares status lists.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from verifier.audit_log import Progress, replay_log
from verifier.audit_source import (
    BundleSource,
    CheckpointSource,
    LogServer,
    SourceRefused,
    SourceUnavailable,
)
from verifier.audit_state import AuditState, RegionState, RememberedCheckpoint
from verifier.certs import normalise_fingerprint
from verifier.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from verifier.errors import InputError
from verifier.merkle import ProofError, verify_consistency
from verifier.timeutil import format_time, utc_now
from verifier.trust_list import ServiceType, TrustList, TrustListError, verify_trust_list


class Outcome(StrEnum):
    AGREES = "agrees"
    DISAGREES = "disagrees"
    UNDECIDED = "undecided"

    @property
    def exit_code(self) -> int:
        return {Outcome.AGREES: 0, Outcome.DISAGREES: 1, Outcome.UNDECIDED: 3}[self]


@dataclass(frozen=True)
class RegionAudit:
    region: str
    tree_size: int | None
    root_hash: bytes | None
    signed_at: datetime | None
    remembered_size: int | None
    disagreements: tuple[str, ...]
    undecided: tuple[str, ...]
    notes: tuple[str, ...]
    entries_replayed: int
    status_lists_checked: int

    @property
    def outcome(self) -> Outcome:
        if self.disagreements:
            return Outcome.DISAGREES
        return Outcome.UNDECIDED if self.undecided else Outcome.AGREES


@dataclass(frozen=True)
class AuditReport:
    source: str
    mode: str  # "server" or "bundle"
    replayed: bool
    audited_at: datetime
    trust_list_sequence: int
    regions: tuple[RegionAudit, ...]

    @property
    def outcome(self) -> Outcome:
        outcomes = {r.outcome for r in self.regions}
        for outcome in (Outcome.DISAGREES, Outcome.UNDECIDED):
            if outcome in outcomes:
                return outcome
        return Outcome.AGREES if self.regions else Outcome.UNDECIDED

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mode": self.mode,
            "replayed": self.replayed,
            "audited_at": format_time(self.audited_at),
            "trust_list_sequence": self.trust_list_sequence,
            "outcome": str(self.outcome),
            "regions": [
                {
                    "region": r.region,
                    "outcome": str(r.outcome),
                    "tree_size": r.tree_size,
                    "root_hash": base64.b64encode(r.root_hash).decode() if r.root_hash else None,
                    "signed_at": format_time(r.signed_at) if r.signed_at else None,
                    "remembered_tree_size": r.remembered_size,
                    "entries_replayed": r.entries_replayed,
                    "status_lists_checked": r.status_lists_checked,
                    "disagreements": list(r.disagreements),
                    "undecided": list(r.undecided),
                    "notes": list(r.notes),
                }
                for r in self.regions
            ],
        }


@dataclass
class _Work:
    """One region's audit while it runs."""

    region: str
    remembered: RegionState
    checkpoint: Checkpoint | None = None
    disagreements: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    entries_replayed: int = 0
    status_lists_checked: int = 0

    def freeze(self) -> RegionAudit:
        checkpoint, remembered = self.checkpoint, self.remembered.checkpoint
        return RegionAudit(
            region=self.region,
            tree_size=checkpoint.tree_size if checkpoint else None,
            root_hash=checkpoint.root_hash if checkpoint else None,
            signed_at=checkpoint.signed_at if checkpoint else None,
            remembered_size=remembered.tree_size if remembered else None,
            disagreements=tuple(self.disagreements),
            undecided=tuple(self.undecided),
            notes=tuple(self.notes),
            entries_replayed=self.entries_replayed,
            status_lists_checked=self.status_lists_checked,
        )


def audit_server(
    server: LogServer,
    root_fingerprint: str,
    state: AuditState,
    *,
    replay: bool = False,
    at: datetime | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Audit every region's log as `server` serves it; remember what was accepted.
    Raises SourceUnavailable when not even the trust list can be had."""
    at = at or utc_now()
    pinned = normalise_fingerprint(root_fingerprint)
    trust_list = _trust_list(server, pinned, state, at)
    regions = []
    for region in log_regions(trust_list, at):
        work = _Work(region, state.load(region))
        try:
            # Remembered at once: an accepted checkpoint stays accepted if the replay cannot
            # finish.
            kept = _remember(
                state, work.remembered, _check_checkpoint(work, server, trust_list, at)
            )
            if replay and work.checkpoint is not None:
                result = replay_log(
                    server,
                    work.checkpoint,
                    trust_list,
                    pinned,
                    kept.pending_status_lists,
                    at=at,
                    progress=progress,
                )
                work.disagreements += result.disagreements
                work.notes += result.notes
                work.entries_replayed = result.entries_replayed
                work.status_lists_checked = result.status_lists_checked
                _remember(state, kept, _with_pending(kept, result.pending_status_lists))
        except SourceUnavailable as exc:
            work.undecided.append(str(exc))
        regions.append(work.freeze())
    return AuditReport(
        server.description, "server", replay, at, trust_list.sequence, tuple(regions)
    )


def audit_bundle(
    data: bytes,
    root_fingerprint: str,
    state: AuditState,
    *,
    at: datetime | None = None,
    description: str = "bundle",
) -> AuditReport:
    """Audit the checkpoints an offline bundle carries (see the module's note on what that
    can and cannot prove); remember what was accepted."""
    at = at or utc_now()
    pinned = normalise_fingerprint(root_fingerprint)
    source = BundleSource(data, description)
    trust_list = _trust_list(source, pinned, state, at)
    regions = []
    for region in log_regions(trust_list, at):
        work = _Work(region, state.load(region))
        _remember(state, work.remembered, _check_checkpoint(work, source, trust_list, at))
        regions.append(work.freeze())
    return AuditReport(description, "bundle", False, at, trust_list.sequence, tuple(regions))


def log_regions(trust_list: TrustList, at: datetime) -> list[str]:
    """The regions with a `log` service granted at `at`."""
    return sorted({s.region_code for s in trust_list.services(ServiceType.LOG) if s.granted_at(at)})


def _trust_list(
    source: CheckpointSource, pinned: str, state: AuditState, at: datetime
) -> TrustList:
    token = source.trust_list()
    try:
        trust_list = verify_trust_list(
            token, pinned, at=at, min_sequence=state.trust_lists.highest_sequence(pinned)
        )
    except (TrustListError, InputError) as exc:
        raise InputError(
            f"the trust list of {source.description} cannot be trusted: {exc}"
        ) from None
    state.trust_lists.record(pinned, trust_list.sequence)
    return trust_list


# --- checkpoints ------------------------------------------------------------------------------


def _check_checkpoint(
    work: _Work, source: CheckpointSource, trust_list: TrustList, at: datetime
) -> RegionState | None:
    """Verify the region's checkpoint against the trust list and everything remembered; the
    state to remember if it is accepted, None if not."""
    region, remembered = work.region, work.remembered
    note = source.checkpoint(region)
    if note is None:
        work.undecided.append(f"{source.description} holds no checkpoint of this log yet")
        return None
    try:
        checkpoint = verify_checkpoint(note, trust_list, region=region, at=at)
    except CheckpointError as exc:
        work.disagreements.append(f"the checkpoint is not acceptable: {exc}")
        return None
    work.checkpoint = checkpoint
    new = RememberedCheckpoint(checkpoint.tree_size, checkpoint.root_hash, note.decode("utf-8"))
    earlier = [(c, "the last accepted checkpoint") for c in [remembered.checkpoint] if c]
    earlier += [(c, "a checkpoint seen in an earlier bundle") for c in remembered.unproven]
    unproven = False
    for old, what in earlier:
        if new.tree_size < old.tree_size:
            work.disagreements.append(
                f"rollback: the checkpoint ({new.describe()}) is smaller than {what} "
                f"({old.describe()})"
            )
        elif new.tree_size == old.tree_size:
            if new.root_hash != old.root_hash:
                work.disagreements.append(
                    f"fork: two signed checkpoints of size {new.tree_size} with different "
                    f"roots: {what} ({old.describe()}) and this one ({new.describe()})"
                )
            elif old is not remembered.checkpoint:
                work.notes.append(f"the same tree as {what} (size {old.tree_size})")
        elif not _consistent(work, source, old, new, what):
            unproven = True
    if work.disagreements or work.undecided:
        return None
    if remembered.checkpoint is None:
        work.notes.append(f"first checkpoint remembered ({new.describe()})")
        return RegionState(region, new, (), remembered.pending_status_lists)
    if not unproven:
        if new.tree_size == remembered.checkpoint.tree_size:
            work.notes.append(f"unchanged since the last accepted checkpoint ({new.describe()})")
        return RegionState(region, new, (), remembered.pending_status_lists)
    kept = remembered.unproven
    if new not in kept:
        kept = (*kept, new)
    return RegionState(region, remembered.checkpoint, kept, remembered.pending_status_lists)


def _consistent(
    work: _Work,
    source: CheckpointSource,
    old: RememberedCheckpoint,
    new: RememberedCheckpoint,
    what: str,
) -> bool:
    """Prove that `new` extends `old`, recording any failure; False if the source cannot
    prove anything (a bundle)."""
    try:
        proof = source.consistency_proof(work.region, old.tree_size, new.tree_size)
    except SourceRefused as exc:
        work.disagreements.append(
            f"the log refuses to prove that its checkpoint ({new.describe()}) extends {what} "
            f"({old.describe()}): {exc.detail}"
        )
        return True
    except SourceUnavailable as exc:
        work.undecided.append(f"no consistency proof from size {old.tree_size}: {exc}")
        return True
    if proof is None:
        work.notes.append(
            f"not proven offline: that the checkpoint ({new.describe()}) extends {what} "
            f"(size {old.tree_size}); the next server audit proves it"
        )
        return False
    try:
        verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof)
    except ProofError as exc:
        work.disagreements.append(
            f"fork: the checkpoint ({new.describe()}) does not extend {what} "
            f"({old.describe()}): {exc}"
        )
        return True
    work.notes.append(f"consistent with {what} (size {old.tree_size})")
    return True


def _remember(state: AuditState, before: RegionState, after: RegionState | None) -> RegionState:
    """Save `after` if there is one and it differs; return what is now remembered."""
    if after is None:
        return before
    if after != before:
        state.save(after)
    return after


def _with_pending(state: RegionState, pending: Mapping[int, str]) -> RegionState:
    return RegionState(
        state.region, state.checkpoint, state.unproven, MappingProxyType(dict(pending))
    )
