"""What a transparency-log leaf holds: one flat JSON object in a single canonical spelling.

The leaf hash covers these exact bytes, so the spelling must be reproducible by anyone:
keys sorted, no whitespace, UTF-8 without escapes, and only text, integers and null (no
floats, whose spelling differs between languages, and no nesting to order).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from verifier import strict_json
from verifier.errors import InputError
from verifier.identifiers import (
    MAX_LICENCE_ID_LENGTH,
    parse_licence_identifier,
    validate_uscc,
)
from verifier.timeutil import format_time

# I-JSON (RFC 7493): integers beyond 2^53 lose precision in half the JSON parsers.
MAX_JSON_INT = 2**53 - 1
MAX_LEAF_BYTES = 8 * 1024
MAX_REASON_CHARS = 1000
LEAF_TYPE_LICENCE = "licence"
PublishedKind = Literal["status-list", "trust-list"]
PUBLISHED_KINDS: frozenset[str] = frozenset({"status-list", "trust-list"})
_REGION = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,31}")
_EVENT = re.compile(r"[a-z][a-z-]{1,31}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class LeafError(InputError):
    """A leaf that cannot go into the log as it is."""


def check_region(region: object) -> str:
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise LeafError(f"log region {region!r} is not a region code (letters, digits, - or _)")
    return region


def canonical_json(document: Mapping[str, object]) -> bytes:
    """The one byte spelling of a flat leaf object (str keys; str, int or null values)."""
    if not isinstance(document, Mapping):
        raise LeafError("a log leaf is a JSON object")
    if not document:
        raise LeafError("a log leaf must not be empty")
    for key, value in document.items():
        if not isinstance(key, str):
            raise LeafError(f"log leaf key {key!r} is not text")
        if isinstance(value, bool) or not (value is None or isinstance(value, str | int)):
            raise LeafError(
                f"log leaf field {key!r} is a {type(value).__name__}; only text, integers "
                "and null are allowed"
            )
        if isinstance(value, int) and not -MAX_JSON_INT <= value <= MAX_JSON_INT:
            raise LeafError(f"log leaf field {key!r} is outside the exact JSON integer range")
    try:
        data = json.dumps(
            dict(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    except UnicodeEncodeError:
        raise LeafError("log leaf text is not valid Unicode (a lone surrogate)") from None
    if len(data) > MAX_LEAF_BYTES:
        raise LeafError(f"log leaf is larger than {MAX_LEAF_BYTES} bytes")
    return data


def parse_leaf(data: bytes) -> dict[str, object]:
    """Read stored leaf bytes back, refusing anything but the canonical spelling."""
    try:
        document = strict_json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LeafError(f"log leaf is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise LeafError("a log leaf is a JSON object")
    if canonical_json(document) != bytes(data):
        raise LeafError("log leaf is not in canonical JSON form")
    return document


def licence_identifier_of(document: Mapping[str, object]) -> str | None:
    """The licence a leaf is about, if it is a licence event."""
    value = document.get("licence")
    if document.get("type") != LEAF_TYPE_LICENCE or not isinstance(value, str):
        return None
    if len(value) > MAX_LICENCE_ID_LENGTH:
        raise LeafError(f"licence identifier is longer than {MAX_LICENCE_ID_LENGTH} characters")
    return value


def licence_leaf(
    event: str,
    licence_identifier: str,
    version: int,
    status_index: int | None,
    at: datetime,
    department_uscc: str,
    reason: str | None = None,
) -> dict[str, object]:
    """A licence lifecycle event (issued, revoked, suspended, …) as a leaf."""
    if not isinstance(event, str) or not _EVENT.fullmatch(event):
        raise LeafError(f"licence event {event!r} is not a lower-case event name")
    parsed = parse_licence_identifier(licence_identifier)
    if str(parsed) != licence_identifier:
        raise LeafError("licence identifier is not in its canonical form")
    if not _is_int(version) or version != parsed.version:
        raise LeafError(
            f"licence version {version!r} is not the identifier's version {parsed.version}"
        )
    if status_index is not None and not (_is_int(status_index) and status_index >= 0):
        raise LeafError("licence status index must be a non-negative integer or None")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
        raise LeafError(f"licence event reason must be text of at most {MAX_REASON_CHARS} chars")
    return {
        "type": LEAF_TYPE_LICENCE,
        "event": event,
        "licence": licence_identifier,
        "version": version,
        "status_index": status_index,
        "department": validate_uscc(department_uscc),
        "at": format_time(at),
        "reason": reason,
    }


def published_leaf(
    kind: PublishedKind, region: str, number: int, sha256_hex: str, at: datetime
) -> dict[str, object]:
    """A published status-list or trust-list version, by number and SHA-256 of its bytes."""
    if kind not in PUBLISHED_KINDS:
        raise LeafError(f"published kind {kind!r} is not one of {sorted(PUBLISHED_KINDS)}")
    if not _is_int(number) or number < 0:
        raise LeafError(f"{kind} number must be a non-negative integer")
    digest = sha256_hex.lower() if isinstance(sha256_hex, str) else ""
    if not _SHA256_HEX.fullmatch(digest):
        raise LeafError(f"{kind} SHA-256 must be 64 hex digits")
    return {
        "type": kind,
        "region": check_region(region),
        "number": number,
        "sha256": digest,
        "at": format_time(at),
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
