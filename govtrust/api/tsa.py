"""RFC 3161 time-stamping over HTTP (RFC 3161 3.4): one public endpoint per region CA."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from govtrust.api.deps import get_runtime, read_binary_body

router = APIRouter(tags=["time-stamping"])

TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"
# A TimeStampReq is about 60-120 bytes; the cap only keeps the server from buffering junk.
MAX_REQUEST_BYTES = 64 * 1024

_PROBLEM = {"content": {"application/problem+json": {}}}


@router.post(
    "/ca/{ca}/tsa",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {TIMESTAMP_QUERY: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        200: {
            "content": {TIMESTAMP_REPLY: {}},
            "description": "DER TimeStampResp: a token, or a rejection with its failInfo",
        },
        400: {**_PROBLEM, "description": "the body is not a DER structure"},
        404: {**_PROBLEM, "description": "no time-stamping authority for this CA"},
        413: {**_PROBLEM, "description": f"request larger than {MAX_REQUEST_BYTES} bytes"},
        415: {**_PROBLEM, "description": f"content type is not {TIMESTAMP_QUERY}"},
    },
)
async def time_stamp(
    ca: Annotated[str, Path(description="region code, e.g. 330000")], request: Request
) -> Response:
    """Time-stamp a message imprint (RFC 3161 TimeStampReq in, TimeStampResp out)."""
    runtime = get_runtime(request)
    # The first call for a region loads its key and reads the database: not on the loop.
    tsa = await run_in_threadpool(runtime.tsa, ca)
    body = await read_binary_body(request, TIMESTAMP_QUERY, MAX_REQUEST_BYTES, "time-stamp request")
    reply = await run_in_threadpool(tsa.respond, body)
    # Every reply is unique (serial, time, nonce): nothing for a cache to reuse.
    return Response(reply, media_type=TIMESTAMP_REPLY, headers={"Cache-Control": "no-store"})
