"""Replaying a region's transparency log: what each leaf says, and the status of every
licence index as the log's events set it, entry by entry.

Leaves are the ones `licence_registry.log_leaves` writes: licence events
    {"type":"licence","event":..,"licence":ID,"version":n,"status_index":i|null,
     "department":USCC,"at":time,"reason":..}
and published versions {"type":"status-list"|"trust-list","region":..,"number":n,
"sha256":hex,"at":time}, each in one canonical JSON spelling (sorted keys, no spaces,
UTF-8). An event sets its licence's index to valid (issued, amended, reinstated), revoked,
suspended or superseded, the values of govtrust's status list profile.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from verifier import strict_json
from verifier.errors import InputError
from verifier.identifiers import parse_licence_identifier
from verifier.status_list import StatusList, pack_sparse, status_value
from verifier.timeutil import parse_time

STATUS_NAMES = {0: "valid", 1: "revoked", 2: "suspended", 3: "superseded"}
STATUS_OF_EVENT = {
    "issued": 0,
    "amended": 0,
    "reinstated": 0,
    "revoked": 1,
    "suspended": 2,
    "superseded": 3,
}
# The states an event may follow, for a licence this log has seen before; a licence first
# seen with a status change was issued before the log began (a legacy licence).
_ALLOWED_AFTER = {
    "issued": frozenset[int](),
    "amended": frozenset[int](),
    "suspended": frozenset({0}),
    "reinstated": frozenset({2}),
    "revoked": frozenset({0, 2}),
    "superseded": frozenset({0}),
}
_LICENCE_KEYS = frozenset(
    {"type", "event", "licence", "version", "status_index", "department", "at", "reason"}
)
_PUBLISHED_KEYS = frozenset({"type", "region", "number", "sha256", "at"})
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MAX_DIFFERENCES_SHOWN = 5


class LeafProblem(Exception):
    """A leaf the auditor cannot account for (malformed, or an event the lifecycle forbids)."""


@dataclass(frozen=True)
class LicenceEvent:
    entry: int
    event: str
    licence: str
    status_index: int | None
    at: datetime


@dataclass(frozen=True)
class PublishedVersion:
    entry: int
    kind: str  # "status-list" or "trust-list"
    region: str
    number: int
    sha256: str
    at: datetime


def parse_leaf(entry: int, text: str) -> LicenceEvent | PublishedVersion:
    """Read log entry `entry`; LeafProblem says what is wrong with it."""
    try:
        document = strict_json.loads(text)
    except ValueError as exc:
        raise LeafProblem(f"entry {entry} is not a JSON leaf: {exc}") from None
    if not isinstance(document, dict):
        raise LeafProblem(f"entry {entry} is not a JSON object")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if canonical != text:
        raise LeafProblem(f"entry {entry} is not in the log's canonical JSON spelling")
    kind = document.get("type")
    try:
        if kind == "licence":
            return _licence_event(entry, document)
        if kind in {"status-list", "trust-list"}:
            return _published(entry, document)
    except InputError as exc:
        raise LeafProblem(f"entry {entry} ({kind}): {exc}") from None
    raise LeafProblem(f"entry {entry} is of type {kind!r}, which no govtrust log holds")


def _licence_event(entry: int, document: dict[str, object]) -> LicenceEvent:
    _keys(document, _LICENCE_KEYS)
    event, licence, index = document["event"], document["licence"], document["status_index"]
    if event not in STATUS_OF_EVENT:
        raise InputError(f"event {event!r} is not a licence event")
    if not isinstance(licence, str) or str(parse_licence_identifier(licence)) != licence:
        raise InputError("licence is not a licence identifier in canonical form")
    if index is not None and not (_is_int(index) and index >= 0):
        raise InputError("status_index is neither a non-negative integer nor null")
    return LicenceEvent(entry, str(event), licence, index, parse_time(document["at"], "at"))


def _published(entry: int, document: dict[str, object]) -> PublishedVersion:
    _keys(document, _PUBLISHED_KEYS)
    number, digest, region = document["number"], document["sha256"], document["region"]
    if not _is_int(number) or number < 0:
        raise InputError("number is not a non-negative integer")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise InputError("sha256 is not 64 lower-case hex digits")
    if not isinstance(region, str):
        raise InputError("region is not text")
    at = parse_time(document["at"], "at")
    return PublishedVersion(entry, str(document["type"]), region, number, digest, at)


@dataclass
class _Licence:
    status: int
    status_index: int | None
    entry: int


class StatusReplay:
    """Licence statuses by status-list index, as of the entries applied so far."""

    def __init__(self) -> None:
        self._values: dict[int, int] = {}
        self._last: dict[int, LicenceEvent] = {}
        self._licences: dict[str, _Licence] = {}

    def apply(self, event: LicenceEvent) -> None:
        """Apply one event; LeafProblem if the lifecycle forbids it (after the state is
        updated anyway, so one bad event is reported once, not at every later list)."""
        known = self._licences.get(event.licence)
        problem = None
        if known is None:
            self._licences[event.licence] = _Licence(
                STATUS_OF_EVENT[event.event], event.status_index, event.entry
            )
        else:
            if known.status not in _ALLOWED_AFTER[event.event]:
                problem = (
                    f"entry {event.entry}: licence {event.licence} is {event.event} while "
                    f"{STATUS_NAMES[known.status]} (since entry {known.entry}), which its "
                    "lifecycle forbids"
                )
            elif event.status_index != known.status_index:
                problem = (
                    f"entry {event.entry}: licence {event.licence} is {event.event} under "
                    f"status index {event.status_index}, not its index {known.status_index}"
                )
            known.status, known.entry = STATUS_OF_EVENT[event.event], event.entry
        index = event.status_index
        if index is not None:
            holder = self._last.get(index)
            if holder is not None and holder.licence != event.licence and problem is None:
                problem = (
                    f"entry {event.entry}: status index {index} is used by licence "
                    f"{event.licence}, but licence {holder.licence} holds it "
                    f"(entry {holder.entry})"
                )
            self._values[index] = STATUS_OF_EVENT[event.event]
            self._last[index] = event
        if problem is not None:
            raise LeafProblem(problem)

    def snapshot(self) -> dict[int, int]:
        return dict(self._values)

    def differences(self, listed: StatusList) -> list[str]:
        """How `listed` differs from the replayed statuses: one line per index, at most
        MAX_DIFFERENCES_SHOWN of them and then a count."""
        beyond = sorted(i for i in self._values if i >= listed.size)
        expected = pack_sparse(
            listed.size, ((i, v) for i, v in self._values.items() if v and i < listed.size)
        )
        indexes = list(beyond)
        if expected != listed.packed:
            per_byte = 8 // listed.bits
            for position, (want, got) in enumerate(zip(expected, listed.packed, strict=True)):
                if want != got:
                    indexes.extend(range(position * per_byte, (position + 1) * per_byte))
        lines = []
        for index in sorted(set(indexes)):
            replayed = self._values.get(index, 0)
            if index >= listed.size:
                shown = f"index {index} is beyond the list's {listed.size} entries"
            else:
                value = status_value(listed.packed, listed.bits, index)
                if value == replayed:
                    continue
                shown = f"index {index} is {_name(value)} in the list"
            lines.append(f"{shown}, {self._why(index, replayed)}")
        if len(lines) > MAX_DIFFERENCES_SHOWN:
            more = len(lines) - MAX_DIFFERENCES_SHOWN
            lines = [*lines[:MAX_DIFFERENCES_SHOWN], f"and {more} more indexes differ"]
        return lines

    def _why(self, index: int, replayed: int) -> str:
        last = self._last.get(index)
        if last is None:
            return "but no logged event set it (valid)"
        return (
            f"but the log says {_name(replayed)} (entry {last.entry}: licence {last.licence} "
            f"{last.event})"
        )


def _name(value: int) -> str:
    return STATUS_NAMES.get(value, f"value {value}")


def _keys(document: dict[str, object], expected: frozenset[str]) -> None:
    if set(document) != expected:
        unknown, missing = sorted(set(document) - expected), sorted(expected - set(document))
        raise InputError(
            f"fields differ from the leaf format (unknown {unknown}, missing {missing})"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
