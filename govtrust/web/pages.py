"""Rendering pages: templates with autoescaping, the words in the reader's language, the
CSRF token, and the headers every page carries (a Content-Security-Policy that allows no
inline script or style, no framing, no caching of personal pages)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pylopdf_fonts_zh_cn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from govtrust.api.auth import DEPARTMENT_ROLES, HOLDER_ROLES, Principal
from govtrust.web.i18n import language, translator
from govtrust.web.session import SignInRequired, apply_pending_cookies, csrf_token
from licence_registry.catalogue import load_catalogue

HERE = Path(__file__).parent
# Autoescaping is on for .html templates (Jinja2Templates selects it by extension).
templates = Jinja2Templates(directory=HERE / "templates")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def sections(user: Principal | None) -> dict[str, bool]:
    """Which parts of the site the user's roles open (the pages check again)."""
    roles = user.roles if user else frozenset()
    return {
        "holder": bool(roles & HOLDER_ROLES),
        "department": bool(roles & DEPARTMENT_ROLES) and bool(user and user.department),
        "auditor": "auditor" in roles,
        "operator": "operator" in roles,
    }


def type_title(lang: str) -> Callable[[str], str]:
    """A licence type's title from the catalogue, in `lang` (its name if unknown)."""
    types = load_catalogue()

    def title(name: str) -> str:
        kind = types.get(name)
        if kind is None:
            return name
        return kind.title if lang == "zh" else kind.title_en

    return title


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The template `name` with the page context every template gets."""
    lang = language(request)
    user: Principal | None = getattr(request.state, "principal", None)
    runtime = request.app.state.runtime
    context.update(
        request=request,
        lang=lang,
        t=translator(lang),
        type_title=type_title(lang),
        user=user,
        sections=sections(user),
        csrf_token=csrf_token(request, runtime),
        here=quote(str(request.url.path)),
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    """After a form post: the browser fetches `url` with GET (303)."""
    return RedirectResponse(url, status_code=303)


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/static/"))


def error_page(request: Request, status: int, detail: str | None) -> Response:
    """An error as a page (for browsers); the API answers problem documents instead."""
    t = translator(language(request))
    if status == 403:
        message = t("forbidden")
    elif status == 404:
        message = t("not_found")
    else:
        message = HTTPStatus(status).phrase
    return render(request, "error.html", status, status=status, message=message, detail=detail)


# A page's form is small; only the verification page takes a file (plus the form around it).
FORM_BYTES = 64 * 1024
UPLOAD_PATHS = frozenset({"/verify"})


def _refused_body(request: Request) -> Response | None:
    """A form post whose declared size is missing or too large is refused before it is read
    (a browser always declares it)."""
    if request.method != "POST":
        return None
    limit = FORM_BYTES
    if request.url.path in UPLOAD_PATHS:
        limit += request.app.state.runtime.settings.web_upload_bytes
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        return error_page(request, 411, "the form's size must be declared")
    if int(declared) > limit:
        return error_page(request, 413, f"at most {limit // (1024 * 1024) or 1} MB")
    return None


def install_pages(app: FastAPI) -> None:
    """Static files, the sign-in redirect, and the headers and cookies of every page."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/fonts/sans-sc.otf", include_in_schema=False)
    def chinese_font() -> Response:
        # Only a browser with no Chinese font of its own fetches it (web.css names the
        # usual system fonts first): the OFL Noto Sans SC the PDFs are set in, 8 MB.
        return FileResponse(
            pylopdf_fonts_zh_cn.sans_path(),
            media_type="font/otf",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, _exc: SignInRequired) -> Response:
        return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)

    @app.middleware("http")
    async def page_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        refused = _refused_body(request) if is_page(request) else None
        response = refused or await call_next(request)
        if is_page(request):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")
            apply_pending_cookies(request, response)
        return response
