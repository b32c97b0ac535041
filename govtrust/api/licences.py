"""Licences over the API: departments issue and change them, holders read their own,
agencies look up a status. Every rule is the registry's; routes only map HTTP to it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from sqlalchemy.orm import Session

from ca.models import Department
from ca.registry import find_department
from govtrust.api.auth import (
    Holder,
    Principal,
    RegionPath,
    require_agency,
    require_department_staff,
    require_holder,
    require_staff_of,
)
from govtrust.api.deps import DbSession, get_runtime
from govtrust.api.licence_models import (
    AmendBody,
    IssueBody,
    LicencePage,
    LicenceStatusView,
    LicenceTypeView,
    LicenceView,
    ReasonBody,
    ReinstateBody,
    licence_view,
    status_view,
    type_view,
)
from govtrust.issuance import LicenceOffice
from govtrust.runtime import Runtime
from licence_registry import (
    Actor,
    Amendment,
    IssueRequest,
    Licence,
    LicenceNotFound,
    get_licence,
    reinstate_licence,
    revoke_licence,
    suspend_licence,
)
from licence_registry.catalogue import region_catalogue
from licence_registry.queries import (
    MAX_PAGE,
    department_licence,
    department_licences,
    holder_licence,
    holder_licences,
)

router = APIRouter(tags=["licences"])

PDF = "application/pdf"
CREDENTIAL = "application/jwt"
IdentifierPath = Annotated[str, Path(min_length=1, max_length=128)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=100,
        description="a retried request with the same key gets the first result back",
    ),
]
_PDF_RESPONSE = {200: {"content": {PDF: {}}, "description": "the sealed licence"}}
_JWT_RESPONSE = {200: {"content": {CREDENTIAL: {}}, "description": "the QR credential"}}


def _department_base(actor: Actor) -> str:
    return f"/api/v1/departments/{actor.region}/{actor.department}/licences"


def _department_view(session: Session, licence: Licence) -> LicenceView:
    department = session.get_one(Department, licence.department_id)
    base = f"/api/v1/departments/{department.region_code}/{department.code}/licences"
    return licence_view(session, licence, base)


def pdf_response(licence: Licence) -> Response:
    """The sealed PDF as a download, never cached by a shared cache."""
    return Response(
        licence.pdf,
        media_type=PDF,
        headers={
            "Content-Disposition": f'attachment; filename="{licence.identifier}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


def _credential(licence: Licence) -> Response:
    if licence.credential is None:
        raise LicenceNotFound(f"licence {licence.identifier} was issued without a QR credential")
    return Response(
        licence.credential, media_type=CREDENTIAL, headers={"Cache-Control": "private, no-store"}
    )


def get_office(runtime: Annotated[Runtime, Depends(get_runtime)]) -> LicenceOffice:
    """Registry and seal service as wired for this app (a bench overrides it)."""
    return LicenceOffice.for_pdf(runtime)


Office = Annotated[LicenceOffice, Depends(get_office)]


@router.get("/catalogue/{region}")
def catalogue(region: RegionPath) -> list[LicenceTypeView]:
    """The licence types `region` issues (public): what a department's issue form offers."""
    return [type_view(kind) for kind in region_catalogue(region)]


# Department: issue, list, read, change.


@router.post("/departments/{region}/{department}/licences", status_code=201)
def issue(
    body: IssueBody,
    response: Response,
    actor: Annotated[Actor, Depends(require_staff_of)],
    office: Office,
    idempotency_key: IdempotencyKey = None,
) -> LicenceView:
    """Issue and seal a licence of this department (a clerk or signer of it). The answer
    links the sealed PDF; with an `Idempotency-Key` a retry returns the first licence."""
    request = IssueRequest(
        actor.region,
        actor.department,
        body.licence_type,
        body.holder_name,
        body.holder_id,
        body.holder_id_type,
    )
    licence = office.issue(request, actor=actor, idempotency_key=idempotency_key)
    with office.runtime.database.transaction() as session:
        view = licence_view(session, licence, _department_base(actor))
    response.headers["Location"] = view.links["self"]
    return view


@router.get("/departments/{region}/{department}/licences")
def list_department_licences(
    region: RegionPath,
    actor: Annotated[Actor, Depends(require_staff_of)],
    session: DbSession,
    status: Annotated[str | None, Query(max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=100, description="identifier or holder")] = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
) -> LicencePage:
    """The department's licences, newest first, searched and paged."""
    department = find_department(session, region, actor.department)
    page = department_licences(
        session, department, status=status, search=q, offset=offset, limit=limit
    )
    base = _department_base(actor)
    return LicencePage(
        total=page.total,
        offset=page.offset,
        limit=page.limit,
        licences=[licence_view(session, licence, base) for licence in page.licences],
    )


@router.get("/departments/{region}/{department}/licences/{identifier}")
def department_licence_view(
    identifier: IdentifierPath,
    actor: Annotated[Actor, Depends(require_staff_of)],
    session: DbSession,
) -> LicenceView:
    return licence_view(
        session, department_licence(session, actor, identifier), _department_base(actor)
    )


@router.get(
    "/departments/{region}/{department}/licences/{identifier}/pdf",
    response_class=Response,
    responses=_PDF_RESPONSE,
)
def department_licence_pdf(
    identifier: IdentifierPath,
    actor: Annotated[Actor, Depends(require_staff_of)],
    session: DbSession,
) -> Response:
    return pdf_response(department_licence(session, actor, identifier))


@router.get(
    "/departments/{region}/{department}/licences/{identifier}/credential",
    response_class=Response,
    responses=_JWT_RESPONSE,
)
def department_licence_credential(
    identifier: IdentifierPath,
    actor: Annotated[Actor, Depends(require_staff_of)],
    session: DbSession,
) -> Response:
    return _credential(department_licence(session, actor, identifier))


@router.post("/licences/{identifier}/suspend")
def suspend(
    identifier: IdentifierPath,
    body: ReasonBody,
    actor: Annotated[Actor, Depends(require_department_staff)],
    session: DbSession,
) -> LicenceView:
    """Suspend an active licence of your department; the status list says so within
    seconds."""
    licence = suspend_licence(session, identifier, body.reason, actor=actor)
    return _department_view(session, licence)


@router.post("/licences/{identifier}/reinstate")
def reinstate(
    identifier: IdentifierPath,
    body: ReinstateBody,
    actor: Annotated[Actor, Depends(require_department_staff)],
    session: DbSession,
) -> LicenceView:
    """Make a suspended licence of your department active again."""
    licence = reinstate_licence(session, identifier, body.reason, actor=actor)
    return _department_view(session, licence)


@router.post("/licences/{identifier}/revoke")
def revoke(
    identifier: IdentifierPath,
    body: ReasonBody,
    actor: Annotated[Actor, Depends(require_department_staff)],
    session: DbSession,
) -> LicenceView:
    """Revoke a licence of your department, for good."""
    licence = revoke_licence(session, identifier, body.reason, actor=actor)
    return _department_view(session, licence)


@router.post("/licences/{identifier}/amend", status_code=201)
def amend(
    identifier: IdentifierPath,
    body: AmendBody,
    response: Response,
    actor: Annotated[Actor, Depends(require_department_staff)],
    office: Office,
    idempotency_key: IdempotencyKey = None,
) -> LicenceView:
    """Issue the next version of an active licence with the amended holder name, sealed
    anew; the old version reads as superseded from then on."""
    licence = office.amend(
        identifier,
        Amendment(holder_name=body.holder_name, reason=body.reason),
        actor=actor,
        idempotency_key=idempotency_key,
    )
    with office.runtime.database.transaction() as session:
        view = _department_view(session, licence)
    response.headers["Location"] = view.links["self"]
    return view


# Agency: the status of a licence presented to it.


@router.get("/licences/{identifier}/status")
def licence_status(
    identifier: IdentifierPath,
    _agency: Annotated[Principal, Depends(require_agency)],
    session: DbSession,
) -> LicenceStatusView:
    """The current status of a licence, for agency staff of any region (offline, the
    region's status list in a bundle answers the same)."""
    return status_view(session, get_licence(session, identifier))


# Holder: their own licences, from any region's sign-in.

_HOLDER_BASE = "/api/v1/me/licences"


@router.get("/me/licences")
def my_licences(
    holder: Annotated[Holder, Depends(require_holder)], session: DbSession
) -> list[LicenceView]:
    """Every licence (every version) issued to you, newest first."""
    return [
        licence_view(session, licence, _HOLDER_BASE)
        for licence in holder_licences(session, holder.subject)
    ]


@router.get("/me/licences/{identifier}")
def my_licence(
    identifier: IdentifierPath,
    holder: Annotated[Holder, Depends(require_holder)],
    session: DbSession,
) -> LicenceView:
    return licence_view(session, holder_licence(session, holder.subject, identifier), _HOLDER_BASE)


@router.get("/me/licences/{identifier}/pdf", response_class=Response, responses=_PDF_RESPONSE)
def my_licence_pdf(
    identifier: IdentifierPath,
    holder: Annotated[Holder, Depends(require_holder)],
    session: DbSession,
) -> Response:
    return pdf_response(holder_licence(session, holder.subject, identifier))


@router.get(
    "/me/licences/{identifier}/credential", response_class=Response, responses=_JWT_RESPONSE
)
def my_licence_credential(
    identifier: IdentifierPath,
    holder: Annotated[Holder, Depends(require_holder)],
    session: DbSession,
) -> Response:
    """The QR credential of your licence, to show on a phone."""
    return _credential(holder_licence(session, holder.subject, identifier))
