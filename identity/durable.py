"""Writes that must survive the caller's rollback (a refused sign-in raises, and the
caller's transaction then rolls back everything it did)."""

from __future__ import annotations

from sqlalchemy import Executable
from sqlalchemy.orm import Session


def commit_aside(session: Session, statement: Executable) -> None:
    """Run one statement in its own transaction on a separate connection and commit it.

    The caller's transaction must not hold write locks on the same rows (SQLite: must not
    have written anything yet), or this waits for it.
    """
    with Session(session.get_bind()) as side, side.begin():
        side.execute(statement)
