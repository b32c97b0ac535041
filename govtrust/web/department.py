"""A department's clerks and signers: issue a licence of any type the department issues,
see it sealed, suspend, reinstate or revoke with a reason, and list the department's
licences. The registry's rules and the API's role checks decide, as over the API."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import Response

from ca.registry import find_department
from govtrust.api.auth import Principal, require_department_staff
from govtrust.api.deps import DbSession
from govtrust.api.licence_models import licence_view
from govtrust.api.licences import pdf_response
from govtrust.issuance import LicenceOffice
from govtrust.web.pages import redirect, render
from govtrust.web.session import RuntimeDep, check_csrf, signed_in_user
from licence_registry import (
    Actor,
    IssueRequest,
    LicenceStatus,
    reinstate_licence,
    revoke_licence,
    suspend_licence,
)
from licence_registry.catalogue import LicenceType, region_catalogue
from licence_registry.queries import MAX_PAGE, department_licence, department_licences
from verifier.errors import InputError
from verifier.identifiers import HolderIdType

router = APIRouter(prefix="/department", include_in_schema=False)
Identifier = Annotated[str, Path(min_length=1, max_length=128)]
BASE = "/department/licences"
PAGE_SIZE = 20
CHANGES = {"suspend": suspend_licence, "reinstate": reinstate_licence, "revoke": revoke_licence}


def web_staff(user: Annotated[Principal, Depends(signed_in_user)]) -> Actor:
    """The API's department-staff check, for a signed-in browser."""
    return require_department_staff(user)


Staff = Annotated[Actor, Depends(web_staff)]


def _types(actor: Actor) -> list[LicenceType]:
    return [k for k in region_catalogue(actor.region) if k.department == actor.department]


@router.get("")
def licences(
    request: Request,
    actor: Staff,
    session: DbSession,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    department = find_department(session, actor.region, actor.department)
    page = department_licences(
        session, department, status=status or None, search=q or None, offset=offset, limit=PAGE_SIZE
    )
    return render(
        request,
        "department_list.html",
        page=page,
        licences=[licence_view(session, x, BASE) for x in page.licences],
        q=q or "",
        status=status or "",
        statuses=[s.value for s in LicenceStatus],
        page_size=min(PAGE_SIZE, MAX_PAGE),
    )


@router.get("/issue")
def issue_form(request: Request, actor: Staff) -> Response:
    return render(
        request,
        "department_issue.html",
        types=_types(actor),
        id_types=list(HolderIdType),
        request_key=secrets.token_urlsafe(16),
    )


@router.post("/issue", dependencies=[Depends(check_csrf)])
def issue(
    actor: Staff,
    runtime: RuntimeDep,
    licence_type: Annotated[str, Form(max_length=64)],
    holder_name: Annotated[str, Form(max_length=200)],
    holder_id: Annotated[str, Form(max_length=64)],
    holder_id_type: Annotated[str, Form(max_length=8)] = "",
    request_key: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    """Issue and seal; the form's own key makes a double submission one licence. Without
    an ID type the licence type's own one is taken (the registry knows it)."""
    id_type = _id_type(holder_id_type)
    office = LicenceOffice.for_pdf(runtime)
    licence = office.issue(
        IssueRequest(actor.region, actor.department, licence_type, holder_name, holder_id, id_type),
        actor=actor,
        idempotency_key=request_key,
    )
    return redirect(f"{BASE}/{licence.identifier}?done=issued")


def _id_type(value: str) -> HolderIdType | None:
    if not value:
        return None
    try:
        return HolderIdType(value)
    except ValueError:
        raise InputError(f"unknown holder ID type {value!r}") from None


@router.get("/licences/{identifier}")
def licence(
    request: Request,
    identifier: Identifier,
    actor: Staff,
    session: DbSession,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    found = department_licence(session, actor, identifier)
    return render(
        request,
        "department_licence.html",
        licence=licence_view(session, found, BASE),
        done=done if done in ("issued", "changed") else None,
    )


@router.get("/licences/{identifier}/pdf")
def licence_pdf(identifier: Identifier, actor: Staff, session: DbSession) -> Response:
    return pdf_response(department_licence(session, actor, identifier))


@router.post("/licences/{identifier}/{change}", dependencies=[Depends(check_csrf)])
def change_status(
    identifier: Identifier,
    change: Literal["suspend", "reinstate", "revoke"],
    actor: Staff,
    session: DbSession,
    reason: Annotated[str, Form(min_length=1, max_length=1000)],
) -> Response:
    """Suspend, reinstate or revoke a licence of the department, with the reason."""
    CHANGES[change](session, identifier, reason, actor=actor)
    return redirect(f"{BASE}/{identifier}?done=changed")
