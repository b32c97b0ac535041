"""Web pages for citizens, agencies, departments, auditors and operators, served by the
same app as the API: server-rendered HTML, Chinese first with an English switch, no inline
script. Every page authorises with the API's own checks (govtrust.api.auth).

Public API: install_web(app), error_page, is_page.
"""

from __future__ import annotations

from fastapi import FastAPI

from govtrust.web import audit, department, holder, operator, signin, verification
from govtrust.web.pages import error_page, install_pages, is_page

__all__ = ["error_page", "install_web", "is_page"]


def install_web(app: FastAPI) -> None:
    install_pages(app)
    routers = (
        signin.router,
        holder.router,
        verification.router,
        department.router,
        audit.router,
        operator.router,
    )
    for router in routers:
        app.include_router(router)
