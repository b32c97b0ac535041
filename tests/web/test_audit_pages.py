"""The auditor's and the operator's pages over HTTP: the logs with verified checkpoints, an
entry's inclusion proof, the consistency check (clean on an honest federation, naming the
entry on a tampered one), the trust-list versions and service histories, and the API's
role checks and the CSRF check on every one of them."""

from __future__ import annotations

import base64
import html
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import update

from govtrust.api.federation import federation_regions, federation_versions
from govtrust.app import create_app
from licence_registry.changes import revoke_licence
from licence_registry.log_models import LogLeaf
from licence_registry.transparency import (
    checkpoint_if_due,
    entries,
    find_licence_leaves,
    latest_checkpoint,
)
from tests.conftest import Federation, private_federation
from tests.web.web_support import browser, csrf, legal_person, sign_in, staff
from verifier.audit import log_regions
from verifier.checkpoint import Checkpoint, verify_checkpoint
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.timeutil import utc_now

REGION = "330000"
TIME = "%Y-%m-%d %H:%M:%S UTC"


@pytest.fixture(scope="module")
def app(federation: Federation) -> FastAPI:
    return create_app(federation.settings)


@pytest.fixture(scope="module")
def auditor(app: object, federation: Federation) -> TestClient:
    return sign_in(app, staff(federation, "auditor", department=None))


def checkpoint_all(federation: Federation) -> list[str]:
    """Sign every log's checkpoint now (no checkpointer runs in a test app); the regions."""
    runtime = federation.runtime
    regions = log_regions(runtime.trust_list(), utc_now())
    for region in regions:
        signer = runtime.log_signer(region)
        checkpoint_if_due(runtime.database.transaction, signer, region, min_interval=timedelta(0))
    return regions


def checkpoint_of(federation: Federation, region: str = REGION) -> Checkpoint:
    with federation.runtime.database.transaction() as session:
        latest = latest_checkpoint(session, region)
    assert latest is not None
    return verify_checkpoint(latest.note, federation.trust_list(), region=region, at=utc_now())


def press_check(client: TestClient) -> tuple[int, str]:
    response = client.post("/audit/check", data={"csrf_token": csrf(client, "/audit")})
    return response.status_code, response.text


def region_section(page: str, region: str) -> str:
    match = re.search(
        rf'<section class="audit-region" id="region-{region}">(.*?)</section>', page, re.S
    )
    assert match is not None, page
    return html.unescape(match.group(1))


def test_an_auditor_sees_every_log_and_its_verified_checkpoint(
    auditor: TestClient, federation: Federation
) -> None:
    federation.issue("审计页甲公司")
    regions = checkpoint_all(federation)
    assert REGION in regions
    response = auditor.get("/audit")
    assert response.status_code == 200, response.text
    page = response.text
    for region in regions:
        checkpoint = checkpoint_of(federation, region)
        row = page.split(f'id="log-{region}"', 1)[1].split("</tr>", 1)[0]
        assert f'class="checkpoint-size">{checkpoint.tree_size}<' in row
        assert base64.b64encode(checkpoint.root_hash).decode() in row
        assert f'href="/audit/{region}"' in row
    assert 'action="/audit/check"' in page and 'name="csrf_token"' in page
    assert "运行一致性检查" in page
    assert " style=" not in page and "<script" not in page


def test_an_entry_page_shows_an_inclusion_proof_that_verifies(
    auditor: TestClient, federation: Federation
) -> None:
    identifier, _ = federation.issue("审计页乙公司")
    checkpoint_all(federation)
    with federation.runtime.database.transaction() as session:
        (index,) = find_licence_leaves(session, REGION, identifier)
    listing = auditor.get(f"/audit/{REGION}", params={"start": index - index % 50})
    assert listing.status_code == 200
    assert f'href="/audit/{REGION}/entries/{index}"' in listing.text
    assert identifier in listing.text

    page = auditor.get(f"/audit/{REGION}/entries/{index}").text
    assert 'id="proof-result">已按检查点验证' in page, page
    # The page's own leaf and proof verify here too, against the checkpoint as signed.
    leaf = html.unescape(
        re.search(r'<pre class="mono leaf" id="leaf">(.*?)</pre>', page, re.S).group(1)
    )  # type: ignore[union-attr]
    assert identifier in leaf and '"event":"issued"' in leaf
    proof_list = re.search(r'<ol class="mono proof" id="proof">(.*?)</ol>', page, re.S)
    assert proof_list is not None
    proof = [base64.b64decode(h) for h in re.findall(r"<li>([^<]+)</li>", proof_list.group(1))]
    checkpoint = checkpoint_of(federation)
    assert proof or checkpoint.tree_size == 1
    verify_inclusion(
        leaf_hash(leaf.encode()), index, checkpoint.tree_size, proof, checkpoint.root_hash
    )

    # An entry appended after the checkpoint: shown, but not claimed to be proven.
    later, _ = federation.issue("审计页丙公司")
    with federation.runtime.database.transaction() as session:
        (newest,) = find_licence_leaves(session, REGION, later)
    pending = auditor.get(f"/audit/{REGION}/entries/{newest}").text
    assert "已按检查点验证" not in pending and "尚未被最新检查点" in pending
    assert auditor.get(f"/audit/{REGION}/entries/{newest + 10_000}").status_code == 404


def test_the_check_answers_a_clean_result_on_an_honest_federation(tmp_path: Path) -> None:
    # A federation of its own: other tests append test leaves to the shared one's log,
    # which an honest audit rightly reports.
    federation = private_federation(tmp_path)
    auditor = sign_in(
        create_app(federation.settings), staff(federation, "auditor", department=None)
    )
    identifier, _ = federation.issue("审计页丁公司")
    with federation.runtime.database.transaction() as session:
        revoke_licence(session, identifier, "以欺骗手段取得")
    regions = checkpoint_all(federation)
    status, page = press_check(auditor)
    assert status == 200, page
    assert 'id="outcome">一致<' in page, page
    for region in regions:
        section = region_section(page, region)
        size = checkpoint_of(federation, region).tree_size
        assert f'class="entries-replayed">{size}<' in section, section
        assert 'class="findings disagreements"' not in section
    # Pressed again after the log grew: the new checkpoint is proven to extend the last.
    before = checkpoint_of(federation).tree_size
    federation.issue("审计页戊公司")
    checkpoint_all(federation)
    status, page = press_check(auditor)
    assert status == 200 and 'id="outcome">一致<' in page, page
    assert f"consistent with the last accepted checkpoint (size {before})" in region_section(
        page, REGION
    )


def test_a_tampered_log_row_is_named_by_the_check(tmp_path: Path) -> None:
    own = private_federation(tmp_path)
    app = create_app(own.settings)
    client = sign_in(app, staff(own, "auditor", department=None))
    identifier, _ = own.issue("审计页篡改测试公司")
    with own.runtime.database.transaction() as session:
        revoke_licence(session, identifier, "以欺骗手段取得")
    checkpoint_all(own)
    status, page = press_check(client)
    assert status == 200 and 'id="outcome">一致<' in page, page
    with own.runtime.database.transaction() as session:
        _issued, revocation = find_licence_leaves(session, REGION, identifier)
        ((_, original),) = entries(session, REGION, revocation, revocation + 1)
    # The insider's edit: the revocation now reads as a reinstatement.
    forged = original.replace(b'"event":"revoked"', b'"event":"reinstated"')
    assert forged != original
    with own.runtime.database.transaction() as session:
        changed = session.execute(
            update(LogLeaf)
            .where(LogLeaf.region_code == REGION, LogLeaf.index == revocation)
            .values(leaf=forged)
        )
        assert changed.rowcount == 1

    status, page = press_check(client)
    assert status == 200
    assert 'id="outcome">不一致<' in page, page
    section = region_section(page, REGION)
    assert 'class="findings disagreements"' in section
    assert f"entry {revocation} as served does not hash into the signed tree" in section, section
    # The entry's own page shows the forged leaf, and that its proof fails.
    entry = client.get(f"/audit/{REGION}/entries/{revocation}").text
    assert "&#34;event&#34;:&#34;reinstated&#34;" in entry
    assert "包含证明未通过验证" in entry and "已按检查点验证" not in entry


def test_clerks_holders_and_others_get_403(app: object, federation: Federation) -> None:
    holder = sign_in(app, legal_person(federation))
    clerk = sign_in(app, staff(federation, "clerk"))
    auditor = sign_in(app, staff(federation, "auditor", department=None))
    operator = sign_in(app, staff(federation, "operator", department=None))
    audit_pages = ("/audit", f"/audit/{REGION}", f"/audit/{REGION}/entries/0")
    refused = [(c, p) for c in (holder, clerk, operator) for p in audit_pages]
    refused += [(c, "/operator") for c in (holder, clerk, auditor)]
    for client, page in refused:
        response = client.get(page)
        assert response.status_code == 403, page
        assert "无权访问此页面" in response.text
    for client in (holder, clerk, operator):
        response = client.post("/audit/check", data={"csrf_token": csrf(client)})
        assert response.status_code == 403
        assert 'id="outcome"' not in response.text
    anonymous = browser(app)
    for page in ("/audit", "/operator"):
        response = anonymous.get(page)
        assert (response.status_code, response.headers["location"]) == (
            303,
            f"/signin?next={page}",
        )


def test_the_check_form_refuses_a_post_without_its_token(
    app: object, auditor: TestClient, federation: Federation
) -> None:
    state = federation.settings.var_dir / "web-audit"

    def remembered() -> dict[str, int]:
        return {p.name: p.stat().st_mtime_ns for p in state.glob("*")} if state.exists() else {}

    before = remembered()
    for token in (None, "forged", csrf(browser(app))):  # none, made up, another browser's
        data = {} if token is None else {"csrf_token": token}
        response = auditor.post("/audit/check", data=data)
        assert response.status_code == 403, (token, response.text)
        assert 'id="outcome"' not in response.text
    assert remembered() == before  # nothing ran


def test_the_operator_page_lists_versions_and_every_services_history(
    app: object, federation: Federation
) -> None:
    operator = sign_in(app, staff(federation, "operator", region="440000", department=None))
    response = operator.get("/operator")
    assert response.status_code == 200, response.text
    page = response.text
    with federation.runtime.database.transaction() as session:
        versions, regions = federation_versions(session), federation_regions(session)
    assert versions and regions
    for version in versions:
        row = page.split(f'id="version-{version.sequence}"', 1)[1].split("</tr>", 1)[0]
        assert version.issued_at.strftime(TIME) in row
        assert version.next_update.strftime(TIME) in row
    for region in regions:  # every region, not only the operator's own
        assert f'id="region-{region.code}"' in page
        for service in region.services:
            row = page.split(f'id="service-{service.id}"', 1)[1].split("</tr>", 1)[0]
            assert f">{service.type.value}<" in row
            assert service.certificate_sha256 in row
            assert str(escape(service.certificate_subject)) in row
            assert row.count("<li>") == len(service.history) > 0
            for change in service.history:
                assert change.since.strftime(TIME) in row
    assert "service-granted" in page
    assert "<form" not in page.split("<main>", 1)[1]  # read only
