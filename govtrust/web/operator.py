"""The federation operator's page, read only: the published trust-list versions, and every
region's services with their status history, as the API's operator routes list them
(an operator of any region sees the whole federation there too)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from govtrust.api.auth import Operator, Principal, require_operator
from govtrust.api.deps import DbSession
from govtrust.api.federation import federation_regions, federation_versions
from govtrust.web.pages import render
from govtrust.web.session import signed_in_user


def web_operator(user: Annotated[Principal, Depends(signed_in_user)]) -> Operator:
    """The API's operator check, for a signed-in browser."""
    return require_operator(user)


router = APIRouter(
    prefix="/operator", include_in_schema=False, dependencies=[Depends(web_operator)]
)


@router.get("")
def trust_list(request: Request, session: DbSession) -> Response:
    return render(
        request,
        "operator.html",
        versions=federation_versions(session),
        regions=federation_regions(session),
    )
