"""Dependencies shared by the routers: the process runtime and a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from govtrust.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_session(request: Request) -> Iterator[Session]:
    with get_runtime(request).database.transaction() as session:
        yield session


# scope="function": the transaction commits when the route returns, before the response is
# sent, so a client never sees success for work that then fails to commit.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


async def read_binary_body(request: Request, media_type: str, limit: int, what: str) -> bytes:
    """A protocol request body (OCSP, TSA): refused with 415 if of the wrong type and with
    413 as soon as it passes `limit` bytes, before it is buffered whole."""
    sent_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if sent_type != media_type:
        raise HTTPException(415, f"send the {what} as {media_type}")
    too_large = HTTPException(413, f"a {what} is at most {limit} bytes")
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
