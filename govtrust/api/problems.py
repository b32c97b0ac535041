"""RFC 9457 problem documents for every error the API returns."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from verifier.errors import ConflictError, InputError, NotFoundError, NotPermittedError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("govtrust.api")


def problem(
    status: int,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    """An RFC 9457 problem document; the title is the status code's standard phrase."""
    body: dict[str, object] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# A page's error for a browser: (request, status, detail) -> an HTML response.
PageError = Callable[[Request, int, str | None], Response]


def install_problem_handlers(
    app: FastAPI,
    *,
    page_error: PageError | None = None,
    is_page: Callable[[Request], bool] | None = None,
) -> None:
    """Problem documents for the API; with `page_error`, requests `is_page` says are for a
    browser's page get that page instead (the same status and detail)."""

    def answer(
        request: Request,
        status: int,
        detail: str | None,
        headers: dict[str, str] | None = None,
        **extra: object,
    ) -> Response:
        if page_error is not None and is_page is not None and is_page(request):
            return page_error(request, status, detail)
        return problem(status, detail, headers=headers, **extra)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = str(exc.detail) if exc.detail else None
        return answer(request, exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return answer(request, 422, "request does not match the schema", errors=errors)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        return answer(request, 404, str(exc))

    @app.exception_handler(NotPermittedError)
    async def not_permitted(request: Request, exc: NotPermittedError) -> Response:
        return answer(request, 403, str(exc))

    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> Response:
        return answer(request, 409, str(exc))

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        return answer(request, 400, str(exc))

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "the server could not complete the request")
