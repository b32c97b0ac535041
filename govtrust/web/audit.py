"""The auditor's pages: every region's transparency log (its latest checkpoint, its entries,
an entry's inclusion proof), and a button that runs the audit `govtrust audit --replay`
runs, against this server's logs read in process (govtrust.audit_source).

Nothing is shown as verified unless the verifier's own code verified it here: checkpoints
with `verifier.checkpoint`, proofs with `verifier.merkle`, against the trust list the
server decides trust with.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from govtrust.api.auth import Principal, RegionPath
from govtrust.api.deps import DbSession
from govtrust.audit_source import audit_here
from govtrust.runtime import Runtime
from govtrust.web.pages import render
from govtrust.web.session import RuntimeDep, check_csrf, signed_in_user
from licence_registry.transparency import entries, inclusion_proof, latest_checkpoint, tree_size
from verifier.audit import log_regions
from verifier.audit_source import SourceUnavailable
from verifier.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from verifier.errors import InputError
from verifier.merkle import ProofError, leaf_hash, verify_inclusion
from verifier.timeutil import format_time, utc_now
from verifier.trust_list import ServiceType, TrustList


def web_auditor(user: Annotated[Principal, Depends(signed_in_user)]) -> Principal:
    """The auditor role, for a signed-in browser (worded as the API's role checks)."""
    if "auditor" not in user.roles:
        raise HTTPException(403, "this needs the auditor role")
    return user


router = APIRouter(prefix="/audit", include_in_schema=False, dependencies=[Depends(web_auditor)])
PAGE_SIZE = 50
# The web auditor's memory of accepted checkpoints, under the server's var/.
STATE_FOLDER = "web-audit"
Index = Annotated[int, Path(ge=0, le=2**53 - 1)]


@dataclass(frozen=True)
class CheckpointView:
    tree_size: int
    root_hash: str  # base64, as the note spells it
    signed_at: str | None


@dataclass(frozen=True)
class RegionLog:
    region: str
    size: int  # entries in the log now; the checkpoint may cover fewer
    checkpoint: CheckpointView | None
    problem: str | None  # why there is no verified checkpoint, if there is one at all


@dataclass(frozen=True)
class EntryPage:
    region: str
    start: int
    size: int
    entries: list[tuple[int, str]]


@dataclass(frozen=True)
class EntryProof:
    region: str
    index: int
    leaf: str
    leaf_hash: str
    checkpoint: CheckpointView | None
    proof: list[str]
    verified: bool
    problem: str | None
    covered: bool  # whether the latest checkpoint covers the entry


@router.get("")
def logs(request: Request, runtime: RuntimeDep, session: DbSession) -> Response:
    at = utc_now()
    trust_list = runtime.trust_list()
    found = [region_log(session, trust_list, region, at) for region in log_regions(trust_list, at)]
    return render(request, "audit_logs.html", logs=found)


@router.post("/check", dependencies=[Depends(check_csrf)])
def check(request: Request, runtime: RuntimeDep) -> Response:
    """The replaying audit of every region's log; its report, or why it could not run."""
    report, failure = run_check(runtime)
    return render(
        request,
        "audit_result.html",
        200 if report is not None else 503,
        report=report,
        failure=failure,
    )


@router.get("/{region}")
def log_entries(
    request: Request,
    region: RegionPath,
    runtime: RuntimeDep,
    session: DbSession,
    start: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0,
) -> Response:
    page = entry_page(session, runtime.trust_list(), region, start)
    return render(request, "audit_entries.html", page=page, page_size=PAGE_SIZE)


@router.get("/{region}/entries/{index}")
def log_entry(
    request: Request, region: RegionPath, index: Index, runtime: RuntimeDep, session: DbSession
) -> Response:
    proof = entry_proof(session, runtime.trust_list(), region, index, utc_now())
    return render(request, "audit_entry.html", entry=proof, page_size=PAGE_SIZE)


def run_check(runtime: Runtime) -> tuple[dict[str, Any] | None, str | None]:
    """The audit's report (as `govtrust audit --json` prints it), or why it could not run."""
    try:
        report = audit_here(runtime, runtime.settings.var_dir / STATE_FOLDER)
    except (SourceUnavailable, InputError) as exc:
        return None, str(exc)
    return report.to_json(), None


def verified_checkpoint(
    session: Session, trust_list: TrustList, region: str, at: datetime
) -> tuple[Checkpoint | None, str | None]:
    """The region's latest checkpoint, verified as a verifier verifies it; else None and
    why (None and None: there is none yet)."""
    latest = latest_checkpoint(session, region)
    if latest is None:
        return None, None
    try:
        return verify_checkpoint(latest.note, trust_list, region=region, at=at), None
    except CheckpointError as exc:
        return None, str(exc)


def region_log(session: Session, trust_list: TrustList, region: str, at: datetime) -> RegionLog:
    checkpoint, problem = verified_checkpoint(session, trust_list, region, at)
    return RegionLog(region, tree_size(session, region), _view(checkpoint), problem)


def entry_page(session: Session, trust_list: TrustList, region: str, start: int) -> EntryPage:
    """Up to PAGE_SIZE entries from `start`, oldest first."""
    _check_log_region(trust_list, region)
    size = tree_size(session, region)
    found = []
    if start < size:
        found = [(i, _text(leaf)) for i, leaf in entries(session, region, start, start + PAGE_SIZE)]
    return EntryPage(region, start, size, found)


def entry_proof(
    session: Session, trust_list: TrustList, region: str, index: int, at: datetime
) -> EntryProof:
    """The entry as stored, and its inclusion in the latest checkpoint's tree, verified."""
    _check_log_region(trust_list, region)
    ((_, leaf),) = entries(session, region, index, index + 1)
    hashed = leaf_hash(leaf)
    checkpoint, problem = verified_checkpoint(session, trust_list, region, at)
    covered = checkpoint is not None and index < checkpoint.tree_size
    proof: list[bytes] = []
    if checkpoint is not None and covered:
        proof = inclusion_proof(session, region, index, checkpoint.tree_size)
        try:
            verify_inclusion(hashed, index, checkpoint.tree_size, proof, checkpoint.root_hash)
        except ProofError as exc:
            problem = str(exc)
    return EntryProof(
        region=region,
        index=index,
        leaf=_text(leaf),
        leaf_hash=_b64(hashed),
        checkpoint=_view(checkpoint),
        proof=[_b64(p) for p in proof],
        verified=covered and problem is None,
        problem=problem,
        covered=covered,
    )


def _check_log_region(trust_list: TrustList, region: str) -> None:
    """A region the trust list lists a log for (granted now or not: its history stays
    browsable)."""
    if region not in {s.region_code for s in trust_list.services(ServiceType.LOG)}:
        raise HTTPException(404, f"the trust list lists no log of region {region}")


def _view(checkpoint: Checkpoint | None) -> CheckpointView | None:
    if checkpoint is None:
        return None
    signed_at = checkpoint.signed_at
    return CheckpointView(
        checkpoint.tree_size,
        _b64(checkpoint.root_hash),
        format_time(signed_at) if signed_at else None,
    )


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _text(leaf: bytes) -> str:
    # Shown as stored: a row that is not UTF-8 (tampered) still shows, marked by U+FFFD.
    return leaf.decode("utf-8", "replace")
