"""CA endpoints: public reads, and CSR issuance that only a region's operator may do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from ca.profiles import subject_name
from govtrust.app import create_app
from tests.api_support import assert_problem, bearer, make_csr
from tests.conftest import Federation

SEAL_USCC = "113300003300010149"


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def operator_tokens(federation: Federation) -> dict[str, str]:
    """Operator credentials (identity tokens) per region."""
    return {code: federation.staff_token(code) for code in ("330000", "440000")}


def seal_subject(province: str = "浙江省", uscc: str = SEAL_USCC) -> x509.Name:
    return subject_name(
        "测试印章", organization="测试局", organization_identifier=uscc, province=province
    )


def test_list_and_fetch_cas(client: TestClient) -> None:
    cas = {c["code"]: c for c in client.get("/api/v1/ca").json()}
    assert set(cas) == {"root", "330000", "440000"}
    assert cas["root"]["online"] is False and cas["330000"]["online"] is True
    der = client.get("/api/v1/ca/330000/certificate")
    assert der.headers["content-type"] == "application/pkix-cert"
    region = x509.load_der_x509_certificate(der.content)
    assert (
        region.subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value == "浙江省"
    )
    assert_problem(client.get("/api/v1/ca/999999/certificate"), 404)


def test_certificate_listing_and_pem(client: TestClient) -> None:
    page = client.get("/api/v1/ca/330000/certificates", params={"limit": 2}).json()
    assert page["total"] >= 4 and len(page["items"]) == 2
    rest = client.get("/api/v1/ca/330000/certificates", params={"offset": 2, "limit": 500})
    serials = [c["serial"] for c in page["items"] + rest.json()["items"]]
    assert len(serials) == len(set(serials)) == page["total"]
    profiles = {c["profile"] for c in rest.json()["items"] + page["items"]}
    assert {"seal", "ocsp-responder", "tsa"} <= profiles
    pem = client.get(f"/api/v1/ca/330000/certificates/{serials[0]}")
    cert = x509.load_pem_x509_certificate(pem.content)
    assert format(cert.serial_number, "x") == serials[0]
    assert_problem(client.get("/api/v1/ca/330000/certificates/abc123"), 404)
    assert_problem(client.get("/api/v1/ca/330000/certificates/not-hex"), 400)
    assert_problem(client.get("/api/v1/ca/330000/certificates", params={"limit": 0}), 422)


def test_issue_from_csr(client: TestClient, operator_tokens: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/ca/330000/certificates",
        json={"profile": "seal", "csr": make_csr(seal_subject())},
        headers=bearer(operator_tokens["330000"]),
    )
    assert response.status_code == 201, response.text
    serial = response.json()["serial"]
    issued = x509.load_pem_x509_certificate(
        client.get(f"/api/v1/ca/330000/certificates/{serial}").content
    )
    region = x509.load_der_x509_certificate(client.get("/api/v1/ca/330000/certificate").content)
    issued.verify_directly_issued_by(region)
    crl_dp = issued.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl_dp[0].full_name[0].value.endswith("/api/v1/ca/330000/crl")


@pytest.mark.parametrize(("headers_for", "status"), [(None, 401), ("bogus", 401), ("440000", 403)])
def test_issue_needs_this_regions_operator(
    client: TestClient, operator_tokens: dict[str, str], headers_for: str | None, status: int
) -> None:
    headers = {}
    if headers_for == "bogus":
        headers = bearer("not-a-real-token")
    elif headers_for:
        headers = bearer(operator_tokens[headers_for])
    response = client.post(
        "/api/v1/ca/330000/certificates",
        json={"profile": "seal", "csr": make_csr(seal_subject())},
        headers=headers,
    )
    assert_problem(response, status)


def test_issue_refuses_bad_csrs(client: TestClient, operator_tokens: dict[str, str]) -> None:
    headers = bearer(operator_tokens["330000"])
    url = "/api/v1/ca/330000/certificates"
    good = make_csr(seal_subject())
    cases = {
        "garbage": {"profile": "seal", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA"},
        "other province": {"profile": "seal", "csr": make_csr(seal_subject("广东省"))},
        "bad USCC": {"profile": "seal", "csr": make_csr(seal_subject(uscc="113300003300010148"))},
        "CA profile": {"profile": "region-ca", "csr": good},
        "unknown profile": {"profile": "nope", "csr": good},
        "P-384 key": {
            "profile": "seal",
            "csr": make_csr(seal_subject(), ec.generate_private_key(ec.SECP384R1())),
        },
    }
    for name, body in cases.items():
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 400, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    tampered = good.replace("CERTIFICATE REQUEST-----\n", "CERTIFICATE REQUEST-----\nMII", 1)
    assert (
        client.post(url, json={"profile": "seal", "csr": tampered}, headers=headers).status_code
        == 400
    )
    assert_problem(
        client.post(url, json={"profile": "seal", "csr": "x" * 20000}, headers=headers), 422
    )
