"""This server's own transparency logs, read in process as `govtrust audit --server` reads
them over HTTP: a `verifier.audit_source.LogServer` whose answers come from the functions
the public API's routes call (govtrust.api.log, .federation, .status_lists), each in a
transaction of its own as a request would be, with the API's refusals (4xx) raised as
`SourceRefused` and its server errors (5xx) as `SourceUnavailable`. So an audit started
from the server's pages checks exactly what an outside auditor would be served.

Public API: InProcessLogServer, audit_here, pinned_root, log_page, published_trust_list.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from ca.federation import (
    TrustListVersionNotFound,
    latest_trust_list,
    root_fingerprint,
    trust_list_version,
)
from ca.models import TrustListVersion
from govtrust.runtime import Runtime
from licence_registry.status_lists import current_status_list, status_list_version
from licence_registry.transparency import (
    MAX_PAGE,
    LogError,
    consistency_proof,
    entries,
    latest_checkpoint,
)
from verifier.audit import AuditReport, audit_server
from verifier.audit_source import CurrentStatusList, SourceRefused, SourceUnavailable
from verifier.audit_state import AuditState
from verifier.errors import ConflictError, InputError, NotFoundError, NotPermittedError

T = TypeVar("T")
log = logging.getLogger("govtrust.audit_source")
# One audit at a time in this process: two would race to update the same state folder.
_AUDIT_LOCK = threading.Lock()


def log_page(session: Session, region: str, start: int, end: int) -> list[tuple[int, str]]:
    """Entries [start, end) of `region`'s log as served: (index, the leaf's canonical JSON),
    at most MAX_PAGE of them (LogError, a 400, when more are asked for)."""
    if end - start > MAX_PAGE:
        raise LogError(f"ask for at most {MAX_PAGE} entries at a time")
    return [(i, leaf.decode()) for i, leaf in entries(session, region, start, end)]


def published_trust_list(session: Session) -> TrustListVersion:
    """The latest published trust list version (a 404 when there is none)."""
    version = latest_trust_list(session)
    if version is None:
        raise TrustListVersionNotFound("no trust list has been published")
    return version


def pinned_root(runtime: Runtime) -> str:
    """The national root's fingerprint an audit pins, as `govtrust audit` takes it by
    default: var/root.sha256 as installed, else the root certificate this server holds."""
    path = runtime.settings.root_fingerprint_path
    if path.is_file():
        return path.read_text(encoding="ascii", errors="replace").strip()
    with runtime.database.transaction() as session:
        return root_fingerprint(session)


def audit_here(runtime: Runtime, state_dir: Path, *, at: datetime | None = None) -> AuditReport:
    """`govtrust audit --replay` of this server's logs, remembering in `state_dir`. Raises
    SourceUnavailable when not even the trust list can be had, InputError when it cannot be
    trusted."""
    with _AUDIT_LOCK:
        return audit_server(
            InProcessLogServer(runtime),
            pinned_root(runtime),
            AuditState(state_dir),
            replay=True,
            at=at,
        )


class InProcessLogServer:
    """The public log API of this server without HTTP (see the module's note)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.description = f"{runtime.settings.public_base_url} (in process)"
        self._trust_lists: dict[int, bytes] = {}

    def trust_list(self) -> bytes:
        """GET /trust-list."""
        return self._answer("/trust-list", lambda s: published_trust_list(s).jws.encode())

    def trust_list_version(self, sequence: int) -> bytes:
        """GET /trust-list/{sequence}; every version is immutable, so kept once fetched."""
        if sequence not in self._trust_lists:
            self._trust_lists[sequence] = self._answer(
                f"/trust-list/{sequence}", lambda s: trust_list_version(s, sequence).jws.encode()
            )
        return self._trust_lists[sequence]

    def checkpoint(self, region: str) -> bytes | None:
        """GET /log/{region}/checkpoint; None where the API answers 404 (none yet)."""

        def note(session: Session) -> bytes | None:
            latest = latest_checkpoint(session, region)
            return None if latest is None else latest.note.encode()

        return self._answer(f"/log/{region}/checkpoint", note)

    def consistency_proof(self, region: str, first: int, second: int) -> list[bytes]:
        """GET /log/{region}/proof/consistency?first=&second=."""
        return self._answer(
            f"/log/{region}/proof/consistency",
            lambda s: consistency_proof(s, region, first, second),
        )

    def entries(self, region: str, start: int, end: int) -> list[tuple[int, str]]:
        """GET /log/{region}/entries?start=&end=."""
        return self._answer(f"/log/{region}/entries", lambda s: log_page(s, region, start, end))

    def status_list_version(self, region: str, number: int) -> bytes:
        """GET /status-lists/{region}/{number}."""
        return self._answer(
            f"/status-lists/{region}/{number}",
            lambda s: status_list_version(s, region, number).token.encode(),
        )

    def current_status_list(self, region: str) -> CurrentStatusList | None:
        """GET /status-lists/{region} (re-signed if stale, as the route does); None where
        the API answers 404 (no status issuer for the region here)."""

        def current(session: Session) -> CurrentStatusList:
            version = current_status_list(session, self._runtime.status_signer(region))
            return CurrentStatusList(version.number, version.token.encode())

        try:
            return self._answer(f"/status-lists/{region}", current)
        except SourceRefused as exc:
            if exc.status == 404:
                return None
            raise

    def _answer(self, path: str, read: Callable[[Session], T]) -> T:
        """`read` in a transaction of its own, its errors as the API's status would be."""
        try:
            with self._runtime.database.transaction() as session:
                return read(session)
        except NotFoundError as exc:
            raise SourceRefused(404, str(exc)) from None
        except NotPermittedError as exc:
            raise SourceRefused(403, str(exc)) from None
        except ConflictError as exc:
            raise SourceRefused(409, str(exc)) from None
        except InputError as exc:
            raise SourceRefused(400, str(exc)) from None
        except Exception as exc:
            # What the API answers with a 500 (a corrupted log, an unreadable row, the
            # database gone): logged here, undecided for the audit.
            log.exception("in-process log source: %s failed", path, exc_info=exc)
            raise SourceUnavailable(
                f"{self.description}/api/v1{path}: the server could not answer"
            ) from None
