"""One PdfVerifier judging many files: what it remembers between files never changes a
verdict. Each test runs its files through a single verifier, in an order where a wrong
memo would show (the genuine licence first, so everything about it is remembered)."""

from __future__ import annotations

import dataclasses
import io
from datetime import datetime, timedelta

import pytest
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import generic as pdf_generic
from pyhanko.pdf_utils.misc import PdfStreamError
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.validation import generic_cms

from ca.profiles import NATIONAL_ROOT, REGION_CA, SEAL, Issuer
from ca.profiles import build_certificate as build
from seal_service.sealing import PdfSealer, SealMaterial
from tests.verifier.pdf_support import Dev, byte_ranges, seal
from verifier.pdf import PdfReport, PdfVerifier, verify_pdf
from verifier.report import Indication, Verdict
from verifier.timeutil import utc_now
from verifier.trust_list import (
    ServiceStatus,
    ServiceType,
    StatusChange,
    TrustedService,
    TrustList,
)

# The `dev` fixture (the session federation's genuine licence, sealers, CRLs) is in
# tests/verifier/conftest.py.


def judged(report: PdfReport, verdict: Verdict, indication: Indication) -> PdfReport:
    assert (report.verdict, report.indication) == (verdict, indication), report
    return report


def _tampered(pdf: bytes) -> bytes:
    """One bit of the page content (inside the first signed range) flipped."""
    offset = pdf.index(b"stream\n") + 40
    assert offset < byte_ranges(pdf)[1]
    flipped = bytearray(pdf)
    flipped[offset] ^= 0x01
    return bytes(flipped)


def _edit_service(
    trust_list: TrustList, region: str, service_type: ServiceType, **changes: object
) -> TrustList:
    def edit(service: TrustedService) -> TrustedService:
        wanted = service.region_code == region and service.service_type is service_type
        return dataclasses.replace(service, **changes) if wanted else service  # type: ignore[arg-type]

    regions = tuple(
        dataclasses.replace(r, services=tuple(edit(s) for s in r.services))
        for r in trust_list.regions
    )
    return dataclasses.replace(trust_list, regions=regions)


def _service(trust_list: TrustList, region: str, service_type: ServiceType) -> TrustedService:
    (service,) = (s for s in trust_list.services(service_type) if s.region_code == region)
    return service


def _withdrawn_after(
    trust_list: TrustList, region: str, service_type: ServiceType, since: datetime
) -> TrustList:
    history = _service(trust_list, region, service_type).history
    return _edit_service(
        trust_list,
        region,
        service_type,
        history=(*history, StatusChange(ServiceStatus.WITHDRAWN, since)),
    )


def test_genuine_tampered_withdrawn_genuine_through_one_verifier(dev: Dev) -> None:
    """440000's seal CA is withdrawn in this list (a second after it was granted), 330000's
    is not: the verifier's memos about the genuine 330000 licence must neither make the
    tampered copy nor the 440000 licence pass, nor fail the genuine one afterwards."""
    sealed_440000 = seal(dev, dev.sealers["440000"], dev.unsealed)
    granted = _service(dev.trust_list, "440000", ServiceType.SEAL_CA).history[-1].since
    trust_list = _withdrawn_after(
        dev.trust_list, "440000", ServiceType.SEAL_CA, granted + timedelta(seconds=1)
    )
    verifier = PdfVerifier(trust_list, crls=dev.crls)
    at = utc_now()

    first = judged(verifier.verify(dev.genuine, at=at), Verdict.VALID, Indication.TOTAL_PASSED)
    assert [s.region_code for s in first.seals] == ["330000"]
    judged(verifier.verify(_tampered(dev.genuine), at=at), Verdict.INVALID, Indication.HASH_FAILURE)
    withdrawn = judged(
        verifier.verify(sealed_440000, at=at),
        Verdict.INVALID,
        Indication.NO_CERTIFICATE_CHAIN_FOUND,
    )
    assert withdrawn.seals[0].region_code is None
    again = judged(verifier.verify(dev.genuine, at=at), Verdict.VALID, Indication.TOTAL_PASSED)
    assert again == first
    # and the one-off function agrees on every file
    for pdf in (dev.genuine, _tampered(dev.genuine), sealed_440000):
        assert verify_pdf(pdf, trust_list, at=at, crls=dev.crls) == verifier.verify(pdf, at=at)
    # the same 440000 licence under the genuine list, in a verifier of its own, is VALID
    judged(
        PdfVerifier(dev.trust_list, crls=dev.crls).verify(sealed_440000, at=at),
        Verdict.VALID,
        Indication.TOTAL_PASSED,
    )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_a_remembered_seal_certificate_does_not_vouch_for_a_namesake(dev: Dev) -> None:
    """A rogue hierarchy copies the real root, region CA and seal subject names exactly;
    only the keys differ. After the genuine seal certificate has been judged (its chain,
    issuer and revocation answers remembered), the namesake is still refused, and the
    genuine licence still passes after it."""
    root_key, region_key, seal_key = _key(), _key(), _key()
    root_dn, region_dn = dev.certs["root"].subject, dev.certs["330000"].subject
    root = build(NATIONAL_ROOT, root_dn, root_key.public_key(), self_signing_key=root_key)
    region = build(
        REGION_CA, region_dn, region_key.public_key(), issuer=Issuer(root, root_key, NATIONAL_ROOT)
    )
    seal_cert = build(
        SEAL,
        dev.certs["seal-330000"].subject,
        seal_key.public_key(),
        issuer=Issuer(region, region_key, REGION_CA),
    )
    assert seal_cert.subject == dev.certs["seal-330000"].subject
    assert seal_cert.public_bytes(Encoding.DER) != dev.certs["seal-330000"].public_bytes(
        Encoding.DER
    )
    forged = seal(
        dev,
        PdfSealer(SealMaterial(seal_cert, seal_key, (region, root), dev.stamp, "x")),
        dev.unsealed,
    )
    verifier = PdfVerifier(dev.trust_list, crls=dev.crls)
    at = utc_now()

    genuine = judged(verifier.verify(dev.genuine, at=at), Verdict.VALID, Indication.TOTAL_PASSED)
    for _ in range(2):
        report = judged(
            verifier.verify(forged, at=at), Verdict.INVALID, Indication.NO_CERTIFICATE_CHAIN_FOUND
        )
        assert report.seals[0].signer == genuine.seals[0].signer
        assert report.seals[0].region_code is None
    assert verifier.verify(dev.genuine, at=at) == genuine


def test_the_validation_time_is_part_of_every_memo(dev: Dev) -> None:
    """Judged now, then past the trust list's next_update, then now again."""
    verifier = PdfVerifier(dev.trust_list, crls=dev.crls)
    now = utc_now()
    late = dev.trust_list.next_update + timedelta(seconds=1)
    valid = judged(verifier.verify(dev.genuine, at=now), Verdict.VALID, Indication.TOTAL_PASSED)
    stale = verifier.verify(dev.genuine, at=late)
    assert stale.verdict is Verdict.INDETERMINATE, stale
    assert stale == verify_pdf(dev.genuine, dev.trust_list, at=late, crls=dev.crls)
    assert verifier.verify(dev.genuine, at=now) == valid


def test_one_verifier_reports_what_verify_pdf_reports_in_any_order(dev: Dev) -> None:
    """A co-sealed licence (two regions, two TSAs, B-LT co-seal after a B-LTA licence), a
    licence sealed by the other region, a tampered copy and the genuine one."""
    files = [
        dev.genuine,
        dev.co_seal_440000(dev.genuine),
        seal(dev, dev.sealers["440000"], dev.unsealed),
        _tampered(dev.genuine),
    ]
    at = utc_now()
    expected = [verify_pdf(pdf, dev.trust_list, at=at, crls=dev.crls) for pdf in files]
    assert [r.verdict for r in expected] == [Verdict.VALID] * 3 + [Verdict.INVALID]
    verifier = PdfVerifier(dev.trust_list, crls=dev.crls)
    for order in (range(len(files)), reversed(range(len(files)))):
        for index in order:
            assert verifier.verify(files[index], at=at) == expected[index]


# --- the signature timestamp, judged at the validation time --------------------------------


def test_a_timestamp_whose_tsa_was_withdrawn_since_proves_no_time(dev: Dev) -> None:
    """The licence's TSA is withdrawn after the seal was made: judged now, its timestamp
    proves nothing (the seal is judged at the validation time instead), with or without
    what the verifier remembers from the genuine list."""
    signed_at = verify_pdf(dev.genuine, dev.trust_list, at=utc_now(), crls=dev.crls)
    signing_time = signed_at.seals[0].signing_time
    assert signed_at.seals[0].timestamped and signing_time is not None
    trust_list = _withdrawn_after(
        dev.trust_list, "330000", ServiceType.TSA, signing_time + timedelta(seconds=1)
    )
    at = utc_now() + timedelta(seconds=2)
    verifier = PdfVerifier(trust_list, crls=dev.crls)
    for _ in range(2):
        report = verifier.verify(dev.genuine, at=at)
        assert not report.seals[0].timestamped, report
        assert report == verify_pdf(dev.genuine, trust_list, at=at, crls=dev.crls)


def test_a_tsa_granted_only_after_the_seal_was_made(dev: Dev) -> None:
    """Trusted at the validation time, the TSA was not yet granted at the time it stamped:
    the stamp is judged at the validation time first, then the seal at the stamped time,
    as in general (the one-validation shortcut needs the same TSAs granted at both)."""
    first = verify_pdf(dev.genuine, dev.trust_list, at=utc_now(), crls=dev.crls).seals[0]
    assert first.signing_time is not None
    since = first.signing_time + timedelta(seconds=1)
    trust_list = _edit_service(
        dev.trust_list,
        "330000",
        ServiceType.TSA,
        history=(StatusChange(ServiceStatus.GRANTED, since),),
    )
    at = utc_now() + timedelta(seconds=2)
    report = PdfVerifier(trust_list, crls=dev.crls).verify(dev.genuine, at=at)
    # The proven time is the stamped one: the TSA is trusted at `at`, which is what counts
    # (pyHanko, asked at the stamped time, would not call the stamp trusted).
    assert report.seals[0].timestamped
    assert report.seals[0].signing_time == first.signing_time
    assert report.seals[0].verdict is Verdict.VALID, report
    assert report == verify_pdf(dev.genuine, trust_list, at=at, crls=dev.crls)


# --- the two pyHanko hot spots replaced in verifier.pdf ------------------------------------

_HEX_INPUTS = [
    b"<>",
    b"<41>",
    b"<4>",
    b"<414>",
    b"<41 42\n43\t44\r\n45\x00 46\x0c>",
    b"<FEFF004100420043>",
    b"<feff0041>",
    b"<41 % a comment > here\n 42>",
    b"<41x42>",
    b"<41",
    b"<" + b"ab" * 70_000 + b">",
    b"<" + b"0" * 20_000 + b"\n>",
]


@pytest.mark.parametrize("raw", _HEX_INPUTS, ids=range(len(_HEX_INPUTS)))
def test_hex_strings_read_as_pyhanko_reads_them(raw: bytes) -> None:
    fast = pdf_generic.read_hex_string_from_stream
    original = fast.__wrapped__  # type: ignore[attr-defined]
    assert fast is not original

    def read(reader: object) -> tuple[object, int] | type[Exception]:
        stream = io.BytesIO(raw + b" trailing")
        try:
            value = reader(stream)  # type: ignore[operator]
        except PdfStreamError:
            return PdfStreamError
        encoding = getattr(value, "autodetected_encoding", None)
        return (type(value), value, encoding, stream.tell())

    assert read(fast) == read(original)


def test_signing_certificate_matches_are_remembered_by_exact_encoding(dev: Dev) -> None:
    check = generic_cms.check_ess_certid
    original = check.__wrapped__  # type: ignore[attr-defined]
    genuine = asn1_x509.Certificate.load(dev.certs["seal-330000"].public_bytes(Encoding.DER))
    other = asn1_x509.Certificate.load(dev.certs["seal-440000"].public_bytes(Encoding.DER))
    certid = as_signing_certificate_v2(genuine)["certs"][0]
    assert isinstance(certid, tsp.ESSCertIDv2)
    for _ in range(2):
        assert check(genuine, certid) is original(genuine, certid) is True
        assert check(other, certid) is original(other, certid) is False
