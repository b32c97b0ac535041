"""The audit trail of privileged actions: every state-changing request (POST) made by
staff (operators, signers, clerks, auditors), through the API or the pages, whatever its
outcome: who (region and pseudonymous subject, roles), what (route and its parameters),
when, and the HTTP status it got. Kept in the database (table `audit_trail`, append-only
by code: nothing updates or deletes a row) and written as one JSON line on the
`govtrust.audit_trail` logger. Request bodies are never recorded: they may hold personal
data; the route and its parameters name the object acted on.

Public API: AuditRecord, record_action(database, ...), AuditTrailMiddleware.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ca.orm import Base, UtcDateTime
from verifier.timeutil import utc_now

if TYPE_CHECKING:
    from govtrust.db import Database

log = logging.getLogger("govtrust.audit_trail")
STAFF_ROLES = frozenset({"clerk", "signer", "auditor", "operator"})


class AuditRecord(Base):
    __tablename__ = "audit_trail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # "<region>/<subject>": the subject is the federation pseudonym of the sign-in.
    actor: Mapped[str] = mapped_column(String(200), index=True)
    roles: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(300))  # "POST /api/v1/licences/<id>/revoke"
    target: Mapped[str] = mapped_column(Text)  # the route's path parameters, JSON
    status: Mapped[int] = mapped_column(Integer)


def record_action(
    database: Database,
    *,
    actor: str,
    roles: frozenset[str],
    action: str,
    target: Mapping[str, str],
    status: int,
) -> None:
    """Store one action and log it as a JSON line."""
    at = utc_now()
    entry = {
        "at": at.isoformat(),
        "actor": actor,
        "roles": sorted(roles),
        "action": action,
        "target": dict(target),
        "status": status,
    }
    with database.transaction() as session:
        session.add(
            AuditRecord(
                at=at,
                actor=actor,
                roles=",".join(sorted(roles)),
                action=action,
                target=json.dumps(dict(target), ensure_ascii=False, sort_keys=True),
                status=status,
            )
        )
    log.info(json.dumps(entry, ensure_ascii=False, sort_keys=True))


class AuditTrailMiddleware:
    """Records every POST by staff once its answer is known. The principal is what the
    request's own authorization found (`request.state.principal`, set by the API's and
    the pages' auth dependencies); a request nobody authenticated is not an action of
    staff."""

    def __init__(self, app: ASGIApp, database: Callable[[], Database]) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        status = 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            principal = scope.get("state", {}).get("principal")
            roles = frozenset(getattr(principal, "roles", ())) & STAFF_ROLES
            if principal is not None and roles:
                await run_in_threadpool(
                    record_action,
                    self.database(),
                    actor=f"{principal.region}/{principal.subject}",
                    roles=roles,
                    action=f"POST {scope['path']}"[:300],
                    target={k: str(v) for k, v in scope.get("path_params", {}).items()},
                    status=status,
                )
