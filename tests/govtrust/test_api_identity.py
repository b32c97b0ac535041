"""Sign-in, refresh rotation, sign-out, discovery and cross-region acceptance over the API."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from ca.profiles import subject_name
from govtrust.app import create_app
from identity.accounts import create_citizen, create_staff
from tests.api_support import bearer
from tests.conftest import Federation

CITIZEN_ID = "11010519491231002X"
CITIZEN_PASSWORD = "Same Person 2026"


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def accounts(federation: Federation) -> dict[str, dict[str, dict[str, str]]]:
    listing = json.loads((federation.settings.var_dir / "dev-accounts.json").read_text())
    return {
        region: {
            entry["login"].split("-")[0] if entry["kind"] == "staff" else entry["kind"]: entry
            for entry in entries
        }
        for region, entries in listing.items()
    }


def sign_in(
    client: TestClient, region: str, login: str, password: str, **extra: str
) -> dict[str, object]:
    response = client.post(
        f"/api/v1/identity/{region}/token",
        data={"grant_type": "password", "username": login, "password": password, **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()


def operator_token(client: TestClient, accounts: dict, region: str) -> str:
    entry = accounts[region]["operator"]
    return str(sign_in(client, region, entry["login"], entry["password"])["access_token"])


def test_sign_in_and_userinfo(client: TestClient, accounts: dict) -> None:
    token = operator_token(client, accounts, "330000")
    info = client.get("/api/v1/identity/userinfo", headers=bearer(token))
    assert info.status_code == 200, info.text
    body = info.json()
    assert body["region"] == "330000" and body["roles"] == ["operator"]
    assert body["iss"].endswith("/api/v1/identity/330000")


def test_operator_role_counts_only_in_its_own_region(client: TestClient, accounts: dict) -> None:
    token = operator_token(client, accounts, "330000")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject_name("日志签名", organization="浙江省", province="浙江省"))
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.PEM)
        .decode()
    )
    body = {"profile": "log-signer", "csr": csr}
    assert (
        client.post("/api/v1/ca/330000/certificates", json=body, headers=bearer(token)).status_code
        == 201
    )
    other = client.post("/api/v1/ca/440000/certificates", json=body, headers=bearer(token))
    assert other.status_code == 403
    clerk = accounts["330000"]["clerk"]
    clerk_token = sign_in(client, "330000", clerk["login"], clerk["password"])["access_token"]
    assert (
        client.post(
            "/api/v1/ca/330000/certificates", json=body, headers=bearer(str(clerk_token))
        ).status_code
        == 403
    )


def test_same_person_same_subject_in_every_region(
    client: TestClient, federation: Federation
) -> None:
    with federation.runtime.database.transaction() as session:
        for region in ("330000", "440000"):
            create_citizen(
                session,
                federation.runtime.data_protector,
                region,
                CITIZEN_ID,
                "张三",
                CITIZEN_PASSWORD,
            )
    subjects = set()
    for region in ("330000", "440000"):
        token = sign_in(client, region, CITIZEN_ID, CITIZEN_PASSWORD)["access_token"]
        info = client.get("/api/v1/identity/userinfo", headers=bearer(str(token))).json()
        assert info["region"] == region and info["roles"] == ["citizen"]
        assert CITIZEN_ID[:17] not in json.dumps(info)
        payload = str(token).split(".")[1]
        assert CITIZEN_ID[:17] not in base64.urlsafe_b64decode(payload + "==").decode()
        subjects.add(info["sub"])
    assert len(subjects) == 1


def test_refresh_rotation_reuse_and_sign_out(client: TestClient, accounts: dict) -> None:
    entry = accounts["440000"]["auditor"]
    first = sign_in(client, "440000", entry["login"], entry["password"])
    url = "/api/v1/identity/440000/token"
    second = client.post(
        url, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200, second.text
    reused = client.post(
        url, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 400
    assert reused.headers["content-type"] == "application/problem+json"
    # Reuse revoked the whole family: the newest refresh token is dead too.
    newest = client.post(
        url, data={"grant_type": "refresh_token", "refresh_token": second.json()["refresh_token"]}
    )
    assert newest.status_code == 400

    third = sign_in(client, "440000", entry["login"], entry["password"])
    assert (
        client.post(
            "/api/v1/identity/440000/revoke", data={"token": third["refresh_token"]}
        ).status_code
        == 200
    )
    after = client.post(
        url, data={"grant_type": "refresh_token", "refresh_token": third["refresh_token"]}
    )
    assert after.status_code == 400


def test_bad_sign_ins(client: TestClient, federation: Federation) -> None:
    url = "/api/v1/identity/330000/token"
    # An account of its own: throttling it must not lock out accounts other tests use.
    entry = {"login": "throttle-test", "password": "Throttle Test 2026"}
    with federation.runtime.database.transaction() as session:
        create_staff(session, "330000", entry["login"], "限流测试", entry["password"], ["auditor"])
    wrong = client.post(
        url,
        data={
            "grant_type": "password",
            "username": entry["login"],
            "password": "not the password 1",
        },
    )
    unknown = client.post(
        url,
        data={
            "grant_type": "password",
            "username": "nobody-here",
            "password": "not the password 1",
        },
    )
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert client.post(url, data={"grant_type": "implicit"}).status_code == 400
    assert client.post(url, data={}).status_code == 422
    for _ in range(5):
        client.post(
            url,
            data={
                "grant_type": "password",
                "username": entry["login"],
                "password": "not the password 1",
            },
        )
    throttled = client.post(
        url,
        data={"grant_type": "password", "username": entry["login"], "password": entry["password"]},
    )
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/problem+json"


def test_forged_and_foreign_credentials_are_refused(client: TestClient, accounts: dict) -> None:
    token = operator_token(client, accounts, "330000")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["operator", "auditor"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"gt-id+jwt"}').rstrip(b"=")
    for credential in (
        f"{header}.{forged_payload}.{signature}",
        f"{none_header.decode()}.{payload}.",
        "not-a-token",
    ):
        response = client.get("/api/v1/identity/userinfo", headers=bearer(credential))
        assert response.status_code == 401, credential
    assert client.get("/api/v1/identity/userinfo").status_code == 401
    other_audience = sign_in(
        client,
        "330000",
        accounts["330000"]["auditor"]["login"],
        accounts["330000"]["auditor"]["password"],
        audience="other-app",
    )
    assert (
        client.get(
            "/api/v1/identity/userinfo", headers=bearer(str(other_audience["access_token"]))
        ).status_code
        == 401
    )


def test_discovery_and_jwks(client: TestClient, accounts: dict) -> None:
    config = client.get("/api/v1/identity/440000/.well-known/openid-configuration").json()
    assert config["issuer"].endswith("/api/v1/identity/440000")
    assert config["id_token_signing_alg_values_supported"] == ["ES256"]
    keys = client.get("/api/v1/identity/440000/jwks").json()["keys"]
    token = sign_in(
        client,
        "440000",
        accounts["440000"]["clerk"]["login"],
        accounts["440000"]["clerk"]["password"],
    )["access_token"]
    header = json.loads(base64.urlsafe_b64decode(str(token).split(".")[0] + "=="))
    assert [k["kid"] for k in keys] == [header["kid"]]
    assert client.get("/api/v1/identity/999999/jwks").status_code == 404
