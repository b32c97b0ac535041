"""Trust-list lifecycle over the API: a region's operator manages only its own region's
services; a published version is what every route then decides trust with."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from ca.profiles import subject_name
from govtrust.app import create_app
from identity.signin import ACR_PASSWORD, API_AUDIENCE
from tests.api_support import assert_problem, bearer, make_csr
from tests.conftest import Federation, private_federation, run_cli
from verifier.timeutil import utc_now
from verifier.trust_list import ServiceStatus, ServiceType, verify_trust_list

ZJ, GD = "330000", "440000"


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    return private_federation(tmp_path_factory.mktemp("federation-api"))


@pytest.fixture(scope="module")
def client(own: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(own.settings), raise_server_exceptions=False) as client:
        yield client


def regions(client: TestClient, token: str) -> dict[str, dict]:
    response = client.get("/api/v1/federation/regions", headers=bearer(token))
    assert response.status_code == 200, response.text
    return {region["code"]: region for region in response.json()}


def service_of(listing: dict[str, dict], region: str, service_type: ServiceType) -> dict:
    return next(s for s in listing[region]["services"] if s["type"] == service_type)


def issue_certificate(client: TestClient, token: str, region: str, profile: str) -> str:
    response = client.post(
        f"/api/v1/ca/{region}/certificates",
        json={
            "profile": profile,
            "csr": make_csr(subject_name(f"测试{profile}", province="浙江省")),
        },
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    serial = response.json()["serial"]
    return client.get(f"/api/v1/ca/{region}/certificates/{serial}").text


def test_reads_need_an_operator(own: Federation, client: TestClient) -> None:
    assert_problem(client.get("/api/v1/federation/regions"), 401)
    clerk = own.staff_token(ZJ, "clerk")
    assert_problem(client.get("/api/v1/federation/regions", headers=bearer(clerk)), 403)
    assert_problem(client.get("/api/v1/federation/versions", headers=bearer(clerk)), 403)
    listing = regions(client, own.staff_token(GD))
    assert set(listing) == {ZJ, GD}
    seal_ca = service_of(listing, ZJ, ServiceType.SEAL_CA)
    assert seal_ca["status"] == "granted"
    assert [c["status"] for c in seal_ca["history"]] == ["granted"]
    assert seal_ca["history"][0]["recorded_by"] is None  # dev-init, at the hub


def test_an_operator_changes_only_their_own_region(own: Federation, client: TestClient) -> None:
    zj_operator, gd_operator = own.staff_token(ZJ), own.staff_token(GD)
    listing = regions(client, zj_operator)
    zj_tsa = service_of(listing, ZJ, ServiceType.TSA)
    gd_tsa = service_of(listing, GD, ServiceType.TSA)
    withdraw = {"status": "withdrawn"}

    # Another region's operator, a non-operator, a service id of another region: refused.
    assert_problem(
        client.post(
            f"/api/v1/federation/regions/{ZJ}/services/{zj_tsa['id']}/status",
            json=withdraw,
            headers=bearer(gd_operator),
        ),
        403,
    )
    assert_problem(
        client.post(
            f"/api/v1/federation/regions/{ZJ}/services/{zj_tsa['id']}/status",
            json=withdraw,
            headers=bearer(own.staff_token(ZJ, "signer")),
        ),
        403,
    )
    assert_problem(
        client.post(
            f"/api/v1/federation/regions/{ZJ}/services/{gd_tsa['id']}/status",
            json=withdraw,
            headers=bearer(zj_operator),
        ),
        404,
    )
    assert regions(client, zj_operator) == listing  # nothing changed


def test_withdraw_publish_and_read_back(own: Federation, client: TestClient) -> None:
    operator = own.staff_token(ZJ)
    before = own.trust_list()
    tsa = service_of(regions(client, operator), ZJ, ServiceType.TSA)
    # Backdated to the moment it was granted (as for a key compromised from the start).
    since = datetime.fromisoformat(tsa["history"][0]["since"])
    path = f"/api/v1/federation/regions/{ZJ}/services/{tsa['id']}/status"

    changed = client.post(
        path, json={"status": "withdrawn", "since": since.isoformat()}, headers=bearer(operator)
    )
    assert changed.status_code == 201, changed.text
    assert changed.json()["status"] == "withdrawn"
    last = changed.json()["history"][-1]
    assert last["recorded_by"].startswith(f"{ZJ}/")
    assert_problem(client.post(path, json={"status": "withdrawn"}, headers=bearer(operator)), 400)
    # Not yet published: the signed list still grants it.
    assert own.trust_list().sequence == before.sequence

    published = client.post(
        "/api/v1/federation/versions", json={"validity_days": 7}, headers=bearer(operator)
    )
    assert published.status_code == 201, published.text
    version = published.json()
    assert version["sequence"] == before.sequence + 1
    assert version["published_by"] == last["recorded_by"]

    served = client.get("/api/v1/trust-list")
    assert served.headers["x-trust-list-sequence"] == str(version["sequence"])
    listed = verify_trust_list(served.text, own.root_fingerprint, at=utc_now())
    assert listed == own.trust_list()  # var/trust-list.jws is the same version
    assert listed.next_update - listed.issued_at == timedelta(days=7)
    withdrawn = next(s for s in listed.services(ServiceType.TSA) if s.region_code == ZJ)
    assert withdrawn.status_at(utc_now()) is ServiceStatus.WITHDRAWN
    assert [c.status for c in withdrawn.history] == [ServiceStatus.GRANTED, ServiceStatus.WITHDRAWN]
    assert withdrawn.history[-1].since == since

    history = client.get("/api/v1/federation/versions", headers=bearer(operator)).json()
    assert [v["sequence"] for v in history][:2] == [version["sequence"], before.sequence]

    # Every region's transparency log holds the version, by the hash of the bytes served.
    digest = hashlib.sha256(served.text.strip().encode()).hexdigest()
    for region in (ZJ, GD):
        listed_entries = client.get(
            f"/api/v1/log/{region}/entries", params={"start": 0, "end": 1000}
        )
        leaves = [json.loads(entry["leaf"]) for entry in listed_entries.json()]
        trust_lists = [leaf for leaf in leaves if leaf["type"] == "trust-list"]
        assert [(t["number"], t["sha256"]) for t in trust_lists][-2:] == [
            (before.sequence, trust_lists[-2]["sha256"]),
            (version["sequence"], digest),
        ]


def test_list_a_service_the_region_ca_issued(own: Federation, client: TestClient) -> None:
    operator = own.staff_token(ZJ)
    pem = issue_certificate(client, operator, ZJ, "status-issuer")
    url = f"/api/v1/federation/regions/{ZJ}/services"
    body = {"type": "status-issuer", "name": "浙江省 状态列表签发 2", "certificate": pem}

    # Under the wrong type, from another region's operator, for another region: refused.
    assert_problem(client.post(url, json={**body, "type": "tsa"}, headers=bearer(operator)), 400)
    assert_problem(client.post(url, json=body, headers=bearer(own.staff_token(GD))), 403)
    assert_problem(
        client.post(
            f"/api/v1/federation/regions/{GD}/services",
            json=body,
            headers=bearer(own.staff_token(GD)),
        ),
        400,
    )
    # The national root, another region's CA, garbage: refused.
    for certificate in (
        own.runtime.issuer(GD).certificate.public_bytes(Encoding.PEM).decode(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ):
        assert_problem(
            client.post(url, json={**body, "certificate": certificate}, headers=bearer(operator)),
            400,
        )
    assert_problem(
        client.post(
            url,
            json={
                **body,
                "type": "seal-ca",
                "certificate": own.runtime.issuer(GD)
                .certificate.public_bytes(Encoding.PEM)
                .decode(),
            },
            headers=bearer(operator),
        ),
        400,
    )

    added = client.post(url, json=body, headers=bearer(operator))
    assert added.status_code == 201, added.text
    assert added.json()["status"] == "granted"
    assert_problem(client.post(url, json=body, headers=bearer(operator)), 400)  # twice


@pytest.mark.parametrize(
    "body",
    [
        {"status": "revoked"},
        {"status": "withdrawn", "since": "2026-01-01T00:00:00"},  # no time zone
        {"status": "withdrawn", "since": "yesterday"},
    ],
)
def test_status_change_input_is_checked(own: Federation, client: TestClient, body: dict) -> None:
    operator = own.staff_token(ZJ)
    seal_ca = service_of(regions(client, operator), ZJ, ServiceType.SEAL_CA)
    response = client.post(
        f"/api/v1/federation/regions/{ZJ}/services/{seal_ca['id']}/status",
        json=body,
        headers=bearer(operator),
    )
    assert_problem(response, 422)


def test_publish_input_is_checked(own: Federation, client: TestClient) -> None:
    operator = own.staff_token(ZJ)
    for validity in (0, 367, "long"):
        assert_problem(
            client.post(
                "/api/v1/federation/versions",
                json={"validity_days": validity},
                headers=bearer(operator),
            ),
            422,
        )
    assert_problem(client.post("/api/v1/federation/versions", json={}), 401)


def test_withdrawn_identity_provider_stops_its_tokens_at_once(
    own: Federation, client: TestClient
) -> None:
    """Published through the API, the new list governs this server's routes immediately:
    tokens the withdrawn IdP signs after the withdrawal are refused; other regions' are not."""
    zj_operator, gd_operator = own.staff_token(ZJ), own.staff_token(GD)
    idp = service_of(regions(client, zj_operator), ZJ, ServiceType.IDENTITY_PROVIDER)
    assert (
        client.post(
            f"/api/v1/federation/regions/{ZJ}/services/{idp['id']}/status",
            json={"status": "withdrawn"},
            headers=bearer(zj_operator),
        ).status_code
        == 201
    )
    assert (
        client.post("/api/v1/federation/versions", json={}, headers=bearer(gd_operator)).status_code
        == 201
    )
    after = own.runtime.identity_issuer(ZJ).issue("citizen-x", API_AUDIENCE, [], ACR_PASSWORD)
    assert_problem(client.get("/api/v1/identity/userinfo", headers=bearer(after)), 401)
    assert client.get("/api/v1/identity/userinfo", headers=bearer(own.staff_token(GD))).is_success

    # Re-granting is the hub's to do now: the region's own operators cannot sign in.
    assert (
        run_cli(
            own, "federation", "grant", "--region", ZJ, "--type", "identity-provider"
        ).returncode
        == 0
    )
    assert run_cli(own, "federation", "publish").returncode == 0
    client.app.state.runtime.forget_trust_list()  # type: ignore[attr-defined]
    later = own.runtime.identity_issuer(ZJ).issue("citizen-x", API_AUDIENCE, [], ACR_PASSWORD)
    assert client.get("/api/v1/identity/userinfo", headers=bearer(later)).is_success
