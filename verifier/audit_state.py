"""What `govtrust audit` remembers between runs, one JSON file per region in its state folder.

`checkpoint` is the last checkpoint the auditor accepted (its signature verified and, if one
was remembered before, proven consistent with it). `unproven` holds signed checkpoints seen
in offline bundles that were larger than the accepted one: bundle mode cannot prove growth,
so the next server audit proves each against the server's tree. `pending_status_lists` holds
status lists served as current before a checkpoint covered their log entry (number -> SHA-256
hex), checked against the log by a later replay.

Format `govtrust-audit-state/1`:
    {"format": ..., "region": "330000",
     "checkpoint": {"tree_size": n, "root_hash": base64, "note": signed note} | null,
     "unproven": [same objects], "pending_status_lists": {"7": hex, ...}}
The note is kept as evidence (two signed notes of one size are a provable fork); the state
itself is the auditor's own memory and is not re-verified when read.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from verifier.errors import InputError
from verifier.merkle import HASH_SIZE
from verifier.state import VerifierState

FORMAT = "govtrust-audit-state/1"
TRUST_LIST_FILE = "trust-list.json"
_REGION = re.compile(r"[0-9]{6}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RememberedCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str = field(default="", compare=False, repr=False)

    def describe(self) -> str:
        return f"size {self.tree_size}, root {base64.b64encode(self.root_hash).decode()}"


@dataclass(frozen=True)
class RegionState:
    region: str
    checkpoint: RememberedCheckpoint | None = None
    unproven: tuple[RememberedCheckpoint, ...] = ()
    pending_status_lists: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))


class AuditState:
    """The state folder; a missing folder or file is an empty memory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def trust_lists(self) -> VerifierState:
        """The newest trust list sequence accepted, per pinned root (a replayed older list
        is refused), kept as the offline verifier keeps it."""
        return VerifierState(self.directory / TRUST_LIST_FILE)

    def path(self, region: str) -> Path:
        return self.directory / f"log-{_region(region)}.json"

    def load(self, region: str) -> RegionState:
        path = self.path(region)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return RegionState(region)
        except (OSError, ValueError):
            raise InputError(f"audit state file {path} is unreadable") from None
        try:
            return _decode(document, region)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"audit state file {path} is malformed: {exc}") from None

    def save(self, state: RegionState) -> None:
        path = self.path(state.region)
        document = {
            "format": FORMAT,
            "region": state.region,
            "checkpoint": _encode_checkpoint(state.checkpoint),
            "unproven": [_encode_checkpoint(c) for c in state.unproven],
            "pending_status_lists": {
                str(n): digest for n, digest in sorted(state.pending_status_lists.items())
            },
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def _region(region: str) -> str:
    if not _REGION.fullmatch(region):
        raise InputError(f"region {region!r} is not a 6-digit region code")
    return region


def _encode_checkpoint(checkpoint: RememberedCheckpoint | None) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    return {
        "tree_size": checkpoint.tree_size,
        "root_hash": base64.b64encode(checkpoint.root_hash).decode("ascii"),
        "note": checkpoint.note,
    }


def _decode(document: object, region: str) -> RegionState:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document")
    if document["region"] != region:
        raise ValueError(f"it is region {document['region']!r}'s, not region {region}'s")
    raw_pending = document["pending_status_lists"]
    if not isinstance(raw_pending, dict):
        raise ValueError("pending_status_lists is not an object")
    pending: dict[int, str] = {}
    for number, digest in raw_pending.items():
        if not number.isdigit() or not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise ValueError("pending_status_lists maps list numbers to SHA-256 hex")
        pending[int(number)] = digest
    unproven = document["unproven"]
    if not isinstance(unproven, list):
        raise ValueError("unproven is not a list")
    checkpoint = document["checkpoint"]
    return RegionState(
        region=region,
        checkpoint=None if checkpoint is None else _decode_checkpoint(checkpoint),
        unproven=tuple(_decode_checkpoint(c) for c in unproven),
        pending_status_lists=MappingProxyType(pending),
    )


def _decode_checkpoint(value: object) -> RememberedCheckpoint:
    if not isinstance(value, dict):
        raise ValueError("a remembered checkpoint is not an object")
    size, root, note = value["tree_size"], value["root_hash"], value["note"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError("tree_size is not a non-negative integer")
    if not isinstance(note, str):
        raise ValueError("note is not text")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except (TypeError, binascii.Error):
        raise ValueError("root_hash is not base64") from None
    if len(root_hash) != HASH_SIZE:
        raise ValueError(f"root_hash is not {HASH_SIZE} bytes")
    return RememberedCheckpoint(size, root_hash, note)
