"""Home, sign-in through any region's identity provider, sign-out, and the language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from govtrust.api.auth import DEPARTMENT_ROLES, HOLDER_ROLES, Principal, principal_from_token
from govtrust.web.i18n import LANGUAGE_COOKIE, LANGUAGES
from govtrust.web.pages import redirect, render
from govtrust.web.session import (
    REFRESH_COOKIE,
    RuntimeDep,
    check_csrf,
    current_user,
    forget_sign_in,
    remember_sign_in,
    request_tokens,
    set_cookie,
)
from identity.errors import SignInThrottled
from identity.signin import sign_out
from verifier.errors import InputError

router = APIRouter(include_in_schema=False)
CurrentUser = Annotated[Principal | None, Depends(current_user)]
Next = Annotated[str, Query(max_length=200)]


def safe_next(target: str) -> str:
    """Only a path on this site: never an open redirect to another one."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _regions(runtime: RuntimeDep) -> list[tuple[str, str]]:
    return [(r.code, r.name) for r in runtime.trust_list().regions]


@router.get("/")
def home(request: Request, _user: CurrentUser) -> Response:
    return render(request, "home.html")


@router.get("/signin")
def sign_in_form(
    request: Request, runtime: RuntimeDep, _user: CurrentUser, next: Next = "/"
) -> Response:
    return render(
        request, "signin.html", regions=_regions(runtime), next=safe_next(next), error=None
    )


@router.post("/signin", dependencies=[Depends(check_csrf)])
def sign_in(
    request: Request,
    runtime: RuntimeDep,
    region: Annotated[str, Form(max_length=32)],
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=200)] = "/",
) -> Response:
    """The password grant of the chosen region's identity provider, as the API's."""
    error = None
    try:
        tokens = request_tokens(runtime, region, "password", username=username, password=password)
    except SignInThrottled:
        error, status = "sign_in_throttled", 429
    except InputError:
        error, status = "sign_in_failed", 401
    if error is not None:
        return render(
            request,
            "signin.html",
            status,
            regions=_regions(runtime),
            next=safe_next(next),
            error=error,
            region=region,
        )
    remember_sign_in(request, region, tokens)
    return redirect(safe_next(next) if next != "/" else _landing(tokens.access_token, runtime))


def _landing(access_token: str, runtime: RuntimeDep) -> str:
    """Where a user lands after signing in: the part of the site their roles open."""
    roles = principal_from_token(access_token, runtime).roles
    if roles & HOLDER_ROLES:
        return "/me"
    if roles & DEPARTMENT_ROLES:
        return "/department"
    if "auditor" in roles:
        return "/audit"
    if "operator" in roles:
        return "/operator"
    return "/"


@router.post("/signout", dependencies=[Depends(check_csrf)])
def sign_out_page(request: Request, runtime: RuntimeDep) -> Response:
    """Ends the sign-in at its provider too: the refresh token's family stops working."""
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        with runtime.database.transaction() as session:
            sign_out(session, refresh)
    forget_sign_in(request)
    return redirect("/")


@router.get("/lang/{lang}")
def choose_language(request: Request, lang: str, next: Next = "/") -> Response:
    response = redirect(safe_next(next))
    if lang in LANGUAGES:
        set_cookie(response, request, LANGUAGE_COOKIE, lang, 365 * 86400, "lax")
    return response
