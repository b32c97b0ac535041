"""The govtrust web application: API routers assembled under /api/v1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from govtrust.api import (
    bundle,
    ca,
    federation,
    health,
    identity,
    licences,
    log,
    revocation,
    seals,
    status_lists,
    tsa,
)
from govtrust.api.limits import RequestBodyLimit, body_limit
from govtrust.api.problems import install_problem_handlers
from govtrust.audit_trail import AuditTrailMiddleware
from govtrust.checkpointer import run_checkpointer
from govtrust.runtime import Runtime
from govtrust.settings import Settings
from govtrust.web import error_page, install_web, is_page


def create_app(settings: Settings, *, background: bool = False) -> FastAPI:
    """The app; with `background`, also the server's periodic work (log checkpoints)."""
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(run_checkpointer(runtime)) if background else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="govtrust",
        version="0.1.0",
        description="Trust infrastructure: PKI, e-seals, e-licences, offline verification.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_problem_handlers(app, page_error=error_page, is_page=is_page)
    # Inside the pages' own checks (added later, so outer), which answer browsers in HTML.
    app.add_middleware(RequestBodyLimit, limit_for=body_limit(settings))
    app.add_middleware(AuditTrailMiddleware, database=lambda: runtime.database)
    install_web(app)
    app.include_router(health.router, prefix="/api/v1")
    app.include_router(federation.router, prefix="/api/v1")
    app.include_router(ca.router, prefix="/api/v1")
    app.include_router(identity.router, prefix="/api/v1")
    app.include_router(tsa.router, prefix="/api/v1")
    app.include_router(revocation.router, prefix="/api/v1")
    app.include_router(seals.router, prefix="/api/v1")
    app.include_router(licences.router, prefix="/api/v1")
    app.include_router(status_lists.router, prefix="/api/v1")
    app.include_router(log.router, prefix="/api/v1")
    app.include_router(bundle.router, prefix="/api/v1")
    return app


def create_app_from_environment() -> FastAPI:
    """Factory for uvicorn worker processes: each builds its app from GOVTRUST_* settings."""
    return create_app(Settings(), background=True)
