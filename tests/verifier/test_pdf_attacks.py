"""Attacks on a sealed licence PDF: every one must end INVALID (or INDETERMINATE), never VALID."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from ca.authority import current_signer_certificate, issue_with_new_key
from ca.ceremony import ROOT_KEY_NAME as ROOT_KEY
from ca.keys import FileKeyStore, KeyRef
from ca.profiles import (
    LOG_SIGNER,
    NATIONAL_ROOT,
    PROFILES,
    REGION_CA,
    SEAL,
    Issuer,
    subject_name,
)
from ca.profiles import build_certificate as build
from ca.revocation import revoke_certificate
from seal_service.sealing import PdfSealer, SealMaterial
from tests.conftest import Federation
from tests.verifier.pdf_support import (
    CO_SEAL_BOX,
    SEAL_BOX,
    Dev,
    check,
    seal,
    verify,
)
from tests.verifier.pdf_support import byte_ranges as _ranges
from tests.verifier.pdf_support import rewrite_byte_range as _rewrite_byte_range
from tests.verifier.pdf_support import update as _update
from verifier.report import Indication, Verdict
from verifier.timeutil import utc_now
from verifier.trust_list import (
    ServiceStatus,
    ServiceType,
    StatusChange,
    TrustList,
)

# The `dev` fixture (the session federation's genuine licence, sealers and CRLs) and the
# helpers are shared with the other PDF attack modules: tests/verifier/conftest.py and
# pdf_support.py.


def test_genuine_licence_is_valid(dev: Dev) -> None:
    report = check(verify(dev, dev.genuine), Verdict.VALID, Indication.TOTAL_PASSED, "1 seal(s)")
    assert [(s.region_code, s.department) for s in report.seals] == [
        ("330000", "浙江省市场监督管理局")
    ]


# --- bytes changed or added -----------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        lambda data: data.index(b"stream\n") + 40,  # first signed range: page content stream
        lambda data: data.index(b"/M (D\\072", _ranges(data)[2]) + 12,  # 2nd: year of /M
    ],
    ids=["page-content", "signature-dictionary"],
)
def test_flipped_byte_in_signed_range(dev: Dev, where: Callable[[bytes], int]) -> None:
    offset, (_, first_len, second_start, _) = where(dev.genuine), _ranges(dev.genuine)
    assert offset < first_len or offset >= second_start
    flipped = bytearray(dev.genuine)
    flipped[offset] ^= 0x01
    check(verify(dev, bytes(flipped)), Verdict.INVALID, Indication.HASH_FAILURE, "changed after")


@pytest.mark.parametrize("tail", [b"% appended\n", b"\x00" * 64, b"startxref\n{xref}\n%%EOF\n"])
def test_bytes_after_eof(dev: Dev, tail: bytes) -> None:
    assert dev.genuine.endswith(b"%%EOF\n")
    xref = dev.genuine[dev.genuine.rindex(b"startxref") :].split()[1]
    appended = dev.genuine + tail.replace(b"{xref}", xref)
    check(verify(dev, appended), Verdict.INVALID, Indication.HASH_FAILURE, "end of the file")


def _shift(data: bytes, index: int, delta: int) -> bytes:
    values = list(_ranges(data))
    values[index] += delta
    return _rewrite_byte_range(data, tuple(values))  # type: ignore[arg-type]


def _gap_onto_trailer_id(data: bytes) -> bytes:
    """The gap moved onto the trailer /ID: a well-formed hex string, but not the signature."""
    start = data.rindex(b"/ID [ <") + len(b"/ID [ ")
    end = data.index(b">", start) + 1
    return _rewrite_byte_range(data, (0, start, end, len(data) - end))


def _end_of_contents(data: bytes, new: bytes) -> bytes:
    """Overwrite the zero padding at the end of the /Contents hex (the unsigned gap)."""
    end = _ranges(data)[2] - 1
    assert data[end - len(new) : end] == b"0" * len(new)
    return data[: end - len(new)] + new + data[end:]


GAP_AND_RANGE_TAMPERING: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "range-ends-1-byte-early": (lambda d: _shift(d, 3, -1), "end of the file"),
    "range-ends-200-bytes-early": (lambda d: _shift(d, 3, -200), "end of the file"),
    "range-ends-beyond-the-file": (lambda d: _shift(d, 3, 10), "end of the file"),
    "gap-widened-over-/Contents-key": (lambda d: _shift(d, 1, -10), "not the signature's hex"),
    "gap-moved-onto-trailer-/ID": (_gap_onto_trailer_id, "not exactly this signature's"),
    # `<…00>` to `<…0 >`: PDF pads an odd hex string with 0, so the parsed /Contents is the
    # same and pyHanko alone calls the file intact; the gap is no longer the signature's hex.
    "odd-hex-digit-count": (lambda d: _end_of_contents(d, b" "), "not the signature's hex"),
    # unsigned data hidden after the CMS inside /Contents must not pass as sealed
    "data-stuffed-in-padding": (
        lambda d: _end_of_contents(d, b"FORGED: smuggled unsigned bytes".hex().encode()),
        "after the signature",
    ),
}


@pytest.mark.parametrize("attack", GAP_AND_RANGE_TAMPERING)
def test_byte_range_and_unsigned_gap_tampering(dev: Dev, attack: str) -> None:
    tamper, reason = GAP_AND_RANGE_TAMPERING[attack]
    tampered = tamper(dev.genuine)
    assert len(tampered) == len(dev.genuine) and tampered != dev.genuine
    check(verify(dev, tampered), Verdict.INVALID, Indication.HASH_FAILURE, reason)


# --- incremental updates after sealing ------------------------------------------------------


def _stream(writer: IncrementalPdfFileWriter, content: bytes) -> generic.IndirectObject:
    return writer.add_object(generic.StreamObject(stream_data=content))


def _numbers(*values: int) -> generic.ArrayObject:
    return generic.ArrayObject(generic.NumberObject(v) for v in values)


def _overwrite_content(writer: IncrementalPdfFileWriter) -> None:
    page_ref, _ = writer.find_page_for_modification(0)
    content = _stream(writer, b"BT /F1 36 Tf 72 720 Td (FORGED) Tj ET")
    page_ref.get_object()[pdf_name("/Contents")] = content
    writer.mark_update(page_ref)


def _cover_up_content(writer: IncrementalPdfFileWriter) -> None:
    writer.add_stream_to_page(0, _stream(writer, b"q 1 1 1 rg 60 560 480 140 re f Q"))


def _add_page(writer: IncrementalPdfFileWriter) -> None:
    page = {"/Type": pdf_name("/Page"), "/MediaBox": _numbers(0, 0, 595, 842)}
    page |= {"/Resources": generic.DictionaryObject(), "/Contents": _stream(writer, b"0 g")}
    writer.insert_page(generic.DictionaryObject({pdf_name(k): v for k, v in page.items()}))


def _add_annotation(writer: IncrementalPdfFileWriter) -> None:
    page_ref, _ = writer.find_page_for_modification(0)
    annotation = {"/Type": pdf_name("/Annot"), "/Subtype": pdf_name("/FreeText")}
    annotation |= {"/Rect": _numbers(72, 600, 500, 640), "/DA": generic.TextStringObject("0 g")}
    annotation["/Contents"] = generic.TextStringObject("有效期至 2099年12月31日")
    annot = generic.DictionaryObject({pdf_name(k): v for k, v in annotation.items()})
    writer.register_annotation(page_ref, writer.add_object(annot))


MODIFICATIONS = {
    "overwrite-content": _overwrite_content,
    "cover-up-content": _cover_up_content,
    "add-page": _add_page,
    "add-annotation": _add_annotation,
}


@pytest.mark.parametrize("modification", MODIFICATIONS)
def test_incremental_update_after_sealing(dev: Dev, modification: str) -> None:
    """An unsigned revision after the last seal may only add validation data (a DSS)."""
    tampered = _update(dev.genuine, MODIFICATIONS[modification])
    check(verify(dev, tampered), Verdict.INVALID, Indication.FORMAT_FAILURE, "changed after")


@pytest.mark.parametrize("modification", MODIFICATIONS)
def test_incremental_update_then_co_sealed_by_a_genuine_seal(dev: Dev, modification: str) -> None:
    """A genuine seal over the change cannot bless what the first seal's DocMDP forbids."""
    tampered = dev.co_seal_440000(_update(dev.genuine, MODIFICATIONS[modification]))
    report = check(verify(dev, tampered), Verdict.INVALID, Indication.FORMAT_FAILURE, "Seal1: ")
    assert [s.verdict for s in report.seals] == [Verdict.INVALID, Verdict.VALID]


def test_update_whose_root_no_longer_has_the_seal(dev: Dev) -> None:
    """MEASURED.md: other tools then see zero signatures, not a failure; a licence without a
    seal is INVALID."""

    def drop_acroform(writer: IncrementalPdfFileWriter) -> None:
        del writer.root["/AcroForm"]
        writer.update_root()

    tampered = _update(dev.genuine, drop_acroform)
    check(verify(dev, tampered), Verdict.INVALID, Indication.NO_SIGNATURE, "no seal")


def test_unsealed_licence(dev: Dev) -> None:
    report = check(verify(dev, dev.unsealed), Verdict.INVALID, Indication.NO_SIGNATURE, "no seal")
    assert report.seals == ()


def test_invisible_co_seal_by_another_department_stays_valid(dev: Dev) -> None:
    report = verify(dev, dev.co_seal_440000(dev.genuine))
    check(report, Verdict.VALID, Indication.TOTAL_PASSED, "2 seal(s) valid")
    assert [s.region_code for s in report.seals] == ["330000", "440000"]


def test_visible_co_seal_by_another_department_stays_valid(dev: Dev) -> None:
    two_positions = seal(dev, dev.sealers["330000"], dev.unsealed, (SEAL_BOX, CO_SEAL_BOX))
    report = verify(dev, seal(dev, dev.sealers["440000"], two_positions))
    check(report, Verdict.VALID, Indication.TOTAL_PASSED, "2 seal(s) valid")
    assert [s.region_code for s in report.seals] == ["330000", "440000"]


# --- who may seal ---------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_rogue_hierarchy_with_identical_names(dev: Dev) -> None:
    """Root, region CA and seal copy the real subject DNs exactly; only the keys differ."""
    root_key, region_key, seal_key = _key(), _key(), _key()
    root_dn, region_dn = dev.certs["root"].subject, dev.certs["330000"].subject
    root = build(NATIONAL_ROOT, root_dn, root_key.public_key(), self_signing_key=root_key)
    region_issuer = Issuer(root, root_key, NATIONAL_ROOT)
    region = build(REGION_CA, region_dn, region_key.public_key(), issuer=region_issuer)
    seal_issuer = Issuer(region, region_key, REGION_CA)
    seal_cert = build(
        SEAL, dev.certs["seal-330000"].subject, seal_key.public_key(), issuer=seal_issuer
    )
    forged = seal(
        dev,
        PdfSealer(SealMaterial(seal_cert, seal_key, (region, root), dev.stamp, "x")),
        dev.unsealed,
    )
    report = verify(dev, forged)
    check(report, Verdict.INVALID, Indication.NO_CERTIFICATE_CHAIN_FOUND, "trust list")
    assert report.seals[0].signer == verify(dev, dev.genuine).seals[0].signer
    assert report.seals[0].region_code is None


def test_seal_certified_directly_by_the_national_root(dev: Dev, federation: Federation) -> None:
    """The hierarchy alone confers nothing: the national root is not a seal-ca service."""
    passphrase = federation.settings.key_passphrase_bytes() or b""
    root_key = FileKeyStore(federation.home / "keys-dev" / "root", passphrase).private_key(ROOT_KEY)
    profile = dataclasses.replace(SEAL, allowed_issuer_profiles=frozenset({NATIONAL_ROOT.name}))
    issuer, seal_key = Issuer(dev.certs["root"], root_key, NATIONAL_ROOT), _key()
    seal_cert = build(
        profile, dev.certs["seal-330000"].subject, seal_key.public_key(), issuer=issuer
    )
    forged = seal(
        dev, PdfSealer(SealMaterial(seal_cert, seal_key, (), dev.stamp, "x")), dev.unsealed
    )
    check(verify(dev, forged), Verdict.INVALID, Indication.NO_CERTIFICATE_CHAIN_FOUND, "granted")


def _edit_440000(trust_list: TrustList, **changes: object) -> TrustList:
    """Change 440000's seal-ca service; its other services stay as they are."""

    def edit(region: object) -> object:
        services = tuple(
            dataclasses.replace(s, **changes) if s.service_type is ServiceType.SEAL_CA else s
            for s in region.services  # type: ignore[attr-defined]
        )
        return dataclasses.replace(region, services=services)  # type: ignore[type-var]

    regions = tuple(edit(r) if r.code == "440000" else r for r in trust_list.regions)
    return dataclasses.replace(trust_list, regions=regions)  # type: ignore[arg-type]


def _withdrawn(trust_list: TrustList) -> TrustList:
    """Withdrawn one second after it was granted (the verdicts are taken later)."""
    (service,) = (
        s
        for s in trust_list.region("440000").services  # type: ignore[union-attr]
        if s.service_type is ServiceType.SEAL_CA
    )
    since = service.history[-1].since + timedelta(seconds=1)
    return _edit_440000(
        trust_list, history=(*service.history, StatusChange(ServiceStatus.WITHDRAWN, since))
    )


UNGRANTED: dict[str, Callable[[TrustList], TrustList]] = {
    "region-removed": lambda tl: dataclasses.replace(
        tl, regions=tuple(r for r in tl.regions if r.code != "440000")
    ),
    "withdrawn": _withdrawn,
    "granted-only-from-tomorrow": lambda tl: _edit_440000(
        tl, history=(StatusChange(ServiceStatus.GRANTED, utc_now() + timedelta(days=1)),)
    ),
    "listed-as-identity-provider": lambda tl: _edit_440000(
        tl, service_type=ServiceType.IDENTITY_PROVIDER
    ),
}


@pytest.mark.parametrize("edit", [None, *UNGRANTED])
def test_seal_of_a_region_whose_seal_ca_is_not_granted(
    dev: Dev, federation: Federation, edit: str | None
) -> None:
    sealed_440000 = seal(dev, dev.sealers["440000"], dev.unsealed)
    at = utc_now() + timedelta(seconds=2)
    if edit is None:  # control: the genuine list accepts it
        check(verify(dev, sealed_440000, at=at), Verdict.VALID, Indication.TOTAL_PASSED, "valid")
        return
    edited = federation.resign(UNGRANTED[edit](dev.trust_list))
    report = verify(dev, sealed_440000, edited, at=at)
    check(report, Verdict.INVALID, Indication.NO_CERTIFICATE_CHAIN_FOUND, "granted")
    # the same edited list still accepts the other region's licence
    check(verify(dev, dev.genuine, edited, at=at), Verdict.VALID, Indication.TOTAL_PASSED, "valid")


def test_stale_trust_list_is_never_valid(dev: Dev) -> None:
    late = dev.trust_list.next_update + timedelta(seconds=1)
    report = verify(dev, dev.genuine, at=late)
    check(report, Verdict.INDETERMINATE, Indication.TRY_LATER, "next_update")
    # staleness never hides a proven fault
    report = verify(dev, dev.genuine + b"% x\n", at=late)
    check(report, Verdict.INVALID, Indication.HASH_FAILURE, "end of the file")


@pytest.mark.parametrize(
    "profile_name", ["tsa", "ocsp-responder", "log-signer", "non-repudiation-without-eku"]
)
def test_a_genuine_region_key_for_another_service_cannot_seal(
    dev: Dev, federation: Federation, profile_name: str
) -> None:
    """Certificates for other services of the same region CA chain to a granted seal-ca,
    but usage is bound to the service: only a document-signing seal certificate seals."""
    runtime = federation.runtime
    with runtime.database.transaction() as session:
        if profile_name in {"log-signer", "non-repudiation-without-eku"}:
            # The second carries a seal's key usage, only not its document-signing EKU.
            usage = frozenset({"digital_signature", "content_commitment"})
            profile = (
                LOG_SIGNER
                if profile_name == "log-signer"
                else dataclasses.replace(LOG_SIGNER, key_usage=usage)
            )
            row = issue_with_new_key(
                session,
                runtime.key_store,
                f"330000/{profile_name}-attack",
                "330000",
                runtime.issuer("330000"),
                profile,
                subject_name("日志签名", organization="浙江省", province="浙江省"),
            )
        else:
            row = current_signer_certificate(session, "330000", PROFILES[profile_name], utc_now())
        assert row is not None and row.key_ref is not None
        certificate = row.certificate
        key = runtime.key_stores.private_key(KeyRef.parse(row.key_ref))
    material = SealMaterial(certificate, key, (dev.certs["330000"],), dev.stamp, "x")
    try:
        forged = seal(dev, PdfSealer(material), dev.unsealed)
    finally:
        if profile_name in {"log-signer", "non-repudiation-without-eku"}:
            # The shared federation must not sign its log with this unlisted key later:
            # the server signs with its newest unrevoked log-signer certificate.
            with runtime.database.transaction() as session:
                revoke_certificate(
                    session,
                    "330000",
                    format(certificate.serial_number, "x"),
                    x509.ReasonFlags.cessation_of_operation,
                )
    report = verify(dev, forged)
    assert report.verdict is Verdict.INVALID, report
