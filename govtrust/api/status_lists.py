"""Licence status lists, public: every agency fetches its regions' lists into its bundle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from govtrust.api.deps import DbSession, get_runtime
from govtrust.runtime import Runtime
from licence_registry.status_lists import LIST_TTL, current_status_list, status_list_version

router = APIRouter(tags=["status lists"])

STATUS_LIST_JWT = "application/statuslist+jwt"
_JWT_RESPONSE = {200: {"content": {STATUS_LIST_JWT: {}}, "description": "signed status list"}}
RegionCode = Annotated[str, Path(pattern=r"^[0-9]{6}$")]


@router.get("/status-lists/{region}", response_class=Response, responses=_JWT_RESPONSE)
def status_list(
    region: RegionCode, session: DbSession, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Response:
    """The region's current status list (draft-ietf-oauth-status-list), re-signed as soon as
    a licence's status changed since the last one."""
    version = current_status_list(session, runtime.status_signer(region))
    return Response(
        version.token,
        media_type=STATUS_LIST_JWT,
        headers={
            "Cache-Control": f"public, max-age={int(LIST_TTL.total_seconds())}",
            "X-Status-List-Number": str(version.number),
        },
    )


@router.get("/status-lists/{region}/{number}", response_class=Response, responses=_JWT_RESPONSE)
def status_list_by_number(
    region: RegionCode, number: Annotated[int, Path(ge=1, le=2**31 - 1)], session: DbSession
) -> Response:
    """A published version, as signed: an auditor checks what a verifier was shown."""
    version = status_list_version(session, region, number)
    return Response(
        version.token,
        media_type=STATUS_LIST_JWT,
        headers={"Cache-Control": "public, max-age=86400, immutable"},
    )
