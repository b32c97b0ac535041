"""The offline bundle, public: an agency downloads it while online and verifies offline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from govtrust.api.deps import get_runtime
from govtrust.bundle import export_bundle
from govtrust.runtime import Runtime

router = APIRouter(tags=["bundle"])

BUNDLE_JSON = "application/json"


@router.get(
    "/bundle",
    response_class=Response,
    responses={200: {"content": {BUNDLE_JSON: {}}, "description": "the offline bundle"}},
)
async def bundle(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Response:
    """Trust list, current CRLs, every region's current status list and latest checkpoint
    (format govtrust-bundle/1). The bundle needs no trust of its own: each piece is signed
    by its own signer, and `govtrust verify --bundle` checks each."""
    data = await run_in_threadpool(export_bundle, runtime)
    return Response(
        data,
        media_type=BUNDLE_JSON,
        headers={
            "Content-Disposition": 'attachment; filename="govtrust-bundle.json"',
            "Cache-Control": "public, max-age=60",
        },
    )
