"""Certificate revocation over HTTP: CRLs, the OCSP responder (RFC 6960 A.1) and revoking."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ca.revocation import AlreadyRevoked, current_crl, parse_reason, revoke_certificate
from govtrust.api.auth import Operator, require_ca_operator
from govtrust.api.deps import DbSession, get_runtime, read_binary_body
from govtrust.runtime import Runtime

router = APIRouter(tags=["revocation"])

PKIX_CRL = "application/pkix-crl"
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
# An OCSPRequest for one certificate is about 100 bytes (a signed one, a few KiB).
MAX_OCSP_REQUEST = 16 * 1024
# Every answer reflects the database now: an HTTP cache must not replay a "good".
NO_CACHE = {"Cache-Control": "no-cache"}

CaCode = Annotated[str, Path(max_length=32, description="CA code, e.g. 330000")]
# Function scope: the transaction commits before the response is sent, so a client told
# "revoked" finds it in OCSP with its very next request.
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

_PROBLEM = {"content": {"application/problem+json": {}}}
_NOT_FOUND = {404: {**_PROBLEM, "description": "no such CA, or it runs no OCSP responder"}}
_OCSP_ANSWER = {
    200: {
        "content": {OCSP_RESPONSE: {}},
        "description": "DER OCSPResponse: good / revoked / unknown, or `unauthorized` when the "
        "CertID names a CA this responder does not serve",
    },
    400: {**_PROBLEM, "description": "not a DER OCSP request with one CertID"},
    **_NOT_FOUND,
}

ReasonName = Literal[
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
    "aACompromise",
]


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReasonName = Field(description="RFC 5280 CRLReason name")


class RevokedOut(BaseModel):
    serial: str = Field(description="lower-case hex")
    revoked_at: datetime
    reason: str


async def ocsp_request_body(request: Request) -> bytes:
    """The POSTed OCSPRequest, refused before it is buffered if it is of the wrong type or big."""
    return await read_binary_body(request, OCSP_REQUEST, MAX_OCSP_REQUEST, "OCSP request")


def decode_get_request(encoded: str) -> bytes:
    """RFC 6960 A.1: base64 of the DER request (the router has already URL-decoded it)."""
    if len(encoded) > MAX_OCSP_REQUEST * 4 // 3 + 4:
        raise HTTPException(414, f"an OCSP request is at most {MAX_OCSP_REQUEST} bytes")
    # Tolerate what clients do in the wild: the URL-safe alphabet and dropped padding.
    text = encoded.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, "the OCSP GET path is not base64") from None


@router.get(
    "/ca/{ca}/crl",
    response_class=Response,
    responses={200: {"content": {PKIX_CRL: {}}, "description": "DER CRL"}, **_NOT_FOUND},
)
def crl(ca: CaCode, session: DbSession, runtime: RuntimeDep) -> Response:
    """The CA's current full CRL (DER): re-signed after a revocation or at half its life."""
    published = current_crl(session, ca, runtime.issuer)
    return Response(published.der, media_type=PKIX_CRL, headers=NO_CACHE)


@router.post(
    "/ca/{ca}/ocsp",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {OCSP_REQUEST: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        **_OCSP_ANSWER,
        413: {**_PROBLEM, "description": f"request larger than {MAX_OCSP_REQUEST} bytes"},
        415: {**_PROBLEM, "description": f"content type is not {OCSP_REQUEST}"},
    },
)
async def ocsp_post(
    ca: CaCode, body: Annotated[bytes, Depends(ocsp_request_body)], runtime: RuntimeDep
) -> Response:
    """OCSP over POST (RFC 6960 A.1): a request with a nonce is signed afresh, echoing it."""
    answer = _respond(runtime, ca, body)
    return Response(answer, media_type=OCSP_RESPONSE, headers=NO_CACHE)


@router.get("/ca/{ca}/ocsp/{encoded:path}", response_class=Response, responses=_OCSP_ANSWER)
async def ocsp_get(ca: CaCode, encoded: str, runtime: RuntimeDep) -> Response:
    """OCSP over GET: the path ends in the URL-encoded base64 of the DER request."""
    answer = _respond(runtime, ca, decode_get_request(encoded))
    return Response(answer, media_type=OCSP_RESPONSE, headers=NO_CACHE)


def _respond(runtime: Runtime, ca: str, request_der: bytes) -> bytes:
    # Run on the event loop itself: the answer is one indexed read of a pre-signed response
    # (or one ECDSA signature with a nonce), cheaper than the hop to a worker thread, whose
    # GIL contention halved throughput (bench/ca.py: ~1,600/s threaded, ~2,600/s inline).
    with runtime.database.transaction() as session:
        return runtime.ocsp_responder(ca).respond(session, request_der)


@router.post(
    "/ca/{ca}/certificates/{serial}/revoke",
    response_model=RevokedOut,
    tags=["ca"],
    responses={
        401: {**_PROBLEM, "description": "no valid operator credential"},
        403: {**_PROBLEM, "description": "the credential is for another region"},
        404: {**_PROBLEM, "description": "no such certificate"},
        409: {**_PROBLEM, "description": "already revoked"},
    },
)
def revoke(
    ca: CaCode,
    serial: Annotated[str, Path(max_length=64, description="hex serial")],
    body: RevokeIn,
    operator: Annotated[Operator, Depends(require_ca_operator)],
    session: DbSession,
    runtime: RuntimeDep,
) -> RevokedOut:
    """Revoke a certificate the region CA issued (operator only). OCSP says so at once; the
    next CRL lists it."""
    try:
        row = revoke_certificate(
            session, ca, serial, parse_reason(body.reason), responder=runtime.ocsp_responder(ca)
        )
    except AlreadyRevoked as exc:
        raise HTTPException(409, str(exc)) from None
    assert row.revoked_at is not None and row.revocation_reason is not None
    return RevokedOut(serial=row.serial, revoked_at=row.revoked_at, reason=row.revocation_reason)
