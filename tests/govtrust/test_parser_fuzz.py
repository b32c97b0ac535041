"""Property tests for the server's parsers of outside bytes: OCSP requests, RFC 3161
timestamp requests, CSRs and batch files (the verifier's parsers are in
tests/verifier/test_properties.py). Each gets genuine input mutated byte by byte and plain
garbage: it answers or refuses with its documented error, within a deadline, never
crashes. GOVTRUST_FUZZ_SCALE multiplies the examples (`make fuzz`)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import algos, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca.ocsp import OcspRequestError
from ca.registry import load_csr
from ca.tsa import TimeStampResp
from govtrust.batch import read_batch
from tests.conftest import Federation
from verifier.errors import InputError

SCALE = int(os.environ.get("GOVTRUST_FUZZ_SCALE", "1"))
REGION = "330000"


def examples(n: int) -> settings:
    # The same examples every run; each input must be answered within the deadline.
    return settings(
        max_examples=n * SCALE,
        derandomize=True,
        database=None,
        deadline=timedelta(seconds=2),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@st.composite
def mutated(draw: st.DrawFn, genuine: bytes) -> bytes:
    """Genuine bytes with a few flips, insertions, deletions or a truncation; or garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=4096))
    data = bytearray(genuine)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "length"]))
        if edit == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif edit == "truncate":
            del data[at:]
        else:  # a DER length byte set to something huge
            data[at] = draw(st.sampled_from([0x80, 0x84, 0xFF, 0x00]))
    return bytes(data)


def _seal_certificate(federation: Federation) -> x509.Certificate:
    from sqlalchemy import select

    from ca.models import Department, IssuedCertificate
    from seal_service.seals import active_seal

    with federation.runtime.database.transaction() as session:
        department = session.scalars(
            select(Department).where(Department.region_code == REGION, Department.code == "amr")
        ).one()
        seal = active_seal(session, department)
        return session.get_one(IssuedCertificate, seal.certificate_id).certificate


@pytest.fixture(scope="module")
def ocsp_request(federation: Federation) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        _seal_certificate(federation),
        federation.runtime.issuer(REGION).certificate,
        hashes.SHA256(),
    )
    return builder.build().public_bytes(Encoding.DER)


def test_ocsp_requests(federation: Federation, ocsp_request: bytes) -> None:
    responder = federation.runtime.ocsp_responder(REGION)

    @examples(150)
    @given(data=mutated(ocsp_request))
    def answered(data: bytes) -> None:
        with federation.runtime.database.transaction() as session:
            try:
                answer = responder.respond(session, data)
            except OcspRequestError:
                return
        response = ocsp.load_der_ocsp_response(answer)  # always a well-formed response
        if response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL:
            # ...and "good" only for the certificate asked about
            assert response.serial_number == ocsp.load_der_ocsp_request(data).serial_number

    answered()


@pytest.fixture(scope="module")
def timestamp_request() -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"a licence's signature")
    return tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": digest.finalize(),
            },
            "nonce": 12345,
            "cert_req": True,
        }
    ).dump()


def test_timestamp_requests(federation: Federation, timestamp_request: bytes) -> None:
    authority = federation.runtime.tsa(REGION)

    @examples(150)
    @given(data=mutated(timestamp_request))
    def answered(data: bytes) -> None:
        try:
            answer = authority.respond(data)
        except InputError:
            return
        response = TimeStampResp.load(answer)  # ca.tsa's: the token is optional
        status = response["status"]["status"].native
        if status == "granted":  # only for a request that is one, hashing what it says
            request = tsp.TimeStampReq.load(data)
            token = response["time_stamp_token"]["content"]["encap_content_info"]["content"]
            imprint = token.parsed["message_imprint"]
            assert imprint.dump() == request["message_imprint"].dump()

    answered()


@pytest.fixture(scope="module")
def csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "模糊测试")])
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    return request.public_bytes(Encoding.DER)


def test_certificate_signing_requests(csr: bytes) -> None:
    @examples(200)
    @given(data=mutated(csr))
    def answered(data: bytes) -> None:
        from ca.errors import CaError

        try:
            request = load_csr(data)
        except CaError:
            return
        assert request.is_signature_valid  # only a CSR whose signature verifies gets through

    answered()


BATCH_CSV = (
    "key,licence_type,holder_name,holder_id\n"
    "k1,business-licence,杭州模糊测试有限公司,91330100MA2B3C4D1A\n"
)
BATCH_JSONL = (
    '{"key": "k1", "licence_type": "business-licence", "holder_name": "甲", '
    '"holder_id": "91330100MA2B3C4D1A"}\n'
)


@pytest.mark.parametrize(("suffix", "genuine"), [(".csv", BATCH_CSV), (".jsonl", BATCH_JSONL)])
def test_batch_files(tmp_path: Path, suffix: str, genuine: str) -> None:
    path = tmp_path / f"batch{suffix}"

    @examples(150)
    @given(data=mutated(genuine.encode("utf-8")))
    def answered(data: bytes) -> None:
        path.write_bytes(data)
        try:
            rows = read_batch(path)
        except InputError:
            return
        assert rows and len({row.key for row in rows}) == len(rows)

    answered()
