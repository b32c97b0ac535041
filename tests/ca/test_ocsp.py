"""The OCSP responder: statuses, nonces, the pre-signed path, its API, and openssl against a
live server. Every certificate revoked here is issued here."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient

from ca.ocsp import OcspRequestError, OcspResponder, load_responder
from ca.revocation import revoke_certificate
from govtrust.app import create_app
from tests.api_support import assert_problem, bearer
from tests.ca.revocation_support import (
    ROOT,
    authority_certificate,
    issue_test_certificate,
    ocsp_request,
    pkilint_ocsp_errors,
    write_pem,
)
from tests.conftest import Federation
from tests.server import live_server
from tests.tools import require_tool
from verifier.timeutil import utc_now

REGION = "330000"
OCSP_PATH = f"/api/v1/ca/{REGION}/ocsp"
OCSP_REQUEST = {"Content-Type": "application/ocsp-request"}


@dataclass
class Pki:
    region: x509.Certificate
    other_region: x509.Certificate
    root: x509.Certificate
    responder: OcspResponder


@pytest.fixture(scope="module")
def pki(federation: Federation) -> Pki:
    return Pki(
        authority_certificate(federation, REGION),
        authority_certificate(federation, "440000"),
        authority_certificate(federation, ROOT),
        federation.runtime.ocsp_responder(REGION),
    )


def respond(
    federation: Federation, responder: OcspResponder, request: bytes, **kw: object
) -> bytes:
    with federation.runtime.database.transaction() as session:
        return responder.respond(session, request, **kw)  # type: ignore[arg-type]


def answer(federation: Federation, pki: Pki, request: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(respond(federation, pki.responder, request))


def revoke(
    federation: Federation, certificate: x509.Certificate, reason: str, **kw: object
) -> None:
    with federation.runtime.database.transaction() as session:
        revoke_certificate(
            session, REGION, f"{certificate.serial_number:x}", x509.ReasonFlags(reason), **kw
        )  # type: ignore[arg-type]


def assert_signed_by_responder(response: ocsp.OCSPResponse, responder: x509.Certificate) -> None:
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    key = responder.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    # Responder ID by key hash (SHA-1 of the subjectPublicKey bits) and the certificate included
    point = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert response.responder_key_hash == hashlib.sha1(point).digest()
    assert response.certificates == [responder]
    assert response.this_update_utc <= utc_now() and response.next_update_utc is not None


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256(), hashes.SHA384()])
def test_good_revoked_and_unknown(
    federation: Federation, pki: Pki, algorithm: hashes.HashAlgorithm
) -> None:
    good, revoked = issue_test_certificate(federation), issue_test_certificate(federation)
    at = (utc_now() - timedelta(hours=3)).replace(microsecond=0)
    revoke(federation, revoked, "cessationOfOperation", at=at)
    request = ocsp.load_der_ocsp_request(ocsp_request(good, pki.region, algorithm=algorithm))
    unknown = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            request.issuer_name_hash, request.issuer_key_hash, 0x5EED, algorithm
        )
        .build()
        .public_bytes(Encoding.DER)
    )
    cases = {
        ocsp.OCSPCertStatus.GOOD: (
            good.serial_number,
            ocsp_request(good, pki.region, algorithm=algorithm),
        ),
        ocsp.OCSPCertStatus.REVOKED: (
            revoked.serial_number,
            ocsp_request(revoked, pki.region, algorithm=algorithm),
        ),
        ocsp.OCSPCertStatus.UNKNOWN: (0x5EED, unknown),
    }
    for status, (serial, der) in cases.items():
        raw = respond(federation, pki.responder, der)
        response = ocsp.load_der_ocsp_response(raw)
        assert_signed_by_responder(response, pki.responder.certificate)
        assert response.certificate_status is status
        assert response.serial_number == serial
        assert response.hash_algorithm.name == algorithm.name
        assert (response.issuer_name_hash, response.issuer_key_hash) == (
            request.issuer_name_hash,
            request.issuer_key_hash,
        )
        assert not pkilint_ocsp_errors(raw), status
        if status is ocsp.OCSPCertStatus.REVOKED:
            assert response.revocation_time_utc == at
            assert response.revocation_reason is x509.ReasonFlags.cessation_of_operation


def test_other_issuers_get_unauthorized(federation: Federation, pki: Pki) -> None:
    other = issue_test_certificate(federation, "440000")
    for request in (
        ocsp_request(other, pki.other_region),  # a certificate of another region
        ocsp_request(pki.region, pki.root),  # the region CA itself: the offline root's business
    ):
        response = answer(federation, pki, request)
        assert response.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_nonce_is_echoed_in_a_fresh_signature(federation: Federation, pki: Pki) -> None:
    certificate = issue_test_certificate(federation)
    for nonce in (os.urandom(16), os.urandom(32)):
        raw = respond(federation, pki.responder, ocsp_request(certificate, pki.region, nonce=nonce))
        response = ocsp.load_der_ocsp_response(raw)
        assert_signed_by_responder(response, pki.responder.certificate)
        assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        assert not pkilint_ocsp_errors(raw)
    # RFC 8954: a nonce over 32 octets may be ignored; it then gets the pre-signed answer
    plain = respond(federation, pki.responder, ocsp_request(certificate, pki.region))
    too_long = ocsp_request(certificate, pki.region, nonce=os.urandom(33))
    assert respond(federation, pki.responder, too_long) == plain


def test_presigned_path_signs_nothing(
    federation: Federation, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    certificate = issue_test_certificate(federation)
    requests = [
        ocsp_request(certificate, pki.region, algorithm=a) for a in (hashes.SHA1(), hashes.SHA256())
    ]
    first = [respond(federation, pki.responder, r) for r in requests]  # signed and stored

    def no_signing(*args: object) -> bytes:
        raise AssertionError("the pre-signed path used the private key")

    monkeypatch.setattr(OcspResponder, "_sign", no_signing)
    assert [respond(federation, pki.responder, r) for r in requests] == first
    # revoked with the responder: re-signed in the revoking transaction, served from the store
    monkeypatch.undo()
    with federation.runtime.database.transaction() as session:
        revoke_certificate(
            session,
            REGION,
            f"{certificate.serial_number:x}",
            x509.ReasonFlags.key_compromise,
            responder=pki.responder,
        )
    monkeypatch.setattr(OcspResponder, "_sign", no_signing)
    for request in requests:
        response = answer(federation, pki, request)
        assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert response.revocation_reason is x509.ReasonFlags.key_compromise


def test_a_revocation_by_another_process_is_seen_at_once(federation: Federation, pki: Pki) -> None:
    """A responder of another process, and a revocation that refreshes no stored response:
    the stored `good` disagrees with the register, so it is never served again."""
    certificate = issue_test_certificate(federation)
    request = ocsp_request(certificate, pki.region)
    other_process = load_responder(
        federation.runtime.database.transaction, federation.runtime.key_stores, REGION
    )
    for responder in (pki.responder, other_process):
        good = ocsp.load_der_ocsp_response(respond(federation, responder, request))
        assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    revoke(federation, certificate, "affiliationChanged")  # no responder: stored row says good
    for responder in (other_process, pki.responder):
        response = ocsp.load_der_ocsp_response(respond(federation, responder, request))
        assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert response.revocation_reason is x509.ReasonFlags.affiliation_changed


def test_a_response_in_the_second_half_of_its_life_is_resigned(
    federation: Federation, pki: Pki
) -> None:
    certificate = issue_test_certificate(federation)
    request = ocsp_request(certificate, pki.region)
    first = respond(federation, pki.responder, request)
    assert respond(federation, pki.responder, request) == first
    later = utc_now() + timedelta(hours=13)
    renewed = respond(federation, pki.responder, request, now=later)
    assert renewed != first
    assert ocsp.load_der_ocsp_response(renewed).this_update_utc == later.replace(microsecond=0)


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"\x30\x03\x02\x01\x01", b"\x30" * 200])
def test_unreadable_requests_are_input_errors(
    federation: Federation, pki: Pki, garbage: bytes
) -> None:
    with pytest.raises(OcspRequestError, match="not a DER OCSP request"):
        respond(federation, pki.responder, garbage)


# --- HTTP -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def operator_keys(federation: Federation) -> dict[str, str]:
    return {code: federation.staff_token(code) for code in (REGION, "440000")}


def _post(client: TestClient, der: bytes, path: str = OCSP_PATH) -> httpx.Response:
    return client.post(path, content=der, headers=OCSP_REQUEST)


def test_post_and_get(client: TestClient, federation: Federation, pki: Pki) -> None:
    certificate = issue_test_certificate(federation)
    der = ocsp_request(certificate, pki.region)
    posted = _post(client, der)
    assert posted.status_code == 200
    assert posted.headers["content-type"] == "application/ocsp-response"
    encoded = base64.b64encode(der).decode()
    urlsafe = base64.urlsafe_b64encode(der).decode().rstrip("=")
    for path in (quote(encoded, safe=""), encoded, urlsafe):
        got = client.get(f"{OCSP_PATH}/{path}")
        assert got.status_code == 200, got.text
        assert got.content == posted.content  # both served from the pre-signed response
    response = ocsp.load_der_ocsp_response(posted.content)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    other = ocsp_request(issue_test_certificate(federation, "440000"), pki.other_region)
    unauthorized = ocsp.load_der_ocsp_response(_post(client, other).content)
    assert unauthorized.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_bad_requests_are_problems(client: TestClient, federation: Federation, pki: Pki) -> None:
    der = ocsp_request(issue_test_certificate(federation), pki.region)
    assert_problem(_post(client, b"garbage"), 400)
    assert_problem(client.post(OCSP_PATH, content=der, headers={"Content-Type": "text/plain"}), 415)
    assert_problem(client.post(OCSP_PATH, content=der), 415)
    assert_problem(_post(client, b"\x30" * (16 * 1024 + 1)), 413)
    streamed = client.post(OCSP_PATH, content=iter([b"\x30" * 9000] * 2), headers=OCSP_REQUEST)
    assert_problem(streamed, 413)
    assert_problem(_post(client, der, "/api/v1/ca/990000/ocsp"), 404)
    assert_problem(_post(client, der, "/api/v1/ca/root/ocsp"), 404)
    assert_problem(client.get(f"{OCSP_PATH}/%%%%"), 400)
    assert_problem(client.get(f"{OCSP_PATH}/{'A' * 30000}"), 414)
    assert_problem(client.get(f"{OCSP_PATH}/" + quote(base64.b64encode(b"junk").decode())), 400)
    assert_problem(client.get(f"/api/v1/ca/990000/ocsp/{base64.b64encode(der).decode()}"), 404)


def test_revocation_api(
    client: TestClient, federation: Federation, pki: Pki, operator_keys: dict[str, str]
) -> None:
    certificate = issue_test_certificate(federation)
    serial = f"{certificate.serial_number:x}"
    path = f"/api/v1/ca/{REGION}/certificates/{serial}/revoke"
    body = {"reason": "keyCompromise"}

    assert_problem(client.post(path, json=body), 401)
    assert_problem(client.post(path, json=body, headers=bearer("not-a-token")), 401)
    assert_problem(client.post(path, json=body, headers=bearer(operator_keys["440000"])), 403)
    own = bearer(operator_keys[REGION])
    assert_problem(client.post(path, json={"reason": "removeFromCRL"}, headers=own), 422)
    assert_problem(client.post(path, json={"reason": "keyCompromise", "x": 1}, headers=own), 422)
    missing = f"/api/v1/ca/{REGION}/certificates/5eed/revoke"
    assert_problem(client.post(missing, json=body, headers=own), 404)
    assert_problem(
        client.post(f"/api/v1/ca/{REGION}/certificates/zz/revoke", json=body, headers=own), 400
    )

    revoked = client.post(path, json=body, headers=own)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["serial"] == serial and revoked.json()["reason"] == "keyCompromise"
    # at once, through the same API (and a Runtime of its own)
    response = ocsp.load_der_ocsp_response(
        _post(client, ocsp_request(certificate, pki.region)).content
    )
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason is x509.ReasonFlags.key_compromise
    assert_problem(client.post(path, json=body, headers=own), 409)


# --- openssl against `govtrust serve` -------------------------------------------------------


def _openssl_ocsp(url: str, issuer: Path, cert: Path, root: Path, *extra: str) -> str:
    command = [require_tool("openssl"), "ocsp", "-issuer", str(issuer), "-cert", str(cert)]
    command += ["-url", url, "-CAfile", str(root), *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr, result.stderr
    return result.stdout


def test_openssl_ocsp_against_a_live_server(
    federation: Federation, pki: Pki, operator_keys: dict[str, str], tmp_path: Path
) -> None:
    require_tool("openssl")
    certificate = issue_test_certificate(federation)
    cert = write_pem(tmp_path / "cert.pem", certificate)
    issuer = write_pem(tmp_path / "region.pem", pki.region)
    root = write_pem(tmp_path / "root.pem", pki.root)
    with live_server(federation) as base:
        url = f"{base}/api/v1/ca/{REGION}/ocsp"
        for extra in ((), ("-no_nonce",)):
            assert f"{cert}: good" in _openssl_ocsp(url, issuer, cert, root, *extra)
        revoked = httpx.post(
            f"{base}/api/v1/ca/{REGION}/certificates/{certificate.serial_number:x}/revoke",
            json={"reason": "keyCompromise"},
            headers=bearer(operator_keys[REGION]),
            timeout=30,
        )
        assert revoked.status_code == 200, revoked.text
        for extra in ((), ("-no_nonce",)):
            out = _openssl_ocsp(url, issuer, cert, root, *extra)
            assert f"{cert}: revoked" in out
            assert "Reason: keyCompromise" in out
        other = write_pem(tmp_path / "other.pem", issue_test_certificate(federation, "440000"))
        other_issuer = write_pem(tmp_path / "other-region.pem", pki.other_region)
        command = [require_tool("openssl"), "ocsp", "-issuer", str(other_issuer)]
        command += ["-cert", str(other), "-url", url, "-CAfile", str(root)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert "unauthorized" in result.stdout + result.stderr
