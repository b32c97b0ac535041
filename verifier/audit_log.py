"""`govtrust audit --replay` for one region: fetch every entry a verified checkpoint covers,
rebuild its root, replay the licence events, and hold every status-list and trust-list
version the log names (and the current status list) against them.

Why "as of its entry" is exact: a status list is signed from the database and its leaf
appended in one transaction that takes the region's log lock (the counter behind
`append_leaf`) before it reads the licence rows, and every licence event appends its leaf
under the same lock in the transaction that changes the row. So an event whose leaf comes
before the list's leaf had committed when the list was read, and one whose leaf comes after
had not: the list reflects exactly the events logged before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from verifier.audit_replay import (
    LeafProblem,
    LicenceEvent,
    PublishedVersion,
    StatusReplay,
    parse_leaf,
)
from verifier.audit_source import LogServer, SourceRefused, SourceUnavailable
from verifier.checkpoint import Checkpoint
from verifier.errors import InputError
from verifier.merkle import ProofError, leaf_hash, root_hash, verify_consistency
from verifier.status_list import StatusList, StatusListError, StatusListExpired, verify_status_list
from verifier.timeutil import format_time
from verifier.trust_list import TrustList, TrustListError, verify_trust_list

PAGE = 1000
Progress = Callable[[str, int, int], None]  # region, entries fetched, tree size


@dataclass(frozen=True)
class ReplayResult:
    disagreements: tuple[str, ...]
    notes: tuple[str, ...]
    entries_replayed: int
    status_lists_checked: int
    # Current status lists not yet covered by a checkpoint (number -> SHA-256 hex).
    pending_status_lists: Mapping[int, str]


@dataclass
class _Replay:
    server: LogServer
    region: str
    checkpoint: Checkpoint
    trust_list: TrustList
    pinned: str
    disagreements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status_lists_checked: int = 0
    statuses: StatusReplay = field(default_factory=StatusReplay)
    logged: dict[int, PublishedVersion] = field(default_factory=dict)
    last_number: int | None = None


def replay_log(
    server: LogServer,
    checkpoint: Checkpoint,
    trust_list: TrustList,
    pinned: str,
    pending: Mapping[int, str],
    *,
    at: datetime,
    progress: Progress | None = None,
) -> ReplayResult:
    """Replay `checkpoint`'s tree as `server` serves it. Raises SourceUnavailable when the
    server stops answering."""
    work = _Replay(server, checkpoint.region, checkpoint, trust_list, pinned)
    leaves = _fetch_entries(work, progress)
    still_pending = dict(pending)
    replayed = 0
    if leaves is not None and _rebuilds_root(work, leaves):
        replayed = len(leaves)
        for entry, text in enumerate(leaves):
            _apply(work, entry, text)
        _check_current(work, still_pending, at)
        _check_pending(work, still_pending)
    return ReplayResult(
        tuple(work.disagreements),
        tuple(work.notes),
        replayed,
        work.status_lists_checked,
        MappingProxyType(still_pending),
    )


def _fetch_entries(work: _Replay, progress: Progress | None) -> list[str] | None:
    size = work.checkpoint.tree_size
    leaves: list[str] = []
    while len(leaves) < size:
        start = len(leaves)
        end = min(start + PAGE, size)
        try:
            page = work.server.entries(work.region, start, end)
        except SourceRefused as exc:
            page, why = [], f": {exc.detail}"
        else:
            why = ""
        if not page:
            work.disagreements.append(
                f"the log serves no entry {start}, though its checkpoint covers {size}{why}"
            )
            return None
        for index, leaf in page[: end - start]:
            if index != len(leaves):
                work.disagreements.append(
                    f"the log serves entry {index} where entry {len(leaves)} belongs "
                    f"(entry {len(leaves)} is missing or out of order)"
                )
                return None
            leaves.append(leaf)
        if progress is not None:
            progress(work.region, len(leaves), size)
    return leaves


def _rebuilds_root(work: _Replay, leaves: list[str]) -> bool:
    # A lone surrogate cannot come from the UTF-8 bytes a log stores: hashed as it is, it
    # shows as an entry that does not hash into the tree rather than a crash.
    hashes = [leaf_hash(leaf.encode("utf-8", "surrogatepass")) for leaf in leaves]
    size = work.checkpoint.tree_size
    if root_hash(hashes) == work.checkpoint.root_hash:
        return True
    # The shortest prefix the log cannot prove to be part of the signed tree ends at the
    # first entry that differs from what was signed: a binary search over consistency
    # proofs (proven prefixes only ever get longer) finds it in log2(size) requests.
    proven, unproven = 0, size
    try:
        while unproven - proven > 1:
            middle = (proven + unproven) // 2
            if _prefix_proven(work, hashes, middle):
                proven = middle
            else:
                unproven = middle
    except SourceUnavailable:
        work.disagreements.append(
            f"the {size} entries served do not rebuild the root of the signed checkpoint"
        )
        return False
    work.disagreements.append(
        f"entry {unproven - 1} as served does not hash into the signed tree of size {size} "
        f"(the entries before it do): it was rewritten or replaced after it was logged"
    )
    return False


def _prefix_proven(work: _Replay, hashes: list[bytes], size: int) -> bool:
    checkpoint = work.checkpoint
    try:
        proof = work.server.consistency_proof(work.region, size, checkpoint.tree_size)
        verify_consistency(
            size, checkpoint.tree_size, root_hash(hashes[:size]), checkpoint.root_hash, proof
        )
    except (SourceRefused, ProofError):
        return False
    return True


def _apply(work: _Replay, entry: int, text: str) -> None:
    try:
        leaf = parse_leaf(entry, text)
        if isinstance(leaf, LicenceEvent):
            work.statuses.apply(leaf)
            return
    except LeafProblem as exc:
        work.disagreements.append(str(exc))
        return
    if leaf.region != work.region:
        work.disagreements.append(
            f"entry {entry} logs a {leaf.kind} of region {leaf.region} in this region's log"
        )
    elif leaf.kind == "trust-list":
        _check_trust_list(work, leaf)
    else:
        _check_status_list(work, leaf)


def _check_status_list(work: _Replay, leaf: PublishedVersion) -> None:
    where = f"status list #{leaf.number} (entry {leaf.entry})"
    last = work.last_number
    if last is not None and leaf.number != last + 1:
        work.disagreements.append(
            f"{where} follows status list #{last} in the log: the numbers skip or repeat"
        )
    work.last_number = leaf.number
    work.logged[leaf.number] = leaf
    token = _fetch(work, where, lambda: work.server.status_list_version(work.region, leaf.number))
    if token is None or not _hash_matches(work, where, token, leaf.sha256):
        return
    listed = _verified_list(work, where, token, leaf.at)
    if listed is None:
        return
    work.status_lists_checked += 1
    differences = work.statuses.differences(listed)
    if differences:
        work.disagreements.append(
            f"{where} disagrees with the {leaf.entry} log entries before it: "
            + "; ".join(differences)
        )


def _check_trust_list(work: _Replay, leaf: PublishedVersion) -> None:
    where = f"trust list #{leaf.number} (entry {leaf.entry})"
    token = _fetch(work, where, lambda: work.server.trust_list_version(leaf.number))
    if token is None or not _hash_matches(work, where, token, leaf.sha256):
        return
    try:
        listed = verify_trust_list(token, work.pinned, at=leaf.at)
    except (TrustListError, InputError) as exc:
        work.disagreements.append(f"{where} is not signed under the pinned root: {exc}")
        return
    if listed.sequence != leaf.number:
        work.disagreements.append(f"{where} is served as sequence {listed.sequence}")


def _check_current(work: _Replay, pending: dict[int, str], at: datetime) -> None:
    """The list the server hands verifiers now must be a logged version equal to the replay
    of the whole checkpointed log; a newer one is remembered for a later replay."""
    current = work.server.current_status_list(work.region)
    if current is None:
        work.notes.append("the server serves no current status list for this region")
        return
    where = f"the current status list #{current.number}"
    listed = _verified_list(work, "the current status list", current.token, at)
    if listed is None:
        return
    digest = hashlib.sha256(current.token).hexdigest()
    if current.number is None:
        work.disagreements.append("the server does not state the current status list's number")
        return
    leaf = work.logged.get(current.number)
    if leaf is not None:
        if _hash_matches(work, f"{where} (entry {leaf.entry})", current.token, leaf.sha256):
            differences = work.statuses.differences(listed)
            if differences:
                work.disagreements.append(
                    f"{where} (entry {leaf.entry}) disagrees with all "
                    f"{work.checkpoint.tree_size} checkpointed entries: " + "; ".join(differences)
                )
    elif work.logged and current.number < max(work.logged):
        work.disagreements.append(f"{where} is not in the log (it holds up to #{max(work.logged)})")
    else:
        pending[current.number] = digest
        work.notes.append(
            f"{where} was published after the checkpoint (size {work.checkpoint.tree_size}): "
            "remembered, and checked by a replay once a checkpoint covers it"
        )


def _check_pending(work: _Replay, pending: dict[int, str]) -> None:
    """Lists served as current in earlier audits: each must be logged with its hash. Those
    that disagree stay remembered, so every later audit names them again."""
    highest = max(work.logged, default=0)
    for number, digest in sorted(pending.items()):
        leaf = work.logged.get(number)
        where = f"status list #{number}, served as current in an earlier audit,"
        if leaf is not None and leaf.sha256 == digest:
            del pending[number]
        elif leaf is not None:
            work.disagreements.append(
                f"{where} had SHA-256 {digest}; the log records {leaf.sha256} (entry {leaf.entry})"
            )
        elif number < highest:
            work.disagreements.append(f"{where} was never logged (the log holds up to #{highest})")


def _fetch(work: _Replay, where: str, fetch: Callable[[], bytes]) -> bytes | None:
    try:
        return fetch()
    except SourceRefused as exc:
        work.disagreements.append(
            f"{where} is logged, but the server does not serve it: {exc.detail}"
        )
        return None


def _hash_matches(work: _Replay, where: str, token: bytes, logged: str) -> bool:
    digest = hashlib.sha256(token).hexdigest()
    if digest != logged:
        work.disagreements.append(
            f"{where}: the version served has SHA-256 {digest}, the log records {logged}"
        )
        return False
    return True


def _verified_list(work: _Replay, where: str, token: bytes, at: datetime) -> StatusList | None:
    """The list verified as of `at` (its publication for a logged version: an old version
    is past its `exp` now, and that is no fault)."""
    try:
        return verify_status_list(token, work.trust_list, at=at, region=work.region)
    except StatusListExpired as exc:
        work.notes.append(f"{where} expired at {format_time(exc.status_list.expires_at)}")
        return exc.status_list
    except (StatusListError, InputError) as exc:
        work.disagreements.append(f"{where} is not a valid status list: {exc}")
        return None
