"""The licence API: departments issue and change, holders read only their own, agencies
look up a status. Every answer is checked with the verifier's own code."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from govtrust.app import create_app
from identity.accounts import create_legal_person
from licence_registry.models import Licence, LicenceEvent
from tests.api_support import assert_problem, bearer
from tests.conftest import Federation
from verifier.credential import verify_credential
from verifier.identifiers import USCC_ALPHABET, HolderIdType, iso7064_mod11_2_check, make_uscc
from verifier.status_list import LicenceStatus, verify_status_list
from verifier.timeutil import utc_now

REGION = "330000"
ISSUE_URL = f"/api/v1/departments/{REGION}/amr/licences"


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        yield client


def new_uscc() -> str:
    return make_uscc(
        "9", "1", "330100", "".join(secrets.choice(USCC_ALPHABET[:10]) for _ in range(8))
    )


def clerk(federation: Federation, region: str = REGION, department: str = "amr") -> dict:
    return bearer(federation.staff_token(region, "clerk", department))


def issue(client: TestClient, federation: Federation, holder_id: str, **headers: str) -> dict:
    response = client.post(
        ISSUE_URL,
        json={"licence_type": "business-licence", "holder_name": "甲公司", "holder_id": holder_id},
        headers={**clerk(federation), **headers},
    )
    assert response.status_code == 201, response.text
    return response.json()


def credential_status(federation: Federation, client: TestClient, credential: str) -> LicenceStatus:
    """What an agency learns offline: the credential, then the region's status list."""
    trust_list = federation.trust_list()
    claims = verify_credential(credential, trust_list, at=utc_now()).claims
    token = client.get(f"/api/v1/status-lists/{claims.region}").text
    return verify_status_list(token, trust_list, at=utc_now()).status(claims.status_index)


def test_an_idempotency_key_is_the_departments_own(
    client: TestClient, federation: Federation
) -> None:
    """Found by the crash-safety work: keys were global, so another department's key
    answered with the first department's licence (its holder data) and issued nothing."""
    key = f"order-{secrets.token_hex(6)}"
    zhejiang = issue(client, federation, new_uscc(), **{"Idempotency-Key": key})
    guangdong_holder = make_uscc("9", "1", "440100", "MA2B3C4D")
    response = client.post(
        "/api/v1/departments/440000/amr/licences",
        json={
            "licence_type": "business-licence",
            "holder_name": "广东另一公司",
            "holder_id": guangdong_holder,
        },
        headers={**clerk(federation, region="440000"), "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    guangdong = response.json()
    assert guangdong["identifier"] != zhejiang["identifier"]
    assert (guangdong["region"], guangdong["holder_name"]) == ("440000", "广东另一公司")


def test_an_idempotency_key_reused_for_another_request_is_a_conflict(
    client: TestClient, federation: Federation
) -> None:
    key = f"order-{secrets.token_hex(6)}"
    first = issue(client, federation, new_uscc(), **{"Idempotency-Key": key})
    other = client.post(
        ISSUE_URL,
        json={"licence_type": "business-licence", "holder_name": "乙公司", "holder_id": new_uscc()},
        headers={**clerk(federation), "Idempotency-Key": key},
    )
    assert_problem(other, 409)
    assert "already used" in other.json()["detail"]
    assert first["holder_name"] not in other.text  # the first answer is not handed out


def test_issue_is_idempotent_and_the_holder_downloads_from_another_region(
    client: TestClient, federation: Federation
) -> None:
    holder_id = new_uscc()
    key = f"test-{secrets.token_hex(8)}"
    first = issue(client, federation, holder_id, **{"Idempotency-Key": key})
    again = issue(client, federation, holder_id, **{"Idempotency-Key": key})
    assert again["identifier"] == first["identifier"]
    assert first["status"] == "active"

    # The holder signs in for real at the other region's identity provider.
    password = "Holder-Pass-42"
    with federation.runtime.database.transaction() as session:
        create_legal_person(
            session, federation.runtime.data_protector, "440000", holder_id, "甲公司", password
        )
    token = client.post(
        "/api/v1/identity/440000/token",
        data={"grant_type": "password", "username": holder_id, "password": password},
    ).json()["access_token"]
    mine = client.get("/api/v1/me/licences", headers=bearer(token))
    assert mine.status_code == 200, mine.text
    assert [entry["identifier"] for entry in mine.json()] == [first["identifier"]]
    view = mine.json()[0]
    pdf = client.get(view["links"]["pdf"], headers=bearer(token))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == view["pdf_sha256"]
    credential = client.get(view["links"]["credential"], headers=bearer(token)).text
    claims = verify_credential(credential, federation.trust_list(), at=utc_now()).claims
    assert claims.identifier == first["identifier"]
    assert credential_status(federation, client, credential) is LicenceStatus.VALID
    # The department that issued it gets the same file.
    staff_pdf = client.get(first["links"]["pdf"], headers=clerk(federation))
    assert staff_pdf.content == pdf.content


def test_a_holder_cannot_read_another_holders_licence(
    client: TestClient, federation: Federation
) -> None:
    owner, other = new_uscc(), new_uscc()
    licence = issue(client, federation, owner)
    identifier = licence["identifier"]
    intruder = bearer(federation.holder_token(other))
    assert client.get("/api/v1/me/licences", headers=intruder).json() == []
    for suffix in ("", "/pdf", "/credential"):
        response = client.get(f"/api/v1/me/licences/{identifier}{suffix}", headers=intruder)
        assert_problem(response, 404)
        assert identifier not in response.text
    # Nor through the department's routes, nor as staff of another department.
    for headers in (intruder, clerk(federation, department="psb"), clerk(federation, "440000")):
        response = client.get(f"{ISSUE_URL}/{identifier}/pdf", headers=headers)
        assert response.status_code == 403, response.text
    psb = f"/api/v1/departments/{REGION}/psb/licences/{identifier}/pdf"
    assert_problem(client.get(psb, headers=clerk(federation, department="psb")), 404)
    # Staff are not holders, and nobody reads without a credential.
    staff = client.get("/api/v1/me/licences", headers=clerk(federation))
    assert_problem(staff, 403)
    assert_problem(client.get("/api/v1/me/licences"), 401)
    owner_view = client.get(
        f"/api/v1/me/licences/{identifier}",
        headers=bearer(federation.holder_token(owner, region=REGION)),
    )
    assert owner_view.status_code == 200 and owner_view.json()["identifier"] == identifier


def test_only_the_issuing_departments_staff_change_a_licence(
    client: TestClient, federation: Federation
) -> None:
    identifier = issue(client, federation, new_uscc())["identifier"]
    url = f"/api/v1/licences/{identifier}"
    refused = {
        "psb clerk of the same region": clerk(federation, department="psb"),
        "amr clerk of another region": clerk(federation, "440000"),
        "auditor": bearer(federation.staff_token(REGION, "auditor")),
        "operator": bearer(federation.staff_token(REGION, "operator")),
        "holder": bearer(federation.holder_token(new_uscc())),
    }
    for who, headers in refused.items():
        response = client.post(f"{url}/revoke", json={"reason": "x"}, headers=headers)
        assert response.status_code == 403, (who, response.text)
    assert_problem(client.post(f"{url}/revoke", json={"reason": "x"}), 401)
    with federation.runtime.database.transaction() as session:
        licence = session.scalars(select(Licence).where(Licence.identifier == identifier)).one()
        assert licence.status == "active"

    signer = bearer(federation.staff_token(REGION, "signer", "amr"))
    steps = [
        ("suspend", {"reason": "核查中"}, 200, "suspended"),
        ("suspend", {"reason": "again"}, 409, None),
        ("reinstate", {}, 200, "active"),
        ("revoke", {"reason": ""}, 400, None),
        ("revoke", {"reason": "吊销"}, 200, "revoked"),
        ("revoke", {"reason": "again"}, 409, None),
        ("reinstate", {"reason": "undo"}, 409, None),
        ("amend", {"holder_name": "乙", "reason": "undo"}, 409, None),
    ]
    for action, body, status, result in steps:
        response = client.post(f"{url}/{action}", json=body, headers=signer)
        if result is None:
            assert_problem(response, status)
        else:
            assert response.status_code == status, response.text
            assert response.json()["status"] == result
    with federation.runtime.database.transaction() as session:
        events = session.execute(
            select(LicenceEvent.event, LicenceEvent.actor)
            .join(Licence, Licence.id == LicenceEvent.licence_id)
            .where(Licence.identifier == identifier)
            .order_by(LicenceEvent.id)
        ).all()
    assert [e for e, _ in events] == ["issued", "suspended", "reinstated", "revoked"]
    assert all(actor.startswith(f"{REGION}/amr/") for _, actor in events)


def test_amendment_supersedes_the_old_version(client: TestClient, federation: Federation) -> None:
    holder_id = new_uscc()
    old = issue(client, federation, holder_id)
    key = f"amend-{secrets.token_hex(8)}"
    url = f"/api/v1/licences/{old['identifier']}/amend"
    body = {"holder_name": "甲公司（更名后）", "reason": "名称变更"}
    response = client.post(url, json=body, headers={**clerk(federation), "Idempotency-Key": key})
    assert response.status_code == 201, response.text
    new = response.json()
    retried = client.post(url, json=body, headers={**clerk(federation), "Idempotency-Key": key})
    assert retried.status_code == 201 and retried.json()["identifier"] == new["identifier"]
    assert new["version"] == 2 and new["supersedes"] == old["identifier"]
    assert new["identifier"].split(".")[-3] == old["identifier"].split(".")[-3]  # same serial
    assert new["holder_name"] == body["holder_name"]

    agency = bearer(federation.staff_token("440000", "auditor"))
    status = client.get(f"/api/v1/licences/{old['identifier']}/status", headers=agency).json()
    assert status["status"] == "superseded" and status["superseded_by"] == new["identifier"]
    assert_problem(client.post(url, json=body, headers=clerk(federation)), 409)

    holder = bearer(federation.holder_token(holder_id))
    listed = client.get("/api/v1/me/licences", headers=holder).json()
    assert {e["identifier"]: e["status"] for e in listed} == {
        new["identifier"]: "active",
        old["identifier"]: "superseded",
    }
    credentials = {
        e["identifier"]: client.get(e["links"]["credential"], headers=holder).text for e in listed
    }
    assert credential_status(federation, client, credentials[old["identifier"]]) is (
        LicenceStatus.SUPERSEDED
    )
    assert credential_status(federation, client, credentials[new["identifier"]]) is (
        LicenceStatus.VALID
    )
    log = client.get(f"/api/v1/log/{REGION}/licences/{old['identifier']}").json()
    assert len(log) == 2  # issued, superseded


def test_agency_status_lookup_reveals_no_holder_data(
    client: TestClient, federation: Federation
) -> None:
    holder_id = new_uscc()
    licence = issue(client, federation, holder_id)
    url = f"/api/v1/licences/{licence['identifier']}/status"
    response = client.get(url, headers=bearer(federation.staff_token("440000", "clerk", "psb")))
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["status"] == "active" and view["region"] == REGION
    assert "holder_name" not in view and holder_id not in response.text
    assert_problem(client.get(url, headers=bearer(federation.holder_token(holder_id))), 403)
    assert_problem(client.get(url), 401)
    staff = bearer(federation.staff_token("440000", "auditor"))
    unknown = licence["identifier"][:-6] + "999.001"
    assert_problem(client.get(f"/api/v1/licences/{unknown}/status", headers=staff), 400)
    assert_problem(client.get("/api/v1/licences/not-a-licence/status", headers=staff), 400)


def test_an_expired_licence_reads_expired_and_can_only_be_revoked(
    client: TestClient, federation: Federation
) -> None:
    identifier = issue(client, federation, new_uscc())["identifier"]
    with federation.runtime.database.transaction() as session:
        session.execute(
            update(Licence)
            .where(Licence.identifier == identifier)
            .values(valid_until=utc_now().date().replace(year=2020))
        )
    url = f"/api/v1/licences/{identifier}"
    agency = bearer(federation.staff_token("440000", "auditor"))
    assert client.get(f"{url}/status", headers=agency).json()["status"] == "expired"
    assert_problem(
        client.post(f"{url}/suspend", json={"reason": "x"}, headers=clerk(federation)), 409
    )
    body = {"holder_name": "x", "reason": "x"}
    assert_problem(client.post(f"{url}/amend", json=body, headers=clerk(federation)), 409)
    revoked = client.post(
        f"{url}/revoke", json={"reason": "过期后发现违规"}, headers=clerk(federation)
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"


def test_department_list_searches_and_pages(client: TestClient, federation: Federation) -> None:
    holder_id = new_uscc()
    name = f"检索{secrets.token_hex(3)}公司"
    for _ in range(3):
        response = client.post(
            ISSUE_URL,
            json={"licence_type": "business-licence", "holder_name": name, "holder_id": holder_id},
            headers=clerk(federation),
        )
        assert response.status_code == 201, response.text
    page = client.get(ISSUE_URL, params={"q": name, "limit": 2}, headers=clerk(federation)).json()
    assert page["total"] == 3 and len(page["licences"]) == 2
    rest = client.get(
        ISSUE_URL, params={"q": name, "limit": 2, "offset": 2}, headers=clerk(federation)
    ).json()
    identifiers = {e["identifier"] for e in page["licences"] + rest["licences"]}
    assert len(identifiers) == 3
    # A LIKE wildcard is searched for literally, not as "anything".
    wild = client.get(ISSUE_URL, params={"q": "%"}, headers=clerk(federation)).json()
    assert wild["total"] == 0
    assert_problem(
        client.get(ISSUE_URL, params={"status": "bogus"}, headers=clerk(federation)), 400
    )
    assert_problem(client.get(ISSUE_URL, headers=clerk(federation, department="psb")), 403)


def test_bad_issue_requests_are_refused_cleanly(client: TestClient, federation: Federation) -> None:
    good = {"licence_type": "business-licence", "holder_name": "甲", "holder_id": new_uscc()}
    cases = [
        ({**good, "licence_type": "no-such-type"}, {}, 400),
        ({**good, "licence_type": "no-criminal-record"}, {}, 400),  # a psb licence
        ({**good, "holder_id": "91330100MA2B3C4D0X"}, {}, 400),  # check characters wrong
        ({**good, "holder_name": " "}, {}, 400),
        ({**good, "extra": 1}, {}, 422),
        (good, {"Idempotency-Key": "spaces are not allowed"}, 400),
        (good, {"Idempotency-Key": "k" * 101}, 422),
    ]
    for body, headers, status in cases:
        response = client.post(ISSUE_URL, json=body, headers={**clerk(federation), **headers})
        assert_problem(response, status)
        assert good["holder_id"] not in response.text


def test_a_citizen_id_never_leaves_the_registry(client: TestClient, federation: Federation) -> None:
    body = f"330106{secrets.randbelow(40) + 1960}0101{secrets.randbelow(1000):03d}"
    citizen_id = body + iso7064_mod11_2_check(body)
    response = client.post(
        f"/api/v1/departments/{REGION}/psb/licences",
        json={"licence_type": "no-criminal-record", "holder_name": "张三", "holder_id": citizen_id},
        headers=clerk(federation, department="psb"),
    )
    assert response.status_code == 201, response.text
    assert citizen_id not in response.text and citizen_id[6:14] not in response.text
    token = bearer(federation.holder_token(citizen_id, HolderIdType.CITIZEN_ID))
    (mine,) = client.get("/api/v1/me/licences", headers=token).json()
    credential = client.get(mine["links"]["credential"], headers=token).text
    payload = base64.urlsafe_b64decode(credential.split(".")[1] + "==").decode()
    assert citizen_id not in payload and citizen_id[6:14] not in payload
    with federation.runtime.database.transaction() as session:
        stored = session.scalars(
            select(Licence).where(Licence.identifier == mine["identifier"])
        ).one()
        assert citizen_id not in (stored.holder_id_masked + stored.holder_id_hash)
        assert citizen_id.encode() not in stored.holder_id_encrypted


def test_the_catalogue_of_a_region_is_public(client: TestClient) -> None:
    types = client.get(f"/api/v1/catalogue/{REGION}").json()
    by_name = {t["name"]: t for t in types}
    assert by_name["no-criminal-record"]["department"] == "psb"
    assert by_name["business-licence"]["holder_id_types"] == ["001"]
    assert_problem(client.get("/api/v1/catalogue/33"), 422)
