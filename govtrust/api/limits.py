"""Request body limits for every route: a body larger than its route's limit is refused
with 413 before it is buffered, whether its size is declared (Content-Length) or not
(chunked: counted as it streams in).

Most requests are small JSON or forms (`Settings.max_request_bytes`); the routes that take
a document name their own, larger limit (`LARGE_BODIES`)."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govtrust.settings import Settings


def body_limit(settings: Settings) -> Callable[[str], int]:
    """The largest body a request to `path` may carry."""
    form_overhead = 64 * 1024
    large = {
        "/verify": settings.web_upload_bytes + form_overhead,
    }

    def limit(path: str) -> int:
        if path in large:
            return large[path]
        # the co-seal route takes a whole licence PDF
        if path.startswith("/api/v1/seals/"):
            return settings.max_upload_bytes
        return settings.max_request_bytes

    return limit


class RequestBodyLimit:
    """ASGI middleware enforcing `limit_for(path)` on every HTTP request body."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        too_large = f"the request body is larger than {limit} bytes"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, too_large)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException raised while reading the body on to
                    # the app's handlers (a problem document, or an error page).
                    raise HTTPException(413, too_large)
            return message

        await self.app(scope, limited, send)


async def _refuse(send: Send, detail: str) -> None:
    """413 as a problem document, without reading the body (the connection closes)."""
    body = json.dumps(
        {"type": "about:blank", "title": "Content Too Large", "status": 413, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
