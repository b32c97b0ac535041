"""JSON as every govtrust format reads it: a member name given twice is refused, because two
parsers may keep different copies of it (one verifier would see what another does not).

Public API: DuplicateMember, no_duplicates (an `object_pairs_hook`), loads.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateMember(ValueError):
    """A JSON object names the same member twice."""


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            shown = repr(name) if len(name) <= 38 else repr(name[:35] + "...")
            raise DuplicateMember(f"duplicate key (repeats the member name {shown})")
        seen.add(name)
    return dict(pairs)


def loads(data: str | bytes, **options: Any) -> Any:
    """`json.loads` refusing duplicate member names (DuplicateMember, a ValueError)."""
    return json.loads(data, object_pairs_hook=no_duplicates, **options)
