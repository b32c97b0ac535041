"""A citizen's or legal person's own licences: list, details with the QR code, the sealed
PDF. The registry finds them by the federation pseudonym of the sign-in, whatever region
it was made at; another holder's licence reads as not found, as in the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from govtrust.api.auth import Holder, Principal, require_holder
from govtrust.api.deps import DbSession
from govtrust.api.licence_models import licence_view
from govtrust.api.licences import pdf_response
from govtrust.web.pages import render
from govtrust.web.session import signed_in_user
from licence_registry import LicenceNotFound
from licence_registry.queries import holder_licence, holder_licences
from seal_service.qr import encode_qr

router = APIRouter(prefix="/me", include_in_schema=False)
Identifier = Annotated[str, Path(min_length=1, max_length=128)]
BASE = "/me/licences"


def web_holder(user: Annotated[Principal, Depends(signed_in_user)]) -> Holder:
    """The API's holder check, for a signed-in browser."""
    return require_holder(user)


SignedInHolder = Annotated[Holder, Depends(web_holder)]


@router.get("")
def my_licences(request: Request, holder: SignedInHolder, session: DbSession) -> Response:
    licences = [licence_view(session, x, BASE) for x in holder_licences(session, holder.subject)]
    return render(request, "holder_list.html", licences=licences)


@router.get("/licences/{identifier}")
def my_licence(
    request: Request, identifier: Identifier, holder: SignedInHolder, session: DbSession
) -> Response:
    licence = holder_licence(session, holder.subject, identifier)
    return render(
        request,
        "holder_licence.html",
        licence=licence_view(session, licence, BASE),
        has_qr=licence.credential is not None,
    )


@router.get("/licences/{identifier}/pdf")
def my_licence_pdf(identifier: Identifier, holder: SignedInHolder, session: DbSession) -> Response:
    return pdf_response(holder_licence(session, holder.subject, identifier))


@router.get("/licences/{identifier}/qr.svg")
def my_licence_qr(identifier: Identifier, holder: SignedInHolder, session: DbSession) -> Response:
    """The licence's QR credential as a code to show on a phone's screen."""
    licence = holder_licence(session, holder.subject, identifier)
    if licence.credential is None:
        raise LicenceNotFound(f"licence {identifier} was issued without a QR credential")
    return Response(
        encode_qr(licence.credential).to_svg(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, no-store"},
    )
