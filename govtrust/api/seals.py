"""Using a department's seal over the API: only that department's signers may."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from govtrust.api.auth import Signer, require_signer
from govtrust.api.deps import get_runtime, read_binary_body
from govtrust.issuance import SealingService
from govtrust.runtime import Runtime

router = APIRouter(tags=["seals"])

PDF = "application/pdf"


@router.post(
    "/seals/{region}/{department}/co-seal",
    response_class=Response,
    responses={200: {"content": {PDF: {}}, "description": "the co-sealed licence"}},
    openapi_extra={"requestBody": {"required": True, "content": {PDF: {}}}},
)
async def co_seal(
    request: Request,
    signer: Annotated[Signer, Depends(require_signer)],
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> Response:
    """Add the department's seal to a licence that verifies as valid (joint approval).
    The PDF is the request body; the earlier seals stay valid."""
    body = await read_binary_body(request, PDF, runtime.settings.max_upload_bytes, "licence PDF")

    def seal() -> bytes:
        with runtime.database.transaction() as session:
            return SealingService.for_pdf(runtime).co_seal(
                session, body, signer.region, signer.department
            )

    return Response(await run_in_threadpool(seal), media_type=PDF)
