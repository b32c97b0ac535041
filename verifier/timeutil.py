"""Timestamps in govtrust's signed JSON: RFC 3339, UTC, whole seconds, `Z` suffix."""

from __future__ import annotations

from datetime import UTC, datetime

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
