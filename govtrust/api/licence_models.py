"""What the licence API reads and answers: request bodies and views of a licence, built
from registry records (transport only; every rule is the registry's)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from ca.models import Department
from licence_registry import Licence
from licence_registry.catalogue import LicenceType
from licence_registry.queries import identifier_of
from verifier.identifiers import HolderIdType
from verifier.timeutil import utc_now


class IssueBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    licence_type: str = Field(max_length=64, examples=["business-licence"])
    holder_name: str = Field(max_length=200)
    holder_id: str = Field(max_length=64, description="USCC or citizen ID number")
    holder_id_type: HolderIdType | None = None


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=1000)


class ReinstateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


class AmendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    holder_name: str = Field(max_length=200)
    reason: str = Field(max_length=1000)


class LicenceTypeView(BaseModel):
    name: str
    title: str
    title_en: str
    department: str
    holder_id_types: list[HolderIdType]
    validity_years: int | None
    pades_level: str


class LicenceStatusView(BaseModel):
    """What any agency may know of a licence: no holder data."""

    identifier: str
    licence_type: str
    version: int
    status: str
    region: str
    department: str
    valid_from: date
    valid_until: date | None
    superseded_by: str | None
    as_of: datetime


class LicenceView(LicenceStatusView):
    """A licence as its holder and its issuing department see it."""

    holder_name: str
    holder_id_masked: str
    issued_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    supersedes: str | None
    pdf_sha256: str
    links: dict[str, str]


def type_view(kind: LicenceType) -> LicenceTypeView:
    return LicenceTypeView(
        name=kind.name,
        title=kind.title,
        title_en=kind.title_en,
        department=kind.department,
        holder_id_types=list(kind.holder_id_types),
        validity_years=kind.validity_years,
        pades_level=kind.pades_level,
    )


class LicencePage(BaseModel):
    total: int
    offset: int
    limit: int
    licences: list[LicenceView]


def status_view(session: Session, licence: Licence) -> LicenceStatusView:
    now = utc_now()
    return LicenceStatusView(
        identifier=licence.identifier,
        licence_type=licence.type_name,
        version=licence.version,
        status=licence.effective_status(now.date()),
        region=licence.region_code,
        department=session.get_one(Department, licence.department_id).code,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        superseded_by=identifier_of(session, licence.superseded_by_id),
        as_of=now,
    )


def licence_view(session: Session, licence: Licence, base: str) -> LicenceView:
    links = {
        "self": f"{base}/{licence.identifier}",
        "pdf": f"{base}/{licence.identifier}/pdf",
        "credential": f"{base}/{licence.identifier}/credential",
        "log": f"/api/v1/log/{licence.region_code}/licences/{licence.identifier}",
    }
    return LicenceView(
        **status_view(session, licence).model_dump(),
        holder_name=licence.holder_name,
        holder_id_masked=licence.holder_id_masked,
        issued_at=licence.issued_at,
        revoked_at=licence.revoked_at,
        revocation_reason=licence.revocation_reason,
        supersedes=identifier_of(session, licence.supersedes_id),
        pdf_sha256=licence.pdf_sha256,
        links=links,
    )
