"""The auditor's checks that need no server: bundle mode (signatures, rollbacks, forks and
what it cannot prove), the log replay's reading of leaves and lifecycles, and its state."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.verifier.offline_pki import NOW, OfflineFederation, new_key, offline_federation
from verifier.audit import AuditReport, Outcome, audit_bundle, audit_server
from verifier.audit_replay import LeafProblem, LicenceEvent, StatusReplay, parse_leaf
from verifier.audit_source import CurrentStatusList, SourceRefused
from verifier.audit_state import AuditState, RegionState, RememberedCheckpoint
from verifier.bundle import RegionMaterial, encode_bundle
from verifier.checkpoint import format_signed_note, log_origin, sign_checkpoint_text
from verifier.errors import InputError
from verifier.merkle import consistency_proof, leaf_hash, root_hash
from verifier.status_list import verify_status_list
from verifier.timeutil import format_time

REGION = "330000"
LICENCE = "1.2.156.3005.2.11100000000013573W001.113300003300010149.1.001.T"


@pytest.fixture(scope="module")
def federation() -> OfflineFederation:
    return offline_federation(REGION)


def note(federation: OfflineFederation, size: int, tree: bytes, key: Any = None) -> str:
    region = federation.regions[REGION]
    body = sign_checkpoint_text(log_origin(REGION), size, hashlib.sha256(tree).digest())
    signer = key or region.log_key
    signature = signer.sign(body, ec.ECDSA(hashes.SHA256()))
    return format_signed_note(body, log_origin(REGION), signer.public_key(), signature).decode()


def bundle_audit(
    federation: OfflineFederation, state: Path, checkpoint: str | None
) -> dict[str, Any]:
    data = encode_bundle(
        exported_at=NOW,
        trust_list=federation.signed(),
        crls=[],
        regions={REGION: RegionMaterial(checkpoint=checkpoint)},
    )
    report: AuditReport = audit_bundle(data, federation.fingerprint, AuditState(state), at=NOW)
    (region,) = report.to_json()["regions"]
    assert region["outcome"] == str(report.outcome)
    return dict(region)


def test_bundle_mode_remembers_and_keeps_growth_it_cannot_prove(
    federation: OfflineFederation, tmp_path: Path
) -> None:
    first = bundle_audit(federation, tmp_path, note(federation, 5, b"five"))
    assert first["outcome"] == "agrees"
    assert first["notes"][0].startswith("first checkpoint remembered (size 5")
    again = bundle_audit(federation, tmp_path, note(federation, 5, b"five"))
    assert again["outcome"] == "agrees" and again["notes"][0].startswith("unchanged")

    grown = bundle_audit(federation, tmp_path, note(federation, 9, b"nine"))
    assert grown["outcome"] == "agrees"
    assert grown["notes"][0].startswith("not proven offline: that the checkpoint (size 9")
    state = AuditState(tmp_path).load(REGION)
    assert state.checkpoint is not None and state.checkpoint.tree_size == 5
    assert [c.tree_size for c in state.unproven] == [9]
    # Seen again: the same tree, remembered once.
    bundle_audit(federation, tmp_path, note(federation, 9, b"nine"))
    assert len(AuditState(tmp_path).load(REGION).unproven) == 1


def test_bundle_mode_names_rollbacks_and_forks(
    federation: OfflineFederation, tmp_path: Path
) -> None:
    bundle_audit(federation, tmp_path, note(federation, 5, b"five"))
    fork = bundle_audit(federation, tmp_path, note(federation, 5, b"another five"))
    (problem,) = fork["disagreements"]
    assert problem.startswith("fork: two signed checkpoints of size 5 with different roots")

    bundle_audit(federation, tmp_path, note(federation, 9, b"nine"))
    before = (tmp_path / f"log-{REGION}.json").read_text()
    smaller = bundle_audit(federation, tmp_path, note(federation, 6, b"six"))
    assert smaller["outcome"] == "disagrees"
    (problem,) = smaller["disagreements"]  # larger than the accepted 5, smaller than 9 seen
    assert problem.startswith("rollback: the checkpoint (size 6")
    assert "smaller than a checkpoint seen in an earlier bundle (size 9" in problem
    # Nothing that disagrees is remembered.
    assert (tmp_path / f"log-{REGION}.json").read_text() == before


def test_a_checkpoint_not_signed_by_the_listed_log_key_disagrees(
    federation: OfflineFederation, tmp_path: Path
) -> None:
    forged = bundle_audit(federation, tmp_path, note(federation, 5, b"five", new_key()))
    (problem,) = forged["disagreements"]
    assert problem.startswith("the checkpoint is not acceptable: ")
    assert not (tmp_path / f"log-{REGION}.json").exists()


def test_no_checkpoint_in_the_bundle_is_undecided(
    federation: OfflineFederation, tmp_path: Path
) -> None:
    missing = bundle_audit(federation, tmp_path, None)
    assert missing["outcome"] == str(Outcome.UNDECIDED)
    assert missing["undecided"] == ["bundle holds no checkpoint of this log yet"]


def test_a_replayed_older_trust_list_is_unusable_input(
    federation: OfflineFederation, tmp_path: Path
) -> None:
    AuditState(tmp_path).trust_lists.record(federation.fingerprint, 99)
    with pytest.raises(InputError, match=r"cannot be trusted: .*rollback refused"):
        bundle_audit(federation, tmp_path, note(federation, 5, b"five"))


def event(entry: int, kind: str, index: int | None = 7, licence: str = LICENCE) -> LicenceEvent:
    return LicenceEvent(entry, kind, licence, index, NOW)


def test_the_replay_names_what_the_lifecycle_forbids() -> None:
    replay = StatusReplay()
    replay.apply(event(0, "issued"))
    replay.apply(event(1, "revoked"))
    with pytest.raises(LeafProblem, match=r"entry 2: licence .* is reinstated while revoked"):
        replay.apply(event(2, "reinstated"))  # a logged un-revocation
    with pytest.raises(LeafProblem, match="status index 7 is used by licence other"):
        replay.apply(event(3, "issued", licence="other"))
    # A licence issued before the log began may first appear with a change.
    replay.apply(event(4, "suspended", index=None, licence="legacy"))


def test_the_replay_names_each_index_a_list_gets_wrong(federation: OfflineFederation) -> None:
    region = federation.regions[REGION]
    token = region.status_list({9: 2})
    listed = verify_status_list(token, federation.listed(), at=NOW)
    replay = StatusReplay()
    replay.apply(event(0, "issued"))
    assert replay.differences(listed) == [
        "index 9 is suspended in the list, but no logged event set it (valid)"
    ]
    replay.apply(event(1, "revoked"))
    assert replay.differences(listed)[0] == (
        f"index 7 is valid in the list, but the log says revoked (entry 1: licence {LICENCE} "
        "revoked)"
    )
    replay.apply(event(2, "issued", index=listed.size, licence="beyond"))
    assert replay.differences(listed)[-1].startswith(f"index {listed.size} is beyond the list")


def leaf(**fields: object) -> str:
    document = {
        "type": "licence",
        "event": "revoked",
        "licence": LICENCE,
        "version": 1,
        "status_index": 7,
        "department": "113300003300010149",
        "at": "2026-03-01T08:00:00Z",
        "reason": None,
    } | fields
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_leaves_are_read_strictly() -> None:
    parsed = parse_leaf(3, leaf())
    assert isinstance(parsed, LicenceEvent)
    assert (parsed.entry, parsed.event, parsed.status_index) == (3, "revoked", 7)
    refused = {
        leaf().replace(",", ", "): "canonical JSON spelling",
        leaf(type="bench"): "of type 'bench'",
        leaf(event="unrevoked"): "not a licence event",
        leaf(status_index=-1): "status_index",
        leaf(extra="x"): "unknown ['extra']",
        '{"a":1,"a":2}': "duplicate key",
        json.dumps(
            {
                "type": "status-list",
                "region": REGION,
                "number": 1,
                "sha256": "AB" * 32,
                "at": "2026-03-01T08:00:00Z",
            },
            separators=(",", ":"),
            sort_keys=True,
        ): "64 lower-case hex",
    }
    for text, fragment in refused.items():
        with pytest.raises(LeafProblem, match=re.escape(fragment)):
            parse_leaf(3, text)


def test_the_state_round_trips_and_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    state = AuditState(tmp_path / "new" / "folder")
    assert state.load(REGION) == RegionState(REGION)  # a missing folder is an empty memory
    remembered = RegionState(
        REGION,
        RememberedCheckpoint(5, hashlib.sha256(b"five").digest(), "note"),
        (RememberedCheckpoint(9, hashlib.sha256(b"nine").digest()),),
        {4: "ab" * 32},
    )
    state.save(remembered)
    assert state.load(REGION) == remembered
    path = state.path(REGION)
    document = json.loads(path.read_text())
    for edit, fragment in [
        ({"region": "440000"}, "not region 330000's"),
        ({"checkpoint": {"tree_size": -1, "root_hash": "", "note": ""}}, "tree_size"),
        ({"pending_status_lists": {"x": "y"}}, "pending_status_lists"),
    ]:
        path.write_text(json.dumps(document | edit))
        with pytest.raises(InputError, match=f"audit state file .* is malformed: .*{fragment}"):
            state.load(REGION)
    path.write_text("{")
    with pytest.raises(InputError, match="unreadable"):
        state.load(REGION)


class MemoryLog:
    """A log server in memory, built with the verifier's own Merkle and signing code, that
    can be made to lie the ways a real server would have to be rebuilt to."""

    description = "memory"

    def __init__(self, federation: OfflineFederation) -> None:
        self.federation = federation
        self.leaves: list[str] = []
        self.lists: dict[int, str] = {}
        self.current: CurrentStatusList | None = None
        self.note: bytes | None = None

    def event(self, kind: str, index: int = 7) -> None:
        self.leaves.append(leaf(event=kind, status_index=index))

    def publish(self, entries: dict[int, int], *, logged: bool = True) -> None:
        number = len(self.lists) + 1
        token = self.federation.regions[REGION].status_list(entries, issued_at=NOW)
        self.lists[number] = token
        self.current = CurrentStatusList(number, token.encode())
        if logged:
            digest = hashlib.sha256(token.encode()).hexdigest()
            self.leaves.append(
                json.dumps(
                    {
                        "at": format_time(NOW),
                        "number": number,
                        "region": REGION,
                        "sha256": digest,
                        "type": "status-list",
                    },
                    separators=(",", ":"),
                )
            )

    def sign(self) -> None:
        root = root_hash(self.hashes())
        body = sign_checkpoint_text(log_origin(REGION), len(self.leaves), root)
        key = self.federation.regions[REGION].log_key
        signature = key.sign(body, ec.ECDSA(hashes.SHA256()))
        self.note = format_signed_note(body, log_origin(REGION), key.public_key(), signature)

    def hashes(self) -> list[bytes]:
        return [leaf_hash(text.encode()) for text in self.leaves]

    def trust_list(self) -> bytes:
        return self.federation.signed().encode()

    def checkpoint(self, region: str) -> bytes | None:
        return self.note

    def consistency_proof(self, region: str, first: int, second: int) -> list[bytes]:
        return consistency_proof(self.hashes(), first, second)

    def entries(self, region: str, start: int, end: int) -> list[tuple[int, str]]:
        return [(i, self.leaves[i]) for i in range(start, min(end, len(self.leaves)))]

    def status_list_version(self, region: str, number: int) -> bytes:
        if number not in self.lists:
            raise SourceRefused(404, f"no status list number {number}")
        return self.lists[number].encode()

    def current_status_list(self, region: str) -> CurrentStatusList | None:
        return self.current

    def trust_list_version(self, sequence: int) -> bytes:
        raise SourceRefused(404, "not kept")


def replayed(log: MemoryLog, federation: OfflineFederation, state: Path) -> dict[str, Any]:
    report = audit_server(log, federation.fingerprint, AuditState(state), replay=True, at=NOW)
    (region,) = report.to_json()["regions"]
    return dict(region)


def test_a_current_list_never_logged_is_named_by_a_later_replay(
    federation: OfflineFederation, tmp_path: Path
) -> None:
    log = MemoryLog(federation)
    log.event("issued")
    log.publish({})
    log.sign()
    first = replayed(log, federation, tmp_path)
    assert first["outcome"] == "agrees" and first["status_lists_checked"] == 1, first

    log.event("revoked")
    log.sign()
    log.publish({7: 1}, logged=False)  # shown to verifiers, after the checkpoint
    second = replayed(log, federation, tmp_path)
    assert second["outcome"] == "agrees", second
    assert second["notes"][-1].startswith("the current status list #2 was published after")

    log.publish({7: 1})  # the log goes on from #3: #2 was never logged
    log.sign()
    third = replayed(log, federation, tmp_path)
    assert third["disagreements"] == [
        "status list #3 (entry 3) follows status list #1 in the log: the numbers skip or repeat",
        "status list #2, served as current in an earlier audit, was never logged (the log "
        "holds up to #3)",
    ]


def test_a_current_list_behind_the_checkpointed_events_is_named(
    federation: OfflineFederation, tmp_path: Path
) -> None:
    log = MemoryLog(federation)
    log.event("issued")
    log.publish({})
    log.event("suspended")  # logged and checkpointed, but the list is not re-signed
    log.sign()
    report = replayed(log, federation, tmp_path)
    assert report["disagreements"] == [
        "the current status list #1 (entry 1) disagrees with all 3 checkpointed entries: "
        f"index 7 is valid in the list, but the log says suspended (entry 2: licence {LICENCE} "
        "suspended)"
    ]
