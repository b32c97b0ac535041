"""PAdES levels and co-sealing, judged by independent validators: poppler's pdfsig (with an
NSS database trusting the dev root) and pyHanko fed only what the PDF itself embeds."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from ca.authority import ROOT_CODE, get_authority
from govtrust.issuance import SealingService
from seal_service.sealing import PadesLevel
from tests.conftest import Federation
from tests.tools import nss_database, pdfsig_blocks
from verifier.pdf import verify_pdf
from verifier.report import Verdict
from verifier.timeutil import utc_now

LEVELS = list(PadesLevel)


@pytest.fixture(scope="module")
def sealed(federation: Federation) -> dict[PadesLevel, bytes]:
    return {level: federation.issue("杭州云栖数字科技有限公司", level=level)[1] for level in LEVELS}


@pytest.fixture(scope="module")
def co_sealed(federation: Federation, sealed: dict[PadesLevel, bytes]) -> bytes:
    """The B-LT business licence co-sealed by 440000's amr (another region, own TSA)."""
    with federation.runtime.database.transaction() as session:
        service = SealingService.for_pdf(federation.runtime, PadesLevel.B_LT)
        return service.co_seal(session, sealed[PadesLevel.B_LT], "440000", "amr")


@pytest.fixture(scope="module")
def root(federation: Federation) -> asn1_x509.Certificate:
    with federation.runtime.database.transaction() as session:
        certificate = get_authority(session, ROOT_CODE).certificate
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


@pytest.fixture(scope="module")
def nss_root(root: asn1_x509.Certificate, tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("nss")
    root_pem = directory / "root.pem"
    root_pem.write_bytes(x509.load_der_x509_certificate(root.dump()).public_bytes(Encoding.PEM))
    return nss_database(directory / "db", root_pem)


def pdfsig(pdf: bytes, directory: Path, nss: str) -> list[str]:
    path = directory / "licence.pdf"
    path.write_bytes(pdf)
    return pdfsig_blocks(path, "-nssdir", nss)


def signature_names(pdf: bytes) -> list[str]:
    reader = PdfFileReader(io.BytesIO(pdf))
    return [s.field_name for s in reader.embedded_signatures]


@pytest.mark.parametrize("level", LEVELS)
def test_pdfsig_finds_every_signature_valid(
    level: PadesLevel, sealed: dict[PadesLevel, bytes], nss_root: str, tmp_path: Path
) -> None:
    blocks = pdfsig(sealed[level], tmp_path, nss_root)
    expected = ["Seal1", "DocTimeStamp1"] if level is PadesLevel.B_LTA else ["Seal1"]
    assert [b.split("Field Name: ")[1].split("\n")[0] for b in blocks] == expected
    assert "- Signature Validation: Signature is Valid." in blocks[0]
    # B-T ends with the seal; B-LT with a DSS update after it; B-LTA with the document
    # timestamp, which covers everything (pdfsig does not evaluate timestamp signatures).
    assert ("- Total document signed" in blocks[0]) is (level is PadesLevel.B_T)
    assert ("- Total document signed" in blocks[-1]) is (level is not PadesLevel.B_LT)


def test_pdfsig_finds_both_seals_of_a_co_sealed_licence_valid(
    co_sealed: bytes, nss_root: str, tmp_path: Path
) -> None:
    blocks = pdfsig(co_sealed, tmp_path, nss_root)
    assert len(blocks) == 2
    for block in blocks:
        assert "- Signature Validation: Signature is Valid." in block
    assert "浙江省" in blocks[0] and "广东省" in blocks[1]


@pytest.mark.parametrize("level", LEVELS)
def test_our_verifier_accepts_every_level(
    level: PadesLevel, sealed: dict[PadesLevel, bytes], federation: Federation
) -> None:
    report = verify_pdf(
        sealed[level], federation.trust_list(), at=utc_now(), crls=federation.bundle().crls
    )
    assert report.verdict is Verdict.VALID, report.reason
    assert report.seals[0].timestamped  # B-T and up: the region TSA proves the time


def test_our_verifier_accepts_a_co_seal_from_another_region(
    co_sealed: bytes, federation: Federation
) -> None:
    report = verify_pdf(
        co_sealed, federation.trust_list(), at=utc_now(), crls=federation.bundle().crls
    )
    assert report.verdict is Verdict.VALID, report.reason
    assert [s.region_code for s in report.seals] == ["330000", "440000"]
    assert all(s.timestamped for s in report.seals)


@pytest.mark.parametrize("level", [PadesLevel.B_LT, PadesLevel.B_LTA])
def test_embedded_data_alone_validates_the_seal(
    level: PadesLevel, sealed: dict[PadesLevel, bytes], root: asn1_x509.Certificate
) -> None:
    """pyHanko with nothing but the pinned root and the PDF's own DSS, revocation checking
    hard-failing when data is missing, at the time the signature timestamp proves."""
    reader = PdfFileReader(io.BytesIO(sealed[level]))
    dss = DocumentSecurityStore.read_dss(reader)
    signature = reader.embedded_regular_signatures[0]
    lenient = ValidationContext(trust_roots=[root], allow_fetching=False)
    first = validate_pdf_signature(signature, lenient, ts_validation_context=lenient)
    assert first.timestamp_validity is not None
    at = first.timestamp_validity.timestamp
    context = dss.as_validation_context(
        {
            "trust_roots": [root],
            "allow_fetching": False,
            "revocation_mode": "hard-fail",
            "moment": at,
        }
    )
    status = validate_pdf_signature(signature, context, ts_validation_context=context)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert not status.revoked
    # Without the DSS the same hard-fail validation cannot decide.
    bare = ValidationContext(
        trust_roots=[root],
        allow_fetching=False,
        revocation_mode="hard-fail",
        moment=at,
        ocsps=[],
        crls=[],
    )
    assert not validate_pdf_signature(signature, bare, ts_validation_context=bare).bottom_line


def test_dss_holds_good_ocsp_answers_for_the_seal_and_the_tsa(
    sealed: dict[PadesLevel, bytes], federation: Federation
) -> None:
    reader = PdfFileReader(io.BytesIO(sealed[PadesLevel.B_LT]))
    dss = DocumentSecurityStore.read_dss(reader)
    answers = [ocsp.load_der_ocsp_response(o.get_object().data) for o in dss.ocsps]
    assert len(answers) == 2
    assert all(a.certificate_status is ocsp.OCSPCertStatus.GOOD for a in answers)
    signature = reader.embedded_regular_signatures[0]
    assert {a.serial_number for a in answers} == {
        signature.signer_cert.serial_number,
        federation.runtime.tsa("330000").certificate.serial_number,
    }
    assert len(dss.crls) == 1  # the national root's, covering the region CA


def test_b_lta_adds_a_document_timestamp_after_the_dss(sealed: dict[PadesLevel, bytes]) -> None:
    assert signature_names(sealed[PadesLevel.B_LTA]) == ["Seal1", "DocTimeStamp1"]
    assert signature_names(sealed[PadesLevel.B_T]) == ["Seal1"]
