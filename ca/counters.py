"""Named monotonic counters (CRL numbers, revocation counts, TSA serial blocks, licence
serials), each one INSERT ... ON CONFLICT statement, so concurrent writers never collide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ca.models import Counter


def bump_counter(session: Session, name: str, *, by: int = 1) -> int:
    """Add `by` and return the new value in one statement; the row stays locked (PostgreSQL)
    or the database write-locked (SQLite) until the transaction ends. `by=0` just locks."""
    insert = dialect_insert(session)
    statement = insert(Counter).values(name=name, value=by)
    statement = statement.on_conflict_do_update(
        index_elements=[Counter.name], set_={"value": Counter.value + by}
    ).returning(Counter.value)
    return int(session.execute(statement).scalar_one())


def set_counter(session: Session, name: str, value: int) -> None:
    insert = dialect_insert(session)
    statement = insert(Counter).values(name=name, value=value)
    session.execute(
        statement.on_conflict_do_update(index_elements=[Counter.name], set_={"value": value})
    )


def read_counters(session: Session, *names: str) -> list[int]:
    """Current values, 0 for a counter never bumped."""
    rows = dict(
        session.execute(select(Counter.name, Counter.value).where(Counter.name.in_(names))).all()
    )
    return [int(rows.get(name, 0)) for name in names]


def dialect_insert(session: Session) -> Callable[..., Any]:
    """INSERT ... ON CONFLICT for the session's database (both dialects spell it alike)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise ValueError(f"database {dialect} is not supported")
