"""Federation trust list: the signed versions (public) and their lifecycle (operators).

A region's operator lists, grants and withdraws services of their own region; any region's
operator may publish, since a new version only signs what each region's operator recorded.
Regions themselves join at the hub (CLI): a region CA needs the offline national root, and
an independent root is a federation decision, not one region's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from ca.federation import (
    add_region_ca_service,
    get_region_service,
    list_trust_list_versions,
    listed_regions,
    service_status_history,
    set_service_status,
    trust_list_version,
    trusted_service,
)
from ca.models import TrustListVersion, TrustService
from govtrust.api.auth import Operator, require_operator, require_region_operator
from govtrust.api.deps import DbSession, get_runtime
from govtrust.audit_source import published_trust_list
from govtrust.published import publish_next_trust_list
from govtrust.runtime import Runtime
from verifier.certs import parse_certificate, sha256_fingerprint
from verifier.timeutil import utc_now
from verifier.trust_list import ServiceStatus, ServiceType

router = APIRouter(tags=["federation"])

JOSE_MEDIA_TYPE = "application/jose"
_JWS_RESPONSE = {200: {"content": {JOSE_MEDIA_TYPE: {}}, "description": "compact JWS"}}
RegionCode = Annotated[str, Path(pattern=r"^[0-9]{6}$")]


@router.get("/trust-list", response_class=Response, responses=_JWS_RESPONSE)
def trust_list(session: DbSession) -> Response:
    """The latest federation trust list, as signed by the hub (verify it, do not trust it)."""
    version = published_trust_list(session)
    return _jws(version.jws, version.sequence, "public, max-age=300")


@router.get("/trust-list/{sequence}", response_class=Response, responses=_JWS_RESPONSE)
def trust_list_by_sequence(
    sequence: Annotated[int, Path(ge=1, le=2**31 - 1)], session: DbSession
) -> Response:
    """A given trust list version, as signed; every version stays available."""
    version = trust_list_version(session, sequence)
    return _jws(version.jws, version.sequence, "public, max-age=86400, immutable")


def _jws(token: str, sequence: int, cache_control: str) -> Response:
    return Response(
        token,
        media_type=JOSE_MEDIA_TYPE,
        headers={"X-Trust-List-Sequence": str(sequence), "Cache-Control": cache_control},
    )


class StatusChangeOut(BaseModel):
    status: ServiceStatus
    since: datetime
    recorded_at: datetime
    recorded_by: str | None = Field(description="operator (region/subject); null: hub CLI")


class ServiceOut(BaseModel):
    id: int
    region: str
    type: ServiceType
    name: str
    certificate_subject: str
    certificate_sha256: str
    status: ServiceStatus | None = Field(description="status now; null if not yet in effect")
    history: list[StatusChangeOut]


class RegionOut(BaseModel):
    code: str
    name: str
    services: list[ServiceOut]


class VersionOut(BaseModel):
    sequence: int
    issued_at: datetime
    next_update: datetime
    published_by: str | None = Field(description="operator (region/subject); null: hub CLI")
    url: str


class ServiceIn(BaseModel):
    type: ServiceType
    name: str = Field(min_length=1, max_length=200)
    certificate: str = Field(
        max_length=16 * 1024,
        description="PEM; the region CA itself or a certificate it issued",
    )
    since: AwareDatetime | None = Field(None, description="when it takes effect (default now)")


class StatusChangeIn(BaseModel):
    status: Literal["granted", "withdrawn"]
    since: AwareDatetime | None = Field(
        None,
        description="when it takes effect (default now); a withdrawal may be backdated to "
        "when a key was compromised",
    )


class PublishIn(BaseModel):
    validity_days: int = Field(30, ge=1, le=366, description="until next_update")


@router.get("/federation/regions", response_model=list[RegionOut])
def regions(
    _operator: Annotated[Operator, Depends(require_operator)], session: DbSession
) -> list[RegionOut]:
    """Regions and services with their whole history, as the next version would list them."""
    return federation_regions(session)


def federation_regions(session: Session) -> list[RegionOut]:
    """Every listed region and its services, each with its status now and whole history."""
    return [
        RegionOut(
            code=region.code,
            name=region.name,
            services=[_service_out(session, service) for service in services],
        )
        for region, services in listed_regions(session)
    ]


@router.post("/federation/regions/{region}/services", response_model=ServiceOut, status_code=201)
def add_service(
    region: RegionCode,
    body: ServiceIn,
    operator: Annotated[Operator, Depends(require_region_operator)],
    session: DbSession,
) -> ServiceOut:
    """List a service of the operator's own region; it takes effect when next published."""
    service = add_region_ca_service(
        session,
        region,
        body.type,
        body.name,
        parse_certificate(body.certificate.encode(), "certificate"),
        since=body.since,
        recorded_by=operator.actor,
    )
    return _service_out(session, service)


@router.post(
    "/federation/regions/{region}/services/{service_id}/status",
    response_model=ServiceOut,
    status_code=201,
)
def change_service_status(
    region: RegionCode,
    service_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: StatusChangeIn,
    operator: Annotated[Operator, Depends(require_region_operator)],
    session: DbSession,
) -> ServiceOut:
    """Grant or withdraw a service of the operator's own region from a given time."""
    service = get_region_service(session, region, service_id)
    set_service_status(
        session,
        service,
        ServiceStatus(body.status),
        since=body.since,
        recorded_by=operator.actor,
    )
    return _service_out(session, service)


@router.get("/federation/versions", response_model=list[VersionOut])
def versions(
    _operator: Annotated[Operator, Depends(require_operator)], session: DbSession
) -> list[VersionOut]:
    """Every published version, newest first, with who published it."""
    return federation_versions(session)


def federation_versions(session: Session) -> list[VersionOut]:
    """Every published trust-list version, newest first."""
    return [_version_out(v) for v in list_trust_list_versions(session)]


@router.post("/federation/versions", response_model=VersionOut, status_code=201)
def publish(
    body: PublishIn,
    operator: Annotated[Operator, Depends(require_operator)],
    session: DbSession,
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> VersionOut:
    """Sign and publish the next version from what the regions' operators recorded."""
    version = publish_next_trust_list(
        runtime, timedelta(days=body.validity_days), published_by=operator.actor
    )
    return _version_out(version)


def _service_out(session: Session, service: TrustService) -> ServiceOut:
    certificate = service.certificate
    return ServiceOut(
        id=service.id,
        region=service.region_code,
        type=ServiceType(service.service_type),
        name=service.name,
        certificate_subject=certificate.subject.rfc4514_string(),
        certificate_sha256=sha256_fingerprint(certificate),
        status=trusted_service(session, service).status_at(utc_now()),
        history=[
            StatusChangeOut(
                status=ServiceStatus(change.status),
                since=change.since,
                recorded_at=change.recorded_at,
                recorded_by=change.recorded_by,
            )
            for change in service_status_history(session, service.id)
        ],
    )


def _version_out(version: TrustListVersion) -> VersionOut:
    return VersionOut(
        sequence=version.sequence,
        issued_at=version.issued_at,
        next_update=version.next_update,
        published_by=version.published_by,
        url=f"/api/v1/trust-list/{version.sequence}",
    )
