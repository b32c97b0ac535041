"""Public CA and federation endpoints (no authentication)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from sqlalchemy.orm import Session

from ca.federation import latest_trust_list
from govtrust.api.deps import get_session

router = APIRouter(tags=["federation"])

JOSE_MEDIA_TYPE = "application/jose"


@router.get(
    "/trust-list",
    response_class=Response,
    responses={200: {"content": {JOSE_MEDIA_TYPE: {}}, "description": "compact JWS"}},
)
def trust_list(session: Annotated[Session, Depends(get_session)]) -> Response:
    """The latest federation trust list, as signed by the hub (verify it, do not trust it)."""
    version = latest_trust_list(session)
    if version is None:
        raise HTTPException(404, "no trust list has been published")
    return Response(
        version.jws,
        media_type=JOSE_MEDIA_TYPE,
        headers={
            "X-Trust-List-Sequence": str(version.sequence),
            "Cache-Control": "public, max-age=300",
        },
    )
