"""Each region's transparency log, public: checkpoints, entries and proofs for auditors.

Nothing here is to be trusted as served: a client checks the checkpoint's signature
against the trust list and every proof against a checkpoint it verified.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from govtrust.api.deps import DbSession
from govtrust.audit_source import log_page
from licence_registry.transparency import (
    consistency_proof,
    find_licence_leaves,
    inclusion_proof,
    latest_checkpoint,
)

router = APIRouter(tags=["transparency log"])

CHECKPOINT_MEDIA_TYPE = "text/plain; charset=utf-8"
RegionCode = Annotated[str, Path(pattern=r"^[0-9]{6}$")]
Size = Annotated[int, Query(ge=0, le=2**53 - 1)]


class EntryOut(BaseModel):
    index: int
    leaf: str = Field(description="the leaf's canonical JSON, exactly as hashed")


class ProofOut(BaseModel):
    tree_size: int
    hashes: list[str] = Field(description="base64, in RFC 9162 order")


class InclusionOut(ProofOut):
    index: int


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


@router.get(
    "/log/{region}/checkpoint",
    response_class=Response,
    responses={200: {"content": {CHECKPOINT_MEDIA_TYPE: {}}, "description": "signed note"}},
)
def checkpoint(region: RegionCode, session: DbSession) -> Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint, signed note)."""
    latest = latest_checkpoint(session, region)
    if latest is None:
        raise HTTPException(404, f"region {region}'s log has no checkpoint yet")
    return Response(latest.note, media_type=CHECKPOINT_MEDIA_TYPE)


@router.get("/log/{region}/entries", response_model=list[EntryOut])
def log_entries(
    region: RegionCode,
    session: DbSession,
    start: Annotated[int, Query(ge=0, le=2**53 - 1)],
    end: Annotated[int, Query(ge=1, le=2**53 - 1)],
) -> list[EntryOut]:
    """Leaves [start, end), at most MAX_PAGE of them."""
    return [EntryOut(index=i, leaf=leaf) for i, leaf in log_page(session, region, start, end)]


@router.get("/log/{region}/proof/inclusion", response_model=InclusionOut)
def proof_of_inclusion(
    region: RegionCode,
    session: DbSession,
    tree_size: Size,
    index: Annotated[int, Query(ge=0, le=2**53 - 1)],
) -> InclusionOut:
    """Inclusion of leaf `index` in the tree of `tree_size` leaves."""
    proof = inclusion_proof(session, region, index, tree_size)
    return InclusionOut(index=index, tree_size=tree_size, hashes=_b64(proof))


@router.get("/log/{region}/licences/{identifier}", response_model=list[int])
def licence_entries(
    region: RegionCode, identifier: Annotated[str, Path(max_length=128)], session: DbSession
) -> list[int]:
    """The indices of a licence's leaves (its whole life), for proofs of inclusion."""
    return find_licence_leaves(session, region, identifier)


@router.get("/log/{region}/proof/consistency", response_model=ProofOut)
def proof_of_consistency(
    region: RegionCode, session: DbSession, first: Size, second: Size
) -> ProofOut:
    """That the tree of `second` leaves extends the tree of `first` leaves."""
    proof = consistency_proof(session, region, first, second)
    return ProofOut(tree_size=second, hashes=_b64(proof))
