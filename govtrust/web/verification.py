"""Public verification: anyone uploads a licence PDF or a photo of its QR code and gets the
verifier's report, judged exactly as `govtrust verify --bundle` judges it, against the
bundle this server exports (re-exported every few seconds). The upload is read into
memory, judged and dropped: nothing is stored."""

from __future__ import annotations

import threading
import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from govtrust.bundle import export_bundle
from govtrust.runtime import Runtime
from govtrust.web.pages import render
from govtrust.web.session import RuntimeDep, check_csrf, current_user
from verifier.bundle import OfflineBundle, open_bundle
from verifier.certs import sha256_fingerprint
from verifier.cli import judge_data
from verifier.errors import InputError
from verifier.judge import Judge
from verifier.qr_image import looks_like_image
from verifier.render import report_section
from verifier.timeutil import utc_now

router = APIRouter(prefix="/verify", include_in_schema=False, dependencies=[Depends(current_user)])


class ServerBundle:
    """The server's own bundle, opened as an agency opens one (pinned to the root of the
    trust list the server publishes), kept for `seconds`."""

    def __init__(self, runtime: Runtime, seconds: float) -> None:
        self._runtime = runtime
        self._seconds = seconds
        self._lock = threading.Lock()
        self._bundle: OfflineBundle | None = None
        self._made = 0.0

    def get(self) -> OfflineBundle:
        with self._lock:
            if self._bundle is None or time.monotonic() - self._made > self._seconds:
                root = sha256_fingerprint(self._runtime.trust_list().national_root)
                self._bundle = open_bundle(export_bundle(self._runtime), root, at=utc_now())
                self._made = time.monotonic()
            return self._bundle


def server_bundle(request: Request, runtime: RuntimeDep) -> OfflineBundle:
    holder = getattr(request.app.state, "server_bundle", None)
    if holder is None:
        holder = request.app.state.server_bundle = ServerBundle(
            runtime, runtime.settings.web_bundle_seconds
        )
    return holder.get()


def _limit_mb(runtime: Runtime) -> int:
    return runtime.settings.web_upload_bytes // (1024 * 1024)


@router.get("")
def verify_form(request: Request, runtime: RuntimeDep) -> Response:
    return render(request, "verify.html", limit_mb=_limit_mb(runtime), report=None, error=None)


@router.post("", dependencies=[Depends(check_csrf)])
async def verify_upload(
    request: Request,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File()],
) -> Response:
    limit = runtime.settings.web_upload_bytes
    data = await file.read(limit + 1)
    await file.close()
    error = None
    if len(data) > limit:
        error = f"the file is larger than {_limit_mb(runtime)} MB"
    elif not (data.startswith(b"%PDF-") or looks_like_image(data)):
        error = "the file is not a PDF, a PNG or a JPEG image"
    if error is not None:
        return render(
            request, "verify.html", 400, limit_mb=_limit_mb(runtime), report=None, error=error
        )
    # Judging is CPU work and the verifier runs its own event loop: a worker thread.
    return await run_in_threadpool(_judged, request, runtime, data, file.filename or "upload")


def _judged(request: Request, runtime: Runtime, data: bytes, name: str) -> Response:
    bundle = server_bundle(request, runtime)
    judge = Judge(bundle.trust_list, bundle, utc_now())
    try:
        outcome = judge_data(data, judge, tokens=False)
    except InputError as exc:
        return render(
            request, "verify.html", 400, limit_mb=_limit_mb(runtime), report=None, error=str(exc)
        )
    return render(
        request,
        "verify.html",
        limit_mb=_limit_mb(runtime),
        report=report_section(name[:100], outcome.report),
        verdict=str(outcome.verdict),
        reason=outcome.reason,
        error=None,
    )
