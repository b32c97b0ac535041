"""CA endpoints: public reads, operator-only issuance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from ca.authority import get_authority
from ca.models import IssuedCertificate
from ca.registry import find_certificate, issue_from_csr, list_authorities, list_certificates
from govtrust.api.auth import Operator, require_ca_operator
from govtrust.api.deps import DbSession, get_runtime
from govtrust.runtime import Runtime
from verifier.timeutil import utc_now

router = APIRouter(tags=["ca"])

PKIX_CERT = "application/pkix-cert"
PEM_CERT = "application/x-pem-file"


class AuthorityOut(BaseModel):
    code: str
    name: str
    profile: str
    online: bool = Field(description="false for the national root, whose key is offline")
    certificate_url: str


class CertificateOut(BaseModel):
    serial: str = Field(description="lower-case hex")
    subject: str
    profile: str
    not_before: datetime
    not_after: datetime
    status: str = Field(description="valid, revoked or expired")
    revoked_at: datetime | None = None
    revocation_reason: str | None = None


class CertificatePageOut(BaseModel):
    items: list[CertificateOut]
    total: int
    offset: int
    limit: int


class IssueRequestIn(BaseModel):
    profile: str = Field(description="seal, ocsp-responder, tsa, status-issuer, …")
    csr: str = Field(max_length=16 * 1024, description="PKCS#10 request, PEM")


def _certificate_out(row: IssuedCertificate) -> CertificateOut:
    if row.revoked_at is not None:
        status = "revoked"
    elif row.not_after < utc_now():
        status = "expired"
    else:
        status = "valid"
    return CertificateOut(
        serial=row.serial,
        subject=row.subject,
        profile=row.profile,
        not_before=row.not_before,
        not_after=row.not_after,
        status=status,
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
    )


@router.get("/ca", response_model=list[AuthorityOut])
def list_cas(session: DbSession) -> list[AuthorityOut]:
    """The certificate authorities of this federation server."""
    return [
        AuthorityOut(
            code=a.code,
            name=a.name,
            profile=a.profile,
            online=a.key_ref is not None,
            certificate_url=f"/api/v1/ca/{a.code}/certificate",
        )
        for a in list_authorities(session)
    ]


@router.get(
    "/ca/{ca}/certificate",
    response_class=Response,
    responses={200: {"content": {PKIX_CERT: {}}}},
)
def ca_certificate(ca: Annotated[str, Path(max_length=32)], session: DbSession) -> Response:
    """The CA's own certificate, DER (the caIssuers target of what it issues)."""
    return Response(get_authority(session, ca).certificate_der, media_type=PKIX_CERT)


@router.get("/ca/{ca}/certificates", response_model=CertificatePageOut)
def certificates(
    ca: Annotated[str, Path(max_length=32)],
    session: DbSession,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CertificatePageOut:
    """Certificates the CA issued, oldest first."""
    page = list_certificates(session, ca, offset=offset, limit=limit)
    return CertificatePageOut(
        items=[_certificate_out(r) for r in page.items],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


@router.get(
    "/ca/{ca}/certificates/{serial}",
    response_class=Response,
    responses={200: {"content": {PEM_CERT: {}}}},
)
def certificate_pem(
    ca: Annotated[str, Path(max_length=32)],
    serial: Annotated[str, Path(max_length=64)],
    session: DbSession,
) -> Response:
    """One issued certificate, PEM."""
    row = find_certificate(session, ca, serial)
    return Response(row.certificate.public_bytes(Encoding.PEM), media_type=PEM_CERT)


@router.post("/ca/{ca}/certificates", response_model=CertificateOut, status_code=201)
def issue(
    ca: Annotated[str, Path(max_length=32)],
    body: IssueRequestIn,
    operator: Annotated[Operator, Depends(require_ca_operator)],
    session: DbSession,
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> CertificateOut:
    """Certify a CSR under one of the region CA's end-entity profiles (operator only)."""
    row = issue_from_csr(session, ca, runtime.issuer(ca), body.csr.encode(), body.profile)
    return _certificate_out(row)
