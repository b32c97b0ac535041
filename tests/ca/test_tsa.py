"""The RFC 3161 TSA: openssl and pyHanko accept its tokens; it refuses what it must."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

import govtrust.runtime as runtime_module
from ca.authority import get_authority, issue_with_new_key
from ca.errors import CaError
from ca.profiles import TSA as TSA_PROFILE
from ca.profiles import subject_name
from ca.revocation import revoke_certificate
from ca.tsa import (
    TSA_POLICY,
    SerialAllocator,
    TimeStampAuthority,
    TimeStampResp,
    UnknownTsa,
    load_tsa,
)
from govtrust.app import create_app
from govtrust.db import Database
from govtrust.runtime import Runtime
from tests.conftest import Federation
from tests.server import live_server as running_server
from tests.tools import require_tool
from verifier.errors import InputError
from verifier.timeutil import utc_now

REGION = "330000"
URL = f"/api/v1/ca/{REGION}/tsa"
QUERY = {"Content-Type": "application/timestamp-query"}


@dataclass
class Files:
    directory: Path
    chain: Path  # national root + the region CA: what `openssl ts -verify -CAfile` trusts
    tsa_certificate: Path


@pytest.fixture(scope="module")
def files(federation: Federation, tmp_path_factory: pytest.TempPathFactory) -> Files:
    directory = tmp_path_factory.mktemp("tsa")
    root_pem = (federation.home / "keys-dev" / "root" / "national-root.pem").read_bytes()
    with federation.runtime.database.transaction() as session:
        region = get_authority(session, REGION).certificate
    chain = directory / "chain.pem"
    chain.write_bytes(root_pem + region.public_bytes(Encoding.PEM))
    tsa_pem = directory / "tsa.pem"
    tsa_pem.write_bytes(federation.runtime.tsa(REGION).certificate.public_bytes(Encoding.PEM))
    return Files(directory, chain, tsa_pem)


@pytest.fixture(scope="module")
def client(federation: Federation) -> Iterator[TestClient]:
    with TestClient(create_app(federation.settings)) as test_client:
        yield test_client


def _request(
    digest: bytes = b"\x11" * 32,
    algorithm: str = "sha256",
    **fields: object,
) -> bytes:
    body: dict[str, object] = {
        "version": 1,
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
    }
    return tsp.TimeStampReq(body | fields).dump()


def _post(client: TestClient, body: bytes) -> TimeStampResp:
    response = client.post(URL, content=body, headers=QUERY)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/timestamp-reply"
    return TimeStampResp.load(response.content)


def _tst_info(reply: TimeStampResp) -> tsp.TSTInfo:
    assert reply["status"]["status"].native == "granted"
    return reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [require_tool("openssl"), "ts", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


# --- openssl ----------------------------------------------------------------------------------


@pytest.mark.parametrize("nonce", [True, False], ids=["nonce", "no-nonce"])
def test_openssl_verifies_a_token_for_its_data_only(
    client: TestClient, files: Files, nonce: bool
) -> None:
    data = files.directory / f"data-{nonce}.txt"
    data.write_text("浙江省营业执照 — time-stamped")
    query = files.directory / f"query-{nonce}.tsq"
    made = _openssl(
        "-query",
        "-data",
        data,
        "-sha256",
        "-cert",
        *([] if nonce else ["-no_nonce"]),
        "-out",
        query,
    )
    assert made.returncode == 0, made.stderr
    response = client.post(URL, content=query.read_bytes(), headers=QUERY)
    assert response.status_code == 200
    reply = files.directory / f"reply-{nonce}.tsr"
    reply.write_bytes(response.content)
    serial = _tst_info(TimeStampResp.load(response.content))["serial_number"].native

    text = _openssl("-reply", "-in", reply, "-text")
    assert text.returncode == 0, text.stderr
    assert "Status: Granted." in text.stdout
    assert f"Policy OID: {TSA_POLICY}" in text.stdout
    assert f"Serial number: 0x{serial:02X}" in text.stdout
    assert "Accuracy: 0x01 seconds" in text.stdout
    assert ("Nonce: 0x" in text.stdout) is nonce
    assert "TSA: DirName:" in text.stdout

    for check in (["-data", data], ["-queryfile", query]):
        verified = _openssl("-verify", *check, "-in", reply, "-CAfile", files.chain)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "Verification: OK" in verified.stdout

    other = files.directory / f"other-{nonce}.txt"
    other.write_text("a different document")
    refused = _openssl("-verify", "-data", other, "-in", reply, "-CAfile", files.chain)
    assert refused.returncode != 0
    assert "Verification: FAILED" in refused.stdout
    assert "message imprint mismatch" in refused.stderr


def test_openssl_verifies_a_token_without_certificates_given_the_tsa_certificate(
    client: TestClient, files: Files
) -> None:
    data = files.directory / "bare.txt"
    data.write_bytes(b"no certificates in the token")
    query = files.directory / "bare.tsq"
    assert _openssl("-query", "-data", data, "-sha512", "-out", query).returncode == 0
    reply = files.directory / "bare.tsr"
    reply.write_bytes(client.post(URL, content=query.read_bytes(), headers=QUERY).content)
    token = TimeStampResp.load(reply.read_bytes())["time_stamp_token"]["content"]
    assert not token["certificates"]
    alone = _openssl("-verify", "-data", data, "-in", reply, "-CAfile", files.chain)
    assert alone.returncode != 0
    verified = _openssl(
        "-verify", "-data", data, "-in", reply, "-CAfile", files.chain, "-untrusted",
        files.tsa_certificate,
    )  # fmt: skip
    assert "Verification: OK" in verified.stdout, verified.stderr


def test_openssl_reads_a_rejection(client: TestClient, files: Files) -> None:
    data = files.directory / "sha1.txt"
    data.write_bytes(b"weak")
    query = files.directory / "sha1.tsq"
    assert _openssl("-query", "-data", data, "-sha1", "-out", query).returncode == 0
    reply = files.directory / "sha1.tsr"
    reply.write_bytes(client.post(URL, content=query.read_bytes(), headers=QUERY).content)
    text = _openssl("-reply", "-in", reply, "-text")
    assert "Status: Rejected." in text.stdout
    assert "unrecognized or unsupported algorithm" in text.stdout


# --- pyHanko against a real server ------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(federation: Federation) -> Iterator[str]:
    with running_server(federation) as base:
        yield base


def test_pyhanko_timestamps_against_the_live_server_and_validates_the_token(
    federation: Federation, live_server: str
) -> None:
    root = asn1_x509.Certificate.load(
        x509.load_pem_x509_certificate(
            (federation.home / "keys-dev" / "root" / "national-root.pem").read_bytes()
        ).public_bytes(Encoding.DER)
    )
    digest = hashlib.sha256(b"a licence PDF's signature value").digest()
    stamper = HTTPTimeStamper(f"{live_server}{URL}")

    async def stamp_and_validate(
        expected: bytes, context: ValidationContext
    ) -> TimestampSignatureStatus:
        token = await stamper.async_timestamp(digest, "sha256")
        signed_data = token["content"]
        assert _tst_info_from(signed_data)["policy"].dotted == TSA_POLICY
        return TimestampSignatureStatus(
            **await validate_tst_signed_data(signed_data, context, lambda _algorithm: expected)
        )

    def context(*roots: asn1_x509.Certificate) -> ValidationContext:
        # No network: the certificates' CRL/OCSP pointers name a host that does not exist here.
        return ValidationContext(trust_roots=list(roots), allow_fetching=False)

    status = asyncio.run(stamp_and_validate(digest, context(root)))
    assert status.intact and status.valid and status.trusted, status
    assert abs(status.timestamp - utc_now()) < timedelta(seconds=30)
    wrong = asyncio.run(stamp_and_validate(hashlib.sha256(b"other").digest(), context(root)))
    assert not wrong.intact
    untrusted = asyncio.run(stamp_and_validate(digest, context()))
    assert untrusted.intact and untrusted.valid and not untrusted.trusted


def _tst_info_from(signed_data: cms.SignedData) -> tsp.TSTInfo:
    return signed_data["encap_content_info"]["content"].parsed


# --- serial numbers ---------------------------------------------------------------------------


def test_serials_strictly_increase_over_50_requests(client: TestClient) -> None:
    serials = [
        _tst_info(_post(client, _request(nonce=n)))["serial_number"].native for n in range(50)
    ]
    assert all(a < b for a, b in itertools.pairwise(serials)), serials


def test_serials_are_unique_across_two_authorities_sharing_the_database(
    federation: Federation,
) -> None:
    """Two TSAs on separate engines (as two processes would be), racing from four threads
    each."""
    key_store = federation.runtime.key_store
    other_database = Database(federation.settings.effective_database_url)
    authorities = [
        load_tsa(federation.runtime.database.transaction, key_store, "440000"),
        load_tsa(other_database.transaction, key_store, "440000"),
    ]
    per_thread: list[list[tuple[int, int]]] = [[] for _ in range(8)]

    def stamp(index: int) -> None:
        tsa = authorities[index % 2]
        for nonce in range(40):
            tst = _tst_info(TimeStampResp.load(tsa.respond(_request(nonce=nonce))))
            per_thread[index].append((index % 2, tst["serial_number"].native))

    threads = [threading.Thread(target=stamp, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other_database.engine.dispose()
    everything = [serial for results in per_thread for _, serial in results]
    assert len(everything) == 320
    assert len(set(everything)) == 320, "a serial number was issued twice"
    for results in per_thread:  # each thread sees its authority's serials in increasing order
        serials = [serial for _, serial in results]
        assert serials == sorted(serials)


def test_serial_allocator_never_repeats_within_a_nanosecond() -> None:
    allocator = SerialAllocator()
    serials = [allocator.next() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(serials))
    assert all(0 < s < 2**159 for s in serials)  # RFC 3161: at most 160 bits, positive


# --- request fields -----------------------------------------------------------------------------


def test_nonce_is_echoed_and_absent_when_not_sent(client: TestClient) -> None:
    nonce = 2**160 + 12345
    assert _tst_info(_post(client, _request(nonce=nonce)))["nonce"].native == nonce
    assert _tst_info(_post(client, _request()))["nonce"].native is None


def test_certificates_only_when_requested(client: TestClient, federation: Federation) -> None:
    tsa = federation.runtime.tsa(REGION)
    with_certs = _post(client, _request(cert_req=True))["time_stamp_token"]["content"]
    sent = {c.chosen.dump() for c in with_certs["certificates"]}
    expected = {c.public_bytes(Encoding.DER) for c in (tsa.certificate, *tsa.chain)}
    assert sent == expected
    without = _post(client, _request(cert_req=False))["time_stamp_token"]["content"]
    assert not without["certificates"]


def test_token_fields_and_signed_attributes(federation: Federation) -> None:
    tsa = federation.runtime.tsa(REGION)
    now = utc_now().replace(microsecond=654321)
    request = _request(hashlib.sha384(b"x").digest(), "sha384", req_policy=TSA_POLICY)
    reply_der = tsa.respond(request, now=now)
    reply = TimeStampResp.load(reply_der)
    assert reply.dump(force=True) == reply_der, "the reply is not DER"
    tst = _tst_info(reply)
    assert tst["version"].native == "v1"
    assert tst["message_imprint"].dump() == tsp.TimeStampReq.load(request)["message_imprint"].dump()
    assert tst["gen_time"].native == now.replace(microsecond=0)
    assert tst["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    tsa_subject = tsa.certificate.subject.public_bytes()
    assert tst["tsa"].name == "directory_name"
    assert tst["tsa"].chosen.native == asn1_x509.Name.load(tsa_subject).native

    signed_data = reply["time_stamp_token"]["content"]
    assert signed_data["version"].native == "v3"
    (signer,) = signed_data["signer_infos"]
    assert signer["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    assert signer["sid"].chosen["serial_number"].native == tsa.certificate.serial_number
    attributes = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attributes["content_type"].native == "tst_info"
    tst_der = signed_data["encap_content_info"]["content"].contents
    assert attributes["message_digest"].native == hashlib.sha256(tst_der).digest()
    (cert_id,) = attributes["signing_certificate_v2"]["certs"]
    tsa_der = tsa.certificate.public_bytes(Encoding.DER)
    assert cert_id["cert_hash"].native == hashlib.sha256(tsa_der).digest()
    assert cert_id["issuer_serial"]["serial_number"].native == tsa.certificate.serial_number
    signed = b"\x31" + signer["signed_attrs"].dump()[1:]  # signed as a SET OF, not as [0]
    public_key = tsa.certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signer["signature"].native, signed, ec.ECDSA(hashes.SHA256()))


# --- rejections -------------------------------------------------------------------------------

_SHA256_NULL = bytes.fromhex("06096086480165030402010500")
# SHA-256 whose parameters are an empty OCTET STRING instead of absent or NULL.
SHA256_WITH_PARAMETERS = _request().replace(_SHA256_NULL, _SHA256_NULL[:-2] + b"\x04\x00")


REJECTIONS = {
    "sha1": (_request(b"\x00" * 20, "sha1"), "bad_alg"),
    "md5": (_request(b"\x00" * 16, "md5"), "bad_alg"),
    "sha256-short": (_request(b"\x00" * 20), "bad_data_format"),
    "sha384-long": (_request(b"\x00" * 64, "sha384"), "bad_data_format"),
    "policy": (_request(req_policy="1.2.3.4"), "unaccepted_policy"),
    "parameters": (SHA256_WITH_PARAMETERS, "bad_alg"),
    "version": (_request(version=2), "bad_request"),
    "extension": (
        _request(extensions=[{"extn_id": "1.2.3", "extn_value": b""}]),
        "unaccepted_extensions",
    ),
    "not-a-request": (b"\x30\x03\x02\x01\x01", "bad_data_format"),  # a SEQUENCE, though
}


@pytest.mark.parametrize(("body", "fail_info"), REJECTIONS.values(), ids=REJECTIONS.keys())
def test_unacceptable_requests_are_rejected_with_their_failure(
    client: TestClient, body: bytes, fail_info: str
) -> None:
    reply = TimeStampResp.load(client.post(URL, content=body, headers=QUERY).content)
    status = reply["status"]
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {fail_info}
    assert status["status_string"].native
    assert not reply["time_stamp_token"]


def test_no_token_outside_the_tsa_certificate_validity(federation: Federation) -> None:
    tsa = federation.runtime.tsa(REGION)
    later = tsa.certificate.not_valid_after_utc + timedelta(seconds=1)
    status = TimeStampResp.load(tsa.respond(_request(), now=later))["status"]
    assert status["fail_info"].native == {"system_failure"}


@pytest.mark.parametrize(
    "body",
    [b"", b"hello", b"\x30\x05\x02", _request() + b"\x00"],
    ids=["empty", "text", "truncated", "trailing-byte"],
)
def test_respond_raises_input_error_for_what_is_not_der(
    federation: Federation, body: bytes
) -> None:
    with pytest.raises(InputError):
        federation.runtime.tsa(REGION).respond(body)


# --- HTTP -------------------------------------------------------------------------------------


def _assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


def test_http_errors_are_problem_documents(client: TestClient) -> None:
    _assert_problem(client.post(URL, content=b"not DER at all", headers=QUERY), 400)
    _assert_problem(client.post(URL, content=_request()), 415)
    wrong_type = {"Content-Type": "application/ocsp-request"}
    _assert_problem(client.post(URL, content=_request(), headers=wrong_type), 415)
    _assert_problem(client.post(URL, content=b"\x30" * (64 * 1024 + 1), headers=QUERY), 413)
    chunked = (b"\x30" * 4096 for _ in range(17))  # no Content-Length: the stream is capped
    _assert_problem(client.post(URL, content=chunked, headers=QUERY), 413)
    for unknown in ("990000", "root"):
        response = client.post(f"/api/v1/ca/{unknown}/tsa", content=_request(), headers=QUERY)
        _assert_problem(response, 404)


def test_media_type_parameters_are_accepted(client: TestClient) -> None:
    headers = {"Content-Type": "Application/Timestamp-Query; charset=binary"}
    response = client.post(URL, content=_request(), headers=headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


# --- construction -----------------------------------------------------------------------------


class _SignOnlyKey(ec.EllipticCurvePrivateKey):
    """Stands in for an HSM key: it can sign and nothing else."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    def sign(self, data: bytes, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        return self._key.sign(data, signature_algorithm)

    def __getattribute__(self, name: str) -> object:
        if name in {"sign", "_key", "__class__", "__init__"}:
            return object.__getattribute__(self, name)
        raise AssertionError(f"the TSA used {name} on its key")

    # Not abstract any more (so it can be made), and never reached (see __getattribute__).
    exchange = curve = key_size = public_key = private_numbers = private_bytes = None  # type: ignore[assignment]
    __copy__ = __deepcopy__ = None  # type: ignore[assignment]


def test_runtime_builds_each_tsa_once_and_refuses_unknown_regions(
    federation: Federation,
) -> None:
    assert federation.runtime.tsa(REGION) is federation.runtime.tsa(REGION)
    assert federation.runtime.tsa("440000") is not federation.runtime.tsa(REGION)
    with pytest.raises(UnknownTsa):
        federation.runtime.tsa("990000")


def test_tsa_uses_its_key_only_to_sign_and_checks_it_matches(
    federation: Federation, files: Files
) -> None:
    tsa = federation.runtime.tsa(REGION)
    key = federation.runtime.key_store.private_key(f"{REGION}/tsa")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    allocator = SerialAllocator()
    hsm_like = TimeStampAuthority(tsa.certificate, _SignOnlyKey(key), tsa.chain, allocator)
    assert _tst_info(TimeStampResp.load(hsm_like.respond(_request())))["serial_number"].native
    with pytest.raises(CaError, match="does not match"):
        TimeStampAuthority(
            tsa.certificate, ec.generate_private_key(ec.SECP256R1()), tsa.chain, allocator
        )
    with pytest.raises(CaError, match="timeStamping"):
        TimeStampAuthority(tsa.chain[0], key, (), allocator)


def test_a_revoked_tsa_certificate_stops_being_used(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "SIGNER_RECHECK_SECONDS", 0.0)
    runtime = Runtime(federation.settings)
    original = runtime.tsa("330000").certificate
    with runtime.database.transaction() as session:
        newer = issue_with_new_key(
            session,
            runtime.key_store,
            "330000/tsa-recheck-test",
            "330000",
            runtime.issuer("330000"),
            TSA_PROFILE,
            subject_name("时间戳服务 (轮换)", organization="浙江省", province="浙江省"),
        )
    assert runtime.tsa("330000").certificate == newer.certificate
    with runtime.database.transaction() as session:
        revoke_certificate(session, "330000", newer.serial, x509.ReasonFlags.key_compromise)
    assert runtime.tsa("330000").certificate == original
