"""The web pages in a real browser: Playwright driving Debian's Chromium against a real
`govtrust serve`. A citizen signs in and downloads a PDF that `govtrust verify` accepts,
a clerk issues and revokes, the public page then shows the licence revoked; a holder
cannot open another's licence by editing the URL; a form without its CSRF token is
refused. Each page is saved as a screenshot in var/screenshots/ (not committed)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
import zxingcpp
from PIL import Image

from tests.conftest import Federation, private_federation, run_cli, run_govtrust
from tests.server import live_server
from tests.tools import require_tool
from tests.web.web_support import Account, legal_person, staff
from verifier.pdf import verify_pdf
from verifier.report import Verdict
from verifier.timeutil import utc_now

playwright_api = pytest.importorskip("playwright.sync_api")

T = TypeVar("T")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# Chromium as root in a container: no sandbox, no GPU, no /dev/shm dependence.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return private_federation(tmp_path_factory.mktemp("federation-web"))


@pytest.fixture(scope="module")
def base_url(own: Federation) -> Iterator[str]:
    # The verification page re-exports the bundle for every upload: a revocation shows at once.
    with live_server(own, extra_env={"GOVTRUST_WEB_BUNDLE_SECONDS": "0"}) as url:
        yield url


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    executable = require_tool("chromium")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium: object, base_url: str) -> Iterator[object]:
    """Each call: a page in a browser context of its own (its own cookies)."""
    contexts = []

    def make() -> object:
        context = chromium.new_context(  # type: ignore[attr-defined]
            base_url=base_url,
            accept_downloads=True,
            locale="zh-CN",
            viewport={"width": 1100, "height": 800},
        )
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def off_loop(function: Callable[..., T], *args: object) -> T:
    """Run `function` in a thread of its own: Playwright's sync API keeps an event loop
    running in this one, and pyHanko (sealing, validating) starts its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def issue(federation: Federation, holder_name: str, holder_id: str | None) -> str:
    identifier, _ = off_loop(federation.issue, holder_name, holder_id)
    return identifier


def shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.fonts.ready")  # type: ignore[attr-defined]
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def sign_in(page: object, account: Account, expected_path: str) -> None:
    page.goto("/signin")  # type: ignore[attr-defined]
    page.select_option("#region", account.region)  # type: ignore[attr-defined]
    page.fill("#username", account.username)  # type: ignore[attr-defined]
    page.fill("#password", account.password)  # type: ignore[attr-defined]
    page.click("#submit")  # type: ignore[attr-defined]
    page.wait_for_url(f"**{expected_path}")  # type: ignore[attr-defined]


def test_citizen_downloads_a_licence_a_clerk_revokes_it_and_the_public_page_says_so(
    own: Federation, new_page: object, tmp_path: Path
) -> None:
    holder = legal_person(own)
    identifier = issue(own, "浏览器测试有限公司", holder.holder_id)

    # The holder signs in at another region's identity provider and finds the licence.
    page = new_page()  # type: ignore[operator]
    page.goto("/")
    shot(page, "home")
    page.goto("/signin")
    shot(page, "signin")
    sign_in(page, holder, "/me")
    assert page.locator(f"text={identifier}").count() == 1
    shot(page, "holder-licences")
    page.click("text=详情")
    page.wait_for_selector("#qr")
    shot(page, "holder-licence")

    # The code on the screen scans: it is the licence's credential.
    qr_png = tmp_path / "qr.png"
    page.locator("#qr").screenshot(path=str(qr_png))
    (scanned,) = zxingcpp.read_barcodes(Image.open(qr_png))
    assert scanned.text.count(".") == 2  # a compact JWS

    with page.expect_download() as download_info:
        page.click("#download")
    pdf = tmp_path / "licence.pdf"
    download_info.value.save_as(pdf)

    # An agency accepts the download offline, with the bundle of the day.
    bundle = tmp_path / "bundle.json"
    assert run_cli(own, "bundle", "export", "--out", str(bundle)).returncode == 0
    agency = tmp_path / "agency"
    agency.mkdir()
    verified = run_govtrust(
        agency,
        {"GOVTRUST_HOME": str(agency)},
        "verify",
        str(pdf),
        "--bundle",
        str(bundle),
        "--root-fingerprint",
        own.root_fingerprint,
        "--json",
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["licence_status"]["status"] == "valid"

    # The public page agrees before the revocation...
    public = new_page()  # type: ignore[operator]
    public.goto("/verify")
    public.set_input_files("#file", str(pdf))
    public.click("#check")
    public.wait_for_selector("#verdict")
    assert public.inner_text("#verdict") == "有效"
    shot(public, "verify-valid")

    # A clerk of the issuing department finds it and revokes it with a reason.
    clerk = new_page()  # type: ignore[operator]
    sign_in(clerk, staff(own, "clerk"), "/department")
    clerk.fill("#q", identifier)
    clerk.click("text=搜索")
    clerk.click(f"text={identifier}")
    clerk.wait_for_selector("#revoke-form")
    shot(clerk, "department-licence")
    clerk.fill("#revoke-reason", "以欺骗手段取得登记")
    clerk.click("#revoke")
    clerk.wait_for_selector("#done")
    assert "已吊销" in clerk.inner_text("#status")
    shot(clerk, "department-revoked")

    # ...and after it, for the PDF and for a photo of the code alike.
    for upload in (pdf, qr_png):
        public.goto("/verify")
        public.set_input_files("#file", str(upload))
        public.click("#check")
        public.wait_for_selector("#verdict")
        assert public.inner_text("#verdict") == "无效", upload
        assert "revoked" in public.inner_text("#reason"), upload
    shot(public, "verify-revoked")

    # The holder's own page shows it too.
    page.reload()
    assert "已吊销" in page.inner_text("#status")


def test_a_clerk_issues_from_the_form_and_sees_it_sealed(
    own: Federation, new_page: object, tmp_path: Path
) -> None:
    clerk = new_page()  # type: ignore[operator]
    sign_in(clerk, staff(own, "signer"), "/department")
    shot(clerk, "department-list")
    clerk.click("#issue")
    clerk.select_option("#licence_type", "food-permit")
    clerk.fill("#holder_name", "表单签发餐饮有限公司")
    clerk.fill("#holder_id", legal_person(own).holder_id or "")
    shot(clerk, "department-issue")
    clerk.click("#submit")
    clerk.wait_for_load_state()
    assert clerk.locator("#done").count() == 1, clerk.inner_text("main")
    assert "食品经营许可证" in clerk.inner_text("main")
    assert "有效" in clerk.inner_text("#status")
    with clerk.expect_download() as download_info:
        clerk.click("#download")
    pdf = tmp_path / "issued.pdf"
    download_info.value.save_as(pdf)
    bundle = own.bundle()
    report = off_loop(
        lambda: verify_pdf(pdf.read_bytes(), bundle.trust_list, at=utc_now(), crls=bundle.crls)
    )
    assert report.verdict is Verdict.VALID, report.reason


def test_a_holder_cannot_open_another_holders_licence_by_editing_the_url(
    own: Federation, new_page: object
) -> None:
    mine, theirs = legal_person(own), legal_person(own)
    issue(own, "甲浏览器公司", mine.holder_id)
    other = issue(own, "乙浏览器公司", theirs.holder_id)
    page = new_page()  # type: ignore[operator]
    sign_in(page, mine, "/me")
    for path in (f"/me/licences/{other}", f"/me/licences/{other}/pdf"):
        response = page.goto(path)
        assert response.status == 404, path
        assert other not in page.inner_text("body")
    shot(page, "not-found")


def test_a_form_posted_without_its_csrf_token_is_refused(own: Federation, new_page: object) -> None:
    identifier = issue(own, "防伪浏览器公司", legal_person(own).holder_id)
    clerk = new_page()  # type: ignore[operator]
    sign_in(clerk, staff(own, "clerk"), "/department")
    clerk.goto(f"/department/licences/{identifier}")
    # The page's own script cannot do this (the CSP allows none); the test's can.
    clerk.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    clerk.fill("#suspend-reason", "没有令牌的请求")
    with clerk.expect_navigation() as navigation:
        clerk.click("#suspend")
    assert navigation.value.status == 403
    shot(clerk, "csrf-refused")
    clerk.goto(f"/department/licences/{identifier}")
    assert "有效" in clerk.inner_text("#status")  # nothing changed


def test_the_english_switch(new_page: object) -> None:
    page = new_page()  # type: ignore[operator]
    page.goto("/verify")
    page.click("text=English")
    page.wait_for_selector("text=Verify a licence")
    assert page.locator("html").get_attribute("lang") == "en"
    shot(page, "verify-en")


def test_the_auditor_and_operator_pages(own: Federation, new_page: object) -> None:
    auditor = new_page()  # type: ignore[operator]
    sign_in(auditor, staff(own, "auditor", department=None), "/audit")
    shot(auditor, "audit-logs")
    auditor.click("text=330000")
    auditor.wait_for_selector("table")
    shot(auditor, "audit-entries")
    auditor.locator("table a").first.click()
    auditor.wait_for_load_state()
    shot(auditor, "audit-entry")
    auditor.goto("/audit")
    auditor.click("#run-audit")
    auditor.wait_for_load_state()
    assert auditor.url.endswith("/audit/check")
    shot(auditor, "audit-check")
    operator = new_page()  # type: ignore[operator]
    sign_in(operator, staff(own, "operator", department=None), "/operator")
    shot(operator, "operator")
    assert "330000" in operator.inner_text("main")
