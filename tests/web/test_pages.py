"""The web pages over HTTP (no browser): sign-in, authorization as in the API, CSRF on every
form, upload limits, cookies and headers. tests/web/test_browser.py drives the same pages
in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from govtrust.app import create_app
from tests.conftest import Federation
from tests.web.web_support import (
    browser,
    citizen,
    csrf,
    csrf_of,
    legal_person,
    post_sign_in,
    sign_in,
    staff,
)
from verifier.pdf import verify_pdf
from verifier.report import Verdict
from verifier.timeutil import utc_now


@pytest.fixture(scope="module")
def app(federation: Federation):
    return create_app(federation.settings)


@pytest.fixture
def anonymous(app: object) -> Iterator[TestClient]:
    with browser(app) as client:
        yield client


def test_pages_carry_a_strict_content_security_policy(anonymous: TestClient) -> None:
    for page in ("/", "/signin", "/verify"):
        response = anonymous.get(page)
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text and " style=" not in response.text


def test_signing_in_sets_http_only_cookies_and_lands_on_the_holders_page(
    app: object, federation: Federation
) -> None:
    account = legal_person(federation)
    client = browser(app)
    response = post_sign_in(client, account)
    assert (response.status_code, response.headers["location"]) == (303, "/me")
    cookies = response.headers.get_list("set-cookie")
    session = [c for c in cookies if c.startswith(("gt_access=", "gt_refresh="))]
    assert len(session) == 2
    assert all("HttpOnly" in c and "SameSite=lax" in c for c in session), session
    fresh = browser(app).get("/signin")
    csrf_cookie = next(c for c in fresh.headers.get_list("set-cookie") if c.startswith("gt_csrf="))
    assert "HttpOnly" in csrf_cookie and "SameSite=strict" in csrf_cookie
    assert client.get("/me").status_code == 200


def test_a_wrong_password_signs_nobody_in(app: object, federation: Federation) -> None:
    account = legal_person(federation)
    response = post_sign_in(browser(app), account, password=account.password + "x")
    assert response.status_code == 401
    assert "账号或密码不正确" in response.text
    assert not any(c.startswith("gt_access=") for c in response.headers.get_list("set-cookie"))


def test_sign_in_never_redirects_to_another_site(app: object, federation: Federation) -> None:
    account = legal_person(federation)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = post_sign_in(browser(app), account, next=target)
        assert response.headers["location"] == "/", target


def test_a_page_for_signed_in_users_sends_others_to_sign_in(anonymous: TestClient) -> None:
    for page in ("/me", "/department", "/department/issue"):
        response = anonymous.get(page)
        assert response.status_code == 303
        assert response.headers["location"] == f"/signin?next={page}"


def test_each_part_of_the_site_checks_the_apis_roles(app: object, federation: Federation) -> None:
    holder = sign_in(app, legal_person(federation))
    clerk = sign_in(app, staff(federation, "clerk"))
    auditor = sign_in(app, staff(federation, "auditor", department=None))
    for client, page in ((holder, "/department"), (clerk, "/me"), (auditor, "/department")):
        response = client.get(page)
        assert response.status_code == 403, page
        assert response.headers["content-type"].startswith("text/html")
        assert "无权访问此页面" in response.text


def test_a_holder_sees_only_their_own_licences(app: object, federation: Federation) -> None:
    mine, theirs = legal_person(federation), legal_person(federation)
    identifier, pdf = federation.issue("网页甲公司", mine.holder_id)
    other, _ = federation.issue("网页乙公司", theirs.holder_id)
    client = sign_in(app, mine)
    listing = client.get("/me").text
    assert identifier in listing and other not in listing
    assert client.get(f"/me/licences/{identifier}").status_code == 200
    download = client.get(f"/me/licences/{identifier}/pdf")
    assert download.content == pdf
    assert download.headers["cache-control"] == "private, no-store"
    qr = client.get(f"/me/licences/{identifier}/qr.svg")
    assert qr.headers["content-type"] == "image/svg+xml"
    # Editing the URL to another holder's licence finds nothing (as the API: 404, not 403).
    for page in (
        f"/me/licences/{other}",
        f"/me/licences/{other}/pdf",
        f"/me/licences/{other}/qr.svg",
    ):
        response = client.get(page)
        assert response.status_code == 404, page
        assert b"%PDF" not in response.content


def test_a_citizen_signed_in_at_another_region_finds_their_licence(
    app: object, federation: Federation
) -> None:
    """Issued in 330000, signed in at 440000's identity provider: the same pseudonym."""
    person = citizen(federation, "440000")
    identifier, _ = federation.issue(
        "张三", person.holder_id, department="psb", licence_type="no-criminal-record"
    )
    client = sign_in(app, person)
    assert identifier in client.get("/me").text
    page = client.get(f"/me/licences/{identifier}").text
    assert "无犯罪记录" in page and 'id="qr"' in page


def test_every_form_refuses_a_post_without_its_token(app: object, federation: Federation) -> None:
    clerk_account = staff(federation, "clerk")
    identifier, _ = federation.issue("网页丙公司", legal_person(federation).holder_id)
    clerk = sign_in(app, clerk_account)
    posts = {
        f"/department/licences/{identifier}/revoke": {"reason": "伪造的请求"},
        "/department/issue": {
            "licence_type": "business-licence",
            "holder_name": "伪造公司",
            "holder_id": legal_person(federation).holder_id,
        },
        "/signout": {},
        "/signin": {"region": "330000", "username": "x", "password": "y"},
    }
    for path, form in posts.items():
        for token in (None, "forged", csrf(browser(app))):  # none, made up, another browser's
            data = dict(form) if token is None else {**form, "csrf_token": token}
            response = clerk.post(path, data=data)
            assert response.status_code == 403, (path, token, response.text)
    page = clerk.get(f"/department/licences/{identifier}").text
    assert "status-active" in page  # nothing changed


def test_a_clerk_issues_and_revokes_from_the_forms(app: object, federation: Federation) -> None:
    holder = legal_person(federation)
    clerk = sign_in(app, staff(federation, "clerk"))
    form = clerk.get("/department/issue")
    assert "营业执照" in form.text
    key = re.search(r'name="request_key" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    fields = {
        "csrf_token": csrf_of(form.text),
        "request_key": key,
        "licence_type": "business-licence",
        "holder_name": "网页签发公司",
        "holder_id_type": "001",
        "holder_id": holder.holder_id,
    }
    issued = clerk.post("/department/issue", data=fields)
    assert issued.status_code == 303, issued.text
    again = clerk.post("/department/issue", data=fields)  # a double submission
    assert again.headers["location"] == issued.headers["location"]
    page = issued.headers["location"]
    identifier = page.rsplit("/", 1)[1].split("?")[0]
    pdf = clerk.get(f"/department/licences/{identifier}/pdf").content
    bundle = federation.bundle()
    report = verify_pdf(pdf, bundle.trust_list, at=utc_now(), crls=bundle.crls)
    assert report.verdict is Verdict.VALID, report.reason
    listing = clerk.get("/department", params={"q": identifier}).text
    assert identifier in listing
    revoked = clerk.post(
        f"/department/licences/{identifier}/revoke",
        data={"csrf_token": csrf(clerk), "reason": "以欺骗手段取得"},
    )
    assert revoked.status_code == 303
    detail = clerk.get(revoked.headers["location"]).text
    assert "status-revoked" in detail and "以欺骗手段取得" in detail
    # Revocation is final: the form to change it again is gone, a forged post conflicts.
    assert 'id="reinstate"' not in detail
    conflict = clerk.post(
        f"/department/licences/{identifier}/reinstate",
        data={"csrf_token": csrf(clerk), "reason": "再试"},
    )
    assert conflict.status_code == 409


def test_a_clerk_cannot_touch_another_departments_licence(
    app: object, federation: Federation
) -> None:
    identifier, _ = federation.issue("网页丁公司", legal_person(federation).holder_id)
    other = sign_in(app, staff(federation, "clerk", region="440000"))
    assert other.get(f"/department/licences/{identifier}").status_code == 404
    response = other.post(
        f"/department/licences/{identifier}/revoke",
        data={"csrf_token": csrf(other), "reason": "越权"},
    )
    assert response.status_code == 403


def test_public_verification_judges_an_upload_and_refuses_what_is_not_a_licence(
    anonymous: TestClient, issued_licence: tuple[str, bytes]
) -> None:
    token = csrf(anonymous, "/verify")
    _, pdf = issued_licence
    response = anonymous.post(
        "/verify",
        data={"csrf_token": token},
        files={"file": ("licence.pdf", pdf, "application/pdf")},
    )
    assert response.status_code == 200, response.text
    assert 'id="verdict">有效' in response.text
    refused = anonymous.post(
        "/verify",
        data={"csrf_token": token},
        files={"file": ("notes.txt", b"hello", "text/plain")},
    )
    assert refused.status_code == 400
    assert "not a PDF, a PNG or a JPEG" in refused.text


def test_an_upload_over_the_limit_is_refused_before_it_is_read(
    anonymous: TestClient, federation: Federation
) -> None:
    token = csrf(anonymous, "/verify")
    limit = federation.settings.web_upload_bytes
    response = anonymous.post(
        "/verify",
        data={"csrf_token": token},
        files={"file": ("big.pdf", b"%PDF-" + bytes(limit + 100_000), "application/pdf")},
    )
    assert response.status_code == 413


def test_an_expired_access_cookie_is_renewed_with_the_refresh_token(
    app: object, federation: Federation
) -> None:
    client = sign_in(app, legal_person(federation))
    client.cookies.set("gt_access", "expired.or.forged")
    response = client.get("/me")
    assert response.status_code == 200
    renewed = [c for c in response.headers.get_list("set-cookie") if c.startswith("gt_access=")]
    assert renewed and "expired.or.forged" not in renewed[0]


def test_signing_out_ends_the_sign_in_at_the_provider(app: object, federation: Federation) -> None:
    client = sign_in(app, legal_person(federation))
    refresh = client.cookies.get("gt_refresh")
    response = client.post("/signout", data={"csrf_token": csrf(client)})
    assert response.status_code == 303
    assert client.get("/me").status_code == 303  # signed out here
    # ...and the refresh token no longer works anywhere, even if it was copied.
    again = browser(app)
    again.cookies.set("gt_refresh", refresh or "")
    again.cookies.set("gt_region", "440000")
    assert again.get("/me").status_code == 303


def test_english_is_one_click_away(anonymous: TestClient) -> None:
    switched = anonymous.get("/lang/en", params={"next": "/verify"})
    assert switched.status_code == 303 and switched.headers["location"] == "/verify"
    page = anonymous.get("/verify").text
    assert "Verify a licence" in page and 'lang="en"' in page
