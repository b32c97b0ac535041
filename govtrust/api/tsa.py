"""RFC 3161 time-stamping over HTTP (RFC 3161 3.4): one public endpoint per region CA."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from govtrust.api.deps import get_runtime

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
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != TIMESTAMP_QUERY:
        raise HTTPException(415, f"send the time-stamp request as {TIMESTAMP_QUERY}")
    body = await _read_body(request, MAX_REQUEST_BYTES)
    reply = await run_in_threadpool(tsa.respond, body)
    # Every reply is unique (serial, time, nonce): nothing for a cache to reuse.
    return Response(reply, media_type=TIMESTAMP_REPLY, headers={"Cache-Control": "no-store"})


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = HTTPException(413, f"a time-stamp request is at most {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
