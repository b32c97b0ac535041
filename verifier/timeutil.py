"""Timestamps in govtrust's signed JSON: RFC 3339, UTC, whole seconds, `Z` suffix."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from verifier.errors import InputError


def format_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, what: str) -> datetime:
    if not isinstance(value, str) or not value.endswith("Z"):
        raise InputError(f"{what} is not an RFC 3339 UTC time ending in Z")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"{what} is not an RFC 3339 UTC time ending in Z") from None


def utc_now() -> datetime:
    return datetime.now(UTC)


_DURATION = re.compile(r"([1-9][0-9]{0,5})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_user_time(value: str, what: str) -> datetime:
    """A time a person typed: ISO 8601 with a zone (`2026-11-23T10:00:00+08:00`, `...Z`)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            f"{what} is not an ISO 8601 time, e.g. 2026-11-23T10:00:00+08:00"
        ) from None
    if parsed.tzinfo is None:
        raise InputError(f"{what} needs a time zone, e.g. +08:00 or Z")
    return parsed.astimezone(UTC)


def parse_duration(value: str, what: str) -> timedelta:
    """A duration a person typed: a whole number and a unit, e.g. 90s, 30m, 12h, 2d, 1w."""
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        raise InputError(f"{what} is a whole number and a unit s, m, h, d or w, e.g. 12h")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
