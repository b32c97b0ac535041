"""The attack corpus of issue #7: forgeries built from our own sealed licences.

Shadow attacks (Mainka, Mladenov, Rohlmann: "Shadow Attacks: Hiding and Replacing Content
in Signed PDFs", NDSS 2021): the attacker hands a department a document that already holds
the content to show later, hidden, and after sealing only flips what is shown (hide), swaps
an appearance or a font (replace), or points the page at other signed content
(hide-and-replace). Universal signature forgery, incremental saving and signature wrapping
(Mladenov et al., "1 Trillion Dollar Refund", CCS 2019): signature dictionaries a validator
cannot use, updates after the seal, and signed bytes moved so that the parsed document is
not the signed one. DocMDP: the first seal certifies the licence and allows form filling
and signing only.

Every attack must end INVALID with a reason naming the fault, or be refused as unusable
input (InputError, exit 2); every legitimate later change (co-seal, document timestamp, DSS
update) must stay VALID. A `strict` xfail here is a verifier bug found by this corpus: the
test states the correct outcome and fails until the bug is fixed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pyhanko.sign.validation
import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import parser as asn1_parser
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import read_certification_data, validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from ca.keys import KeyRef
from seal_service.sealing import KeySigner, ResponderTimeStamper
from seal_service.seals import active_seal
from tests.conftest import Federation
from tests.verifier.pdf_support import (
    CO_SEAL_BOX,
    SEAL_BOX,
    Dev,
    amr_department,
    byte_ranges,
    check,
    rewrite_byte_range,
    seal,
    update,
    verify,
)
from verifier.errors import InputError
from verifier.pdf import PdfReport
from verifier.report import Indication, Verdict

Modify = Callable[[IncrementalPdfFileWriter], None]

CHANGED_AFTER_SEAL1 = "Seal1: the document was changed after this seal beyond what it allows"
# A black bar: what the attacker wants shown (a forged date, a different name...).
FORGED = b"q 0 g 72 420 300 40 re f Q"
# A white box over the forged bar: what the department sees when it seals.
OVERLAY = b"q 1 1 1 rg 60 400 480 80 re f Q"


# --- building blocks ------------------------------------------------------------------------


def _numbers(*values: int) -> generic.ArrayObject:
    return generic.ArrayObject(generic.NumberObject(v) for v in values)


def _dictionary(entries: dict[str, generic.PdfObject]) -> generic.DictionaryObject:
    return generic.DictionaryObject({pdf_name(k): v for k, v in entries.items()})


def _stream(writer: IncrementalPdfFileWriter, content: bytes) -> generic.IndirectObject:
    return writer.add_object(generic.StreamObject(stream_data=content))


def _form_xobject(
    writer: IncrementalPdfFileWriter, content: bytes, box: tuple[int, int, int, int]
) -> generic.IndirectObject:
    entries = {"/Type": pdf_name("/XObject"), "/Subtype": pdf_name("/Form")}
    entries |= {"/BBox": _numbers(*box), "/Resources": generic.DictionaryObject()}
    return writer.add_object(generic.StreamObject(_dictionary(entries), stream_data=content))


def _page(writer: IncrementalPdfFileWriter) -> tuple[generic.IndirectObject, generic.PdfObject]:
    page_ref, _ = writer.find_page_for_modification(0)
    return page_ref, page_ref.get_object()


def _field(writer: IncrementalPdfFileWriter, name: str) -> generic.IndirectObject:
    for ref in writer.root["/AcroForm"]["/Fields"]:
        if ref.get_object()["/T"] == name:
            return ref
    raise AssertionError(f"no field {name}")


def _redefine_stream(
    writer: IncrementalPdfFileWriter, ref: generic.IndirectObject, data: bytes
) -> None:
    """Write a new version of an existing stream object: same object number, new bytes."""
    stream = ref.get_object()
    assert isinstance(stream, generic.StreamObject)
    stream.pop("/Filter", None)
    stream.pop("/DecodeParms", None)
    stream._data, stream._encoded_data = data, None  # pyHanko re-encodes on write
    writer.mark_update(ref)


def _last_startxref(data: bytes) -> int:
    return int(data[data.rindex(b"startxref") :].split()[1])


def _last_trailer(data: bytes) -> bytes:
    """The last trailer dictionary's text, `<< ... >>`."""
    start = data.rindex(b"trailer") + len(b"trailer")
    return data[start : data.rindex(b"startxref")].strip()


def xref_only_update(data: bytes, entries: dict[int, tuple[int, int, bytes]]) -> bytes:
    """An incremental update holding no object at all: a classic xref section (object
    number -> (offset or next free, generation, b"n" or b"f")) and a trailer. It can only
    point object numbers at bytes that are already in the file: the signed ones."""
    trailer = re.sub(rb"/Prev \d+", b"", _last_trailer(data))
    trailer = trailer[:-2].rstrip() + b" /Prev %d >>" % _last_startxref(data)
    section = b"xref\n0 1\n0000000000 65535 f \n"
    for number, (offset, generation, kind) in sorted(entries.items()):
        section += b"%d 1\n%010d %05d %s \n" % (number, offset, generation, kind)
    section += b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % len(data)
    return data + section


def _definition_offset(data: bytes, number: int, after: int = 0) -> int:
    """Offset of the first `N 0 obj` at or after `after`."""
    return data.index(b"\n%d 0 obj" % number, max(after - 1, 0)) + 1


def doc_timestamp(dev: Dev, pdf: bytes) -> bytes:
    """A document timestamp (as B-LTA adds) from the federation's TSA, which is public:
    anyone holding a licence can add one."""
    number = 1 + pdf.count(b"/SubFilter /ETSI.RFC3161")
    stamper = signers.PdfTimeStamper(
        ResponderTimeStamper(dev.timestamp), field_name=f"DocTimeStamp{number}"
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    return stamper.timestamp_pdf(writer, "sha256").getvalue()


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


def dss_update(dev: Dev, pdf: bytes) -> bytes:
    """Validation data added as an incremental update (B-LT): the region CA and root
    certificates and the federation's current CRLs."""
    out = io.BytesIO(pdf)
    DocumentSecurityStore.add_dss(
        out,
        None,
        certs=[_asn1(dev.certs["330000"]), _asn1(dev.certs["root"])],
        crls=[
            asn1_crl.CertificateList.load(c.crl.public_bytes(Encoding.DER))
            for c in dev.crls.values()
        ],
        force_write=True,
        strict=False,
    )
    return out.getvalue()


def archival_timestamp(dev: Dev, pdf: bytes) -> bytes:
    """pyHanko's own B-LTA renewal: validation data for the last timestamp, then a new
    document timestamp."""
    context = ValidationContext(
        trust_roots=[_asn1(dev.certs["root"])], allow_fetching=False, revocation_mode="soft-fail"
    )
    stamper = signers.PdfTimeStamper(ResponderTimeStamper(dev.timestamp))
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return stamper.update_archival_timestamp_chain(reader, context, in_place=False).getvalue()


class VerifierCrash(RuntimeError):
    """verify_pdf raised something other than InputError: a bug, whatever the input."""


def verify_or_crash(dev: Dev, data: bytes) -> PdfReport:
    """verify_pdf; InputError passes through, any other exception becomes VerifierCrash."""
    try:
        return verify(dev, data)
    except InputError:
        raise
    except Exception as exc:
        raise VerifierCrash(f"{type(exc).__name__}: {exc}") from exc


def refused(dev: Dev, data: bytes, reason: str) -> None:
    """INVALID naming `reason`, or refused as unusable input (InputError: exit 2) naming it:
    never VALID, never INDETERMINATE, never another exception."""
    try:
        report = verify_or_crash(dev, data)
    except InputError as exc:
        assert reason in str(exc), str(exc)
        return
    assert report.verdict is Verdict.INVALID, report
    assert reason in report.reason, report.reason


def invalid(dev: Dev, data: bytes, indication: Indication, reason: str) -> PdfReport:
    return check(verify(dev, data), Verdict.INVALID, indication, reason)


def valid(dev: Dev, data: bytes, seals: int) -> PdfReport:
    return check(verify(dev, data), Verdict.VALID, Indication.TOTAL_PASSED, f"{seals} seal(s)")


def _shadow(dev: Dev, *revisions: Modify) -> bytes:
    """An attacker's document: the unsealed licence with `revisions` appended (each one an
    incremental update), sealed by the genuine department with both seal positions, as the
    product seals a business licence."""
    prepared = dev.unsealed
    for modify in revisions:
        prepared = update(prepared, modify)
    return seal(dev, dev.sealers["330000"], prepared, (SEAL_BOX, CO_SEAL_BOX))


@pytest.fixture(scope="module")
def b_t(dev: Dev) -> bytes:
    """A B-T licence with both seal positions (the second one empty, for a co-seal)."""
    return seal(dev, dev.sealers["330000"], dev.unsealed, (SEAL_BOX, CO_SEAL_BOX))


AFTERWARDS: dict[str, Callable[[Dev, bytes], bytes]] = {
    "alone": lambda dev, pdf: pdf,
    "then-document-timestamp": doc_timestamp,
    "then-genuine-co-seal": lambda dev, pdf: dev.co_seal_440000(pdf),
}


def test_genuine_licence_is_certified_allowing_form_filling_and_signing(dev: Dev) -> None:
    """Our first seal is a certification signature with DocMDP P=2 (ISO 32000: fill in forms
    and sign; no page, content or annotation changes)."""
    reader = PdfFileReader(io.BytesIO(dev.genuine), strict=False)
    certification = read_certification_data(reader)
    assert certification is not None
    assert certification.permission is fields.MDPPerm.FILL_FORMS
    (seal1,) = reader.embedded_regular_signatures
    assert seal1.field_name == "Seal1" and seal1.docmdp_level is fields.MDPPerm.FILL_FORMS


# --- shadow attacks: hide -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shadow_overlay(dev: Dev) -> tuple[bytes, int, int]:
    """Sealed shadow document: the page draws the forged bar, then a white overlay over it.
    The overlay object first existed empty (an earlier revision, sealed with the rest):
    returns the sealed PDF, the overlay's object number and the offset of its empty version.
    """
    numbers: list[int] = []

    def draw_forged_and_placeholder(writer: IncrementalPdfFileWriter) -> None:
        page_ref, page = _page(writer)
        placeholder = _stream(writer, b"% nothing")
        numbers.append(placeholder.idnum)
        page["/Contents"] = generic.ArrayObject(
            [page.raw_get("/Contents"), _stream(writer, FORGED), placeholder]
        )
        writer.mark_update(page_ref)

    def cover_forged(writer: IncrementalPdfFileWriter) -> None:
        _redefine_stream(writer, generic.IndirectObject(numbers[0], 0, writer), OVERLAY)

    sealed = _shadow(dev, draw_forged_and_placeholder, cover_forged)
    return sealed, numbers[0], _definition_offset(sealed, numbers[0], len(dev.unsealed))


def test_shadow_document_itself_is_valid(dev: Dev, shadow_overlay: tuple[bytes, int, int]) -> None:
    """Control: the department sealed what it saw; the seal is genuine."""
    valid(dev, shadow_overlay[0], 1)


HIDE: dict[str, Callable[[bytes, int, int], bytes]] = {
    # The paper's xref-only "hide": no object in the update, only a pointer back to the
    # overlay's earlier, empty (and signed) version.
    "overlay-reverted-by-xref-only-update": lambda pdf, n, old: xref_only_update(
        pdf, {n: (old, 0, b"n")}
    ),
    "overlay-freed-by-xref-only-update": lambda pdf, n, old: xref_only_update(
        pdf, {n: (0, 1, b"f")}
    ),
    "overlay-redefined-empty": lambda pdf, n, old: update(
        pdf, lambda w: _redefine_stream(w, generic.IndirectObject(n, 0, w), b"% gone")
    ),
}


@pytest.mark.parametrize("afterwards", AFTERWARDS)
@pytest.mark.parametrize("attack", HIDE)
def test_shadow_hide(
    dev: Dev, shadow_overlay: tuple[bytes, int, int], attack: str, afterwards: str
) -> None:
    """The overlay goes; the forged bar, sealed but hidden, shows."""
    hidden = HIDE[attack](*shadow_overlay)
    reader = PdfFileReader(io.BytesIO(hidden), strict=False)
    overlay = reader.get_object(generic.Reference(shadow_overlay[1], 0))
    assert not isinstance(overlay, generic.StreamObject) or overlay.data != OVERLAY
    attacked = AFTERWARDS[afterwards](dev, hidden)
    report = invalid(dev, attacked, Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)
    assert report.seals[0].verdict is Verdict.INVALID


@pytest.mark.parametrize("afterwards", AFTERWARDS)
def test_shadow_hide_by_switching_on_optional_content(dev: Dev, afterwards: str) -> None:
    """The forged bar is sealed inside an optional content group that is off by default;
    the update only turns it on in the catalog's /OCProperties."""

    def forged_in_hidden_layer(writer: IncrementalPdfFileWriter) -> None:
        page_ref, page = _page(writer)
        layer = writer.add_object(
            _dictionary({"/Type": pdf_name("/OCG"), "/Name": generic.TextStringObject("x")})
        )
        marked = _stream(writer, b"/OC /L1 BDC " + FORGED + b" EMC")
        page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), marked])
        page["/Resources"]["/Properties"] = _dictionary({"/L1": layer})
        writer.mark_update(page_ref)
        default = {"/OFF": generic.ArrayObject([layer]), "/Order": generic.ArrayObject([layer])}
        writer.root["/OCProperties"] = _dictionary(
            {"/OCGs": generic.ArrayObject([layer]), "/D": _dictionary(default)}
        )
        writer.update_root()

    def switch_on(writer: IncrementalPdfFileWriter) -> None:
        writer.root["/OCProperties"]["/D"]["/OFF"] = generic.ArrayObject()
        writer.update_root()

    sealed = _shadow(dev, forged_in_hidden_layer)
    valid(dev, sealed, 1)
    attacked = AFTERWARDS[afterwards](dev, update(sealed, switch_on))
    invalid(dev, attacked, Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)


# --- shadow attacks: replace ----------------------------------------------------------------


def _swap_font_program(other: bytes) -> Modify:
    """Replace the embedded font program with another licence's subset: the same character
    codes now draw other glyphs (the paper's font replacement)."""

    def font_file(pdf: generic.PdfObject) -> generic.PdfObject:
        font = pdf["/Resources"]["/Font"]["/F1"]
        return font["/DescendantFonts"][0]["/FontDescriptor"]

    other_page = PdfFileReader(io.BytesIO(other), strict=False).root["/Pages"]["/Kids"][0]
    program = font_file(other_page)["/FontFile3"]

    def modify(writer: IncrementalPdfFileWriter) -> None:
        _, page = _page(writer)
        ref = font_file(page).raw_get("/FontFile3")
        stream = ref.get_object()
        stream._encoded_data, stream._data = program.encoded_data, None
        stream["/Length"] = generic.NumberObject(len(program.encoded_data))
        writer.mark_update(ref)

    return modify


def _rewrite_appearance(field_name: str) -> Modify:
    """Redefine the appearance stream of a seal position in place (same object number)."""

    def modify(writer: IncrementalPdfFileWriter) -> None:
        appearance = _field(writer, field_name).get_object()["/AP"].raw_get("/N")
        _redefine_stream(writer, appearance, b"q 1 0 0 rg 10 10 99 99 re f Q")

    return modify


def _new_appearance(field_name: str) -> Modify:
    """Point a seal position's widget at a new appearance of the attacker's."""

    def modify(writer: IncrementalPdfFileWriter) -> None:
        ref = _field(writer, field_name)
        ref.get_object()["/AP"] = _dictionary(
            {"/N": _form_xobject(writer, b"q 1 0 0 rg 10 10 99 99 re f Q", (0, 0, 119, 119))}
        )
        writer.mark_update(ref)

    return modify


REPLACE: dict[str, Callable[[Dev], Modify]] = {
    "font-program-swapped": lambda dev: _swap_font_program(dev.unsealed),
    "seal-appearance-rewritten": lambda dev: _rewrite_appearance("Seal1"),
    "seal-appearance-replaced": lambda dev: _new_appearance("Seal1"),
    "empty-seal-position-appearance-rewritten": lambda dev: _rewrite_appearance("Seal2"),
    "empty-seal-position-appearance-replaced": lambda dev: _new_appearance("Seal2"),
}


@pytest.mark.parametrize("afterwards", AFTERWARDS)
@pytest.mark.parametrize("attack", REPLACE)
def test_shadow_replace_on_the_genuine_licence(dev: Dev, attack: str, afterwards: str) -> None:
    """On the product's own B-LTA licence (seal, DSS, document timestamp)."""
    attacked = AFTERWARDS[afterwards](dev, update(dev.genuine, REPLACE[attack](dev)))
    invalid(dev, attacked, Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)


def _fill_empty_position(value: Callable[[IncrementalPdfFileWriter], generic.PdfObject]) -> Modify:
    """Give the empty co-seal position Seal2 a value that is no usable signature and, as
    its appearance, a copy of the department's own stamp: the licence then shows two
    seals."""

    def modify(writer: IncrementalPdfFileWriter) -> None:
        stamp = _field(writer, "Seal1").get_object()["/AP"].raw_get("/N")
        ref = _field(writer, "Seal2")
        ref.get_object()["/V"] = value(writer)
        ref.get_object()["/AP"] = _dictionary({"/N": stamp})
        writer.mark_update(ref)

    return modify


def _signature_value(subfilter: str, sig_type: str = "/Sig") -> Callable[..., generic.PdfObject]:
    def value(writer: IncrementalPdfFileWriter) -> generic.PdfObject:
        entries = {"/Type": pdf_name(sig_type), "/Filter": pdf_name("/Adobe.PPKLite")}
        entries |= {"/SubFilter": pdf_name(subfilter), "/ByteRange": _numbers(0, 10, 20, 5)}
        # the department's real CMS, copied from its seal: pyHanko parses it, and only then
        # skips the value for its /SubFilter or /Type
        entries["/Contents"] = _field(writer, "Seal1").get_object()["/V"].raw_get("/Contents")
        return writer.add_object(_dictionary(entries))

    return value


FILLED_POSITION: dict[str, Callable[[IncrementalPdfFileWriter], generic.PdfObject]] = {
    "empty-dictionary": lambda writer: writer.add_object(generic.DictionaryObject()),
    # pyHanko skips a signature with a /SubFilter it does not know, and lists only /Type
    # /Sig and /DocTimeStamp: neither is judged, and both pass its form-filling rules.
    "unknown-subfilter": _signature_value("/adbe.x509.rsa_sha1"),
    "unknown-type": _signature_value("/ETSI.CAdES.detached", "/Forged"),
}

# BUG (verifier.pdf): pyHanko's diff policy counts filling an empty signature field as form
# filling, which the seal's DocMDP P=2 allows, and which verifier.pdf allows after any seal
# that is not the last one. But verifier.pdf judges only the field values pyHanko lists as
# signatures, and pyHanko lists neither an empty dictionary, nor a /SubFilter it does not
# know, nor a /Type other than /Sig and /DocTimeStamp. So such a value, with a copy of the
# department's stamp as the field's appearance, is judged by nobody: once anything genuine
# follows (a document timestamp from the public TSA, or a co-seal), the licence shows two
# stamps of the department and is reported VALID ("1 seal(s) valid and trusted").
# Found by this corpus and fixed (verifier/pdf_fields.py): every filled signature field must
# be a signature the verifier judged.
UNJUDGED_SEAL2 = "signature field Seal2 holds a value that is not a signature"


@pytest.mark.parametrize("value", FILLED_POSITION)
def test_shadow_replace_by_filling_the_empty_seal_position(dev: Dev, value: str) -> None:
    """With nothing after it, the fill is a change after the last signature; either way the
    filled position holds a value that is no signature the verifier can judge."""
    attacked = update(dev.genuine, _fill_empty_position(FILLED_POSITION[value]))
    invalid(dev, attacked, Indication.FORMAT_FAILURE, UNJUDGED_SEAL2)


@pytest.mark.parametrize("base", ["b-lta-genuine", "b-t"])
@pytest.mark.parametrize("value", FILLED_POSITION)
@pytest.mark.parametrize("afterwards", ["then-document-timestamp", "then-genuine-co-seal"])
def test_shadow_replace_by_filling_the_empty_seal_position_then_a_genuine_signature(
    dev: Dev, b_t: bytes, base: str, value: str, afterwards: str
) -> None:
    """A second stamp of the department appears in the co-seal position; the verifier must
    not call that licence VALID ("1 seal(s) valid" while two stamps show)."""
    pdf = dev.genuine if base == "b-lta-genuine" else b_t
    attacked = AFTERWARDS[afterwards](
        dev, update(pdf, _fill_empty_position(FILLED_POSITION[value]))
    )
    report = verify(dev, attacked)
    assert report.verdict is Verdict.INVALID, report
    assert "Seal2" in report.reason, report.reason


def test_document_timestamp_subfilter_altered(dev: Dev) -> None:
    """One signed byte changed: the genuine document timestamp's /SubFilter /ETSI.RFC3161
    becomes /ETSI.RFC3162. pyHanko then skips the timestamp, so nothing checks the bytes it
    signed, and its revision passes as an LTA update after the seal."""
    at = dev.genuine.rindex(b"/SubFilter /ETSI.RFC3161")
    altered = dev.genuine[:at] + b"/SubFilter /ETSI.RFC3162" + dev.genuine[at + 24 :]
    assert len(altered) == len(dev.genuine)
    invalid(dev, altered, Indication.FORMAT_FAILURE, "DocTimeStamp1 holds a value that is not")


@pytest.mark.parametrize("base", ["b-lta-genuine", "b-t"])
def test_fake_document_timestamp_appended(dev: Dev, b_t: bytes, base: str) -> None:
    """No genuine signature follows: an unsigned update adds an invisible "document
    timestamp" field whose value has an unknown /SubFilter (any payload could ride in it).
    After the last seal only validation data may come; this is not validation data."""

    def fake_timestamp(writer: IncrementalPdfFileWriter) -> None:
        value = {"/Type": pdf_name("/DocTimeStamp"), "/Filter": pdf_name("/Adobe.PPKLite")}
        value |= {"/SubFilter": pdf_name("/ETSI.RFC3162"), "/ByteRange": _numbers(0, 1, 2, 3)}
        value["/Contents"] = generic.ByteStringObject(b"anything at all")
        page_ref, _ = _page(writer)
        field = {"/FT": pdf_name("/Sig"), "/T": generic.TextStringObject("DocTimeStamp9")}
        field |= {"/Type": pdf_name("/Annot"), "/Subtype": pdf_name("/Widget")}
        field |= {"/F": generic.NumberObject(132), "/P": page_ref, "/Rect": _numbers(0, 0, 0, 0)}
        field["/V"] = writer.add_object(_dictionary(value))
        field_ref = writer.add_object(_dictionary(field))
        writer.register_annotation(page_ref, field_ref)
        writer.root["/AcroForm"]["/Fields"].append(field_ref)
        writer.mark_update(writer.root.raw_get("/AcroForm"))

    attacked = update(dev.genuine if base == "b-lta-genuine" else b_t, fake_timestamp)
    invalid(dev, attacked, Indication.FORMAT_FAILURE, "DocTimeStamp9 holds a value that is not")


# --- shadow attacks: hide-and-replace -------------------------------------------------------


def test_hide_and_replace_page_content_pointed_at_signed_hidden_content(dev: Dev) -> None:
    """The shadow document carries a complete forged page content, referenced from nowhere
    that is drawn; the update only points the page at it: no new content is added."""
    hidden: list[generic.IndirectObject] = []

    def carry_hidden_content(writer: IncrementalPdfFileWriter) -> None:
        hidden.append(_stream(writer, FORGED))
        writer.root["/PieceInfo"] = _dictionary({"/X": hidden[0]})
        writer.update_root()

    def show_it(writer: IncrementalPdfFileWriter) -> None:
        page_ref, page = _page(writer)
        page["/Contents"] = generic.IndirectObject(hidden[0].idnum, 0, writer)
        writer.mark_update(page_ref)

    sealed = _shadow(dev, carry_hidden_content)
    valid(dev, sealed, 1)
    for afterwards in AFTERWARDS.values():
        attacked = afterwards(dev, update(sealed, show_it))
        invalid(dev, attacked, Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)


def test_hide_and_replace_page_tree_reverted_by_xref_only_update(dev: Dev) -> None:
    """The page tree first listed a forged page, then (still before sealing) the real one;
    the update holds only an xref entry pointing /Pages back to the signed forged version."""
    pages: list[int] = []

    def forged_page_tree(writer: IncrementalPdfFileWriter) -> None:
        pages_ref = writer.root.raw_get("/Pages")
        pages.append(pages_ref.idnum)
        real = pages_ref.get_object()["/Kids"].raw_get(0)
        pages.append(real.idnum)
        forged = generic.DictionaryObject(real.get_object())
        forged[pdf_name("/Contents")] = _stream(writer, FORGED)
        pages_ref.get_object()["/Kids"] = generic.ArrayObject([writer.add_object(forged)])
        writer.mark_update(pages_ref)

    def real_page_tree(writer: IncrementalPdfFileWriter) -> None:
        pages_ref = writer.root.raw_get("/Pages")
        pages_ref.get_object()["/Kids"] = generic.ArrayObject(
            [generic.IndirectObject(pages[1], 0, writer)]
        )
        writer.mark_update(pages_ref)

    sealed = _shadow(dev, forged_page_tree, real_page_tree)
    valid(dev, sealed, 1)
    forged_version = _definition_offset(sealed, pages[0], len(dev.unsealed))
    attacked = xref_only_update(sealed, {pages[0]: (forged_version, 0, b"n")})
    assert PdfFileReader(io.BytesIO(attacked), strict=False).root["/Pages"]["/Kids"][0][
        "/Contents"
    ].data == (FORGED)
    invalid(dev, attacked, Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)
    invalid(dev, doc_timestamp(dev, attacked), Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)


def test_catalog_replaced_keeping_the_seal_fields(dev: Dev, b_t: bytes) -> None:
    """Incremental saving: a new /Root with a forged page tree, keeping the original form
    (so the seal is still found) and the DocMDP permissions."""

    def new_catalog(writer: IncrementalPdfFileWriter) -> None:
        old = writer.root
        page = _dictionary({"/Type": pdf_name("/Page"), "/MediaBox": _numbers(0, 0, 595, 842)})
        page["/Contents"], page["/Resources"] = _stream(writer, FORGED), _dictionary({})
        page_ref = writer.add_object(page)
        pages = _dictionary({"/Type": pdf_name("/Pages"), "/Count": generic.NumberObject(1)})
        pages["/Kids"] = generic.ArrayObject([page_ref])
        pages_ref = writer.add_object(pages)
        page["/Parent"] = pages_ref
        catalog = _dictionary({"/Type": pdf_name("/Catalog"), "/Pages": pages_ref})
        catalog |= {pdf_name(k): old.raw_get(k) for k in ("/AcroForm", "/Perms")}
        # pyHanko writes the trailer's /Root from this attribute
        writer._root = writer.add_object(catalog)

    for afterwards in AFTERWARDS.values():
        attacked = afterwards(dev, update(b_t, new_catalog))
        invalid(dev, attacked, Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)


# --- universal signature forgery ------------------------------------------------------------


def _genuine_cms(pdf: bytes) -> bytes:
    (signature,) = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_regular_signatures
    return signature.pkcs7_content


def _add_signature_field(
    entries: dict[str, generic.PdfObject | None], name: str = "Seal9", visible: bool = False
) -> Modify:
    """A signature field whose value is a signature dictionary with `entries` (None: the
    entry is left out); an /AcroForm is made when the document has none."""

    def modify(writer: IncrementalPdfFileWriter) -> None:
        value = {"/Type": pdf_name("/Sig"), "/Filter": pdf_name("/Adobe.PPKLite")}
        value["/SubFilter"] = pdf_name("/ETSI.CAdES.detached")
        value |= {k: v for k, v in entries.items() if v is not None}
        page_ref, _ = _page(writer)
        field = {"/FT": pdf_name("/Sig"), "/T": generic.TextStringObject(name)}
        field |= {"/Type": pdf_name("/Annot"), "/Subtype": pdf_name("/Widget")}
        field |= {"/F": generic.NumberObject(132), "/P": page_ref}
        field["/Rect"] = _numbers(*(SEAL_BOX if visible else (0, 0, 0, 0)))
        field["/V"] = writer.add_object(_dictionary({k: v for k, v in value.items()}))
        field_ref = writer.add_object(_dictionary(field))
        writer.register_annotation(page_ref, field_ref)
        if "/AcroForm" not in writer.root:
            form = {"/Fields": generic.ArrayObject(), "/SigFlags": generic.NumberObject(3)}
            writer.root["/AcroForm"] = writer.add_object(_dictionary(form))
            writer.update_root()
        writer.root["/AcroForm"]["/Fields"].append(field_ref)
        writer.mark_update(writer.root.raw_get("/AcroForm"))

    return modify


UNPARSABLE = "PDF cannot be parsed"
NO_CMS = "/Contents does not hold a CMS signature"
# What a seal field says when pyHanko cannot read its value: FORMAT_FAILURE, not HASH_FAILURE.
UNREADABLE = {
    NO_CMS,
    "Could not read /ByteRange entry in signature",
    "Could not read /Contents entry in signature",
    "/Contents must be string-like",
    "/ByteRange is not a list of ranges",
}
Entries = dict[str, generic.PdfObject]


def _with(contents: generic.PdfObject | None, byte_range: generic.PdfObject | None) -> Entries:
    entries = {"/Contents": contents, "/ByteRange": byte_range}
    return {k: v for k, v in entries.items() if v is not None}


# name: (the signature dictionary's /Contents and /ByteRange, given the genuine seal's CMS
# and /ByteRange; the reason when it is the only seal)
USF: dict[str, tuple[Callable[[generic.ByteStringObject, tuple[int, ...]], Entries], str]] = {
    "byte-range-0-0-0-0": (
        lambda cms, br: _with(cms, _numbers(0, 0, 0, 0)),
        "/ByteRange is malformed",
    ),
    "byte-range-negative": (
        lambda cms, br: _with(cms, _numbers(0, -1, 10, -5)),
        "/ByteRange is malformed",
    ),
    "byte-range-overlapping": (
        lambda cms, br: _with(cms, _numbers(0, 100, 50, 100)),
        "/ByteRange is malformed",
    ),
    "byte-range-not-covering-the-file": (
        lambda cms, br: _with(cms, _numbers(0, 100, 200, 50)),
        "/ByteRange does not end at the end of the file or of a revision",
    ),
    "byte-range-of-the-genuine-file": (
        lambda cms, br: _with(cms, _numbers(*br)),
        "/ByteRange reaches beyond the end of the file",
    ),
    "byte-range-missing": (
        lambda cms, br: _with(cms, None),
        "Could not read /ByteRange entry in signature",
    ),
    "contents-missing": (
        lambda cms, br: _with(None, _numbers(*br)),
        "Could not read /Contents entry in signature",
    ),
    "contents-empty": (
        lambda cms, br: _with(generic.ByteStringObject(b""), _numbers(*br)),
        NO_CMS,
    ),
    "contents-zeros": (
        lambda cms, br: _with(generic.ByteStringObject(bytes(len(cms))), _numbers(*br)),
        NO_CMS,
    ),
    "contents-a-number": (
        lambda cms, br: _with(generic.NumberObject(5), _numbers(*br)),
        "/Contents must be string-like",
    ),
    "contents-cms-data-not-signed-data": (
        lambda cms, br: _with(
            generic.ByteStringObject(bytes.fromhex("300d06092a864886f70d010701a000")),
            _numbers(*br),
        ),
        NO_CMS,
    ),
}


def _usf_entries(case: str, genuine: bytes) -> Entries:
    cms = generic.ByteStringObject(_genuine_cms(genuine))
    return USF[case][0](cms, byte_ranges(genuine))


@pytest.mark.parametrize("case", USF)
def test_usf_forged_seal_on_an_unsealed_licence(dev: Dev, b_t: bytes, case: str) -> None:
    """No genuine seal at all: one visible seal field whose value carries the genuine seal's
    CMS (its certificate, its signature) but a dictionary a validator cannot use."""
    forged = update(dev.unsealed, _add_signature_field(_usf_entries(case, b_t), "Seal1", True))
    reason = USF[case][1]
    indication = Indication.FORMAT_FAILURE if reason in UNREADABLE else Indication.HASH_FAILURE
    invalid(dev, forged, indication, f"Seal1: {reason}")


@pytest.mark.parametrize("case", USF)
def test_usf_second_signature_dictionary_after_the_seal(dev: Dev, b_t: bytes, case: str) -> None:
    """A genuine seal, then an update adding an extra seal field with an unusable value."""
    forged = update(b_t, _add_signature_field(_usf_entries(case, b_t)))
    if USF[case][1] in UNREADABLE:
        invalid(dev, forged, Indication.FORMAT_FAILURE, f"Seal9: {USF[case][1]}")
    elif case == "byte-range-of-the-genuine-file":  # a copy of the seal's own dictionary
        refused(dev, forged, "Seal9: the document was changed after this seal")
    else:
        refused(dev, forged, CHANGED_AFTER_SEAL1)


def test_usf_byte_range_into_an_embedded_copy_of_a_genuine_licence(dev: Dev, b_t: bytes) -> None:
    """The forged document carries a genuine licence's bytes in a stream; its seal's
    /ByteRange covers that copy, so the digest and the CMS signature are genuine."""

    def carry_genuine_copy(writer: IncrementalPdfFileWriter) -> None:
        _stream(writer, b_t)  # unfiltered: the bytes appear verbatim in the file

    carried = update(dev.unsealed, carry_genuine_copy)
    at = carried.index(b_t)
    start, first, second, last = byte_ranges(b_t)
    entries = {"/Contents": generic.ByteStringObject(_genuine_cms(b_t))}
    entries["/ByteRange"] = _numbers(at + start, first, at + second, last)
    forged = update(carried, _add_signature_field(entries, "Seal1", visible=True))
    invalid(dev, forged, Indication.HASH_FAILURE, "Seal1: /ByteRange is malformed")


def _in_place(pattern: bytes, replacement: bytes) -> Callable[[bytes], bytes]:
    """Replace the first match of `pattern` in the seal dictionary by `replacement`, padded
    with spaces to the same length: no offset moves."""

    def tamper(data: bytes) -> bytes:
        match = re.search(pattern, data)
        assert match is not None and len(replacement) <= len(match.group(0))
        return data[: match.start()] + replacement.ljust(len(match.group(0))) + data[match.end() :]

    return tamper


def _zero_contents(data: bytes) -> bytes:
    _, first, second, _ = byte_ranges(data)
    return data[: first + 1] + b"0" * (second - first - 2) + data[second - 1 :]


BYTE_RANGE = rb"/ByteRange \[[\d ]+\] *"
IN_PLACE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "byte-range-0-0-0-0": (
        lambda d: rewrite_byte_range(d, (0, 0, 0, 0)),
        "Seal1: /ByteRange is malformed",
    ),
    "byte-range-negative": (
        lambda d: rewrite_byte_range(d, (0, -1, -1, 0)),
        "Seal1: /ByteRange is malformed",
    ),
    "byte-range-overlapping": (
        lambda d: rewrite_byte_range(d, (0, 100, 50, 200)),
        "Seal1: /ByteRange is malformed",
    ),
    "byte-range-three-ranges": (
        _in_place(BYTE_RANGE, b"/ByteRange [0 1 2 3 4 5]"),
        "Seal1: /ByteRange does not hold exactly two ranges",
    ),
    "byte-range-key-renamed": (
        _in_place(rb"/ByteRange", b"/ByteRangX"),
        "Seal1: Could not read /ByteRange entry in signature",
    ),
    "contents-key-renamed": (
        _in_place(rb"/Contents <", b"/Contentx <"),
        "Seal1: Could not read /Contents entry in signature",
    ),
    "contents-all-zeros": (_zero_contents, f"Seal1: {NO_CMS}"),
}


@pytest.mark.parametrize("attack", IN_PLACE)
def test_usf_genuine_seal_dictionary_made_unusable_in_place(
    dev: Dev, b_t: bytes, attack: str
) -> None:
    """The seal's own dictionary edited without moving a byte: a validator that skips what
    it cannot read would see an unsigned, freely editable licence."""
    tamper, reason = IN_PLACE[attack]
    tampered = tamper(b_t)
    assert len(tampered) == len(b_t) and tampered != b_t
    unreadable = reason.removeprefix("Seal1: ") in UNREADABLE
    invalid(
        dev, tampered, Indication.FORMAT_FAILURE if unreadable else Indication.HASH_FAILURE, reason
    )


# A /ByteRange that is null, not an array, shorter than three entries or not numbers: the
# seal cannot even be placed among the revisions.
# name: (the /ByteRange value as written in place, and as a pyHanko object)
UNUSABLE_BYTE_RANGE: dict[str, tuple[bytes, Callable[[], generic.PdfObject]]] = {
    "empty-array": (b"[]", generic.ArrayObject),
    "one-range": (b"[0 10]", lambda: _numbers(0, 10)),
    "null": (b"null", generic.NullObject),
    "a-number": (b"7", lambda: generic.NumberObject(7)),
    "a-name-inside": (
        b"[0 10 /X 5]",
        lambda: generic.ArrayObject([*_numbers(0, 10), pdf_name("/X"), generic.NumberObject(5)]),
    ),
}


@pytest.mark.parametrize("where", ["genuine-seal-in-place", "forged-seal-field"])
@pytest.mark.parametrize("value", UNUSABLE_BYTE_RANGE)
def test_usf_unusable_byte_range_is_refused_not_a_crash(
    dev: Dev, b_t: bytes, where: str, value: str
) -> None:
    written, pdf_object = UNUSABLE_BYTE_RANGE[value]
    if where == "genuine-seal-in-place":
        tampered = _in_place(BYTE_RANGE, b"/ByteRange " + written)(b_t)
    else:
        entries = _with(generic.ByteStringObject(_genuine_cms(b_t)), pdf_object())
        tampered = update(dev.unsealed, _add_signature_field(entries, "Seal1", visible=True))
    invalid(dev, tampered, Indication.FORMAT_FAILURE, "Seal1: /ByteRange is not a list of ranges")


def test_duplicated_document_timestamp_dictionary(dev: Dev) -> None:
    """A second field re-uses the genuine document timestamp's dictionary (same /ByteRange,
    same token), so that the real one is no longer last, beside a form-filling change."""

    def duplicate(writer: IncrementalPdfFileWriter) -> None:
        stamp = _field(writer, "DocTimeStamp1").get_object()
        page_ref, _ = _page(writer)
        field = {"/FT": pdf_name("/Sig"), "/T": generic.TextStringObject("DocTimeStamp2")}
        field |= {"/Type": pdf_name("/Annot"), "/Subtype": pdf_name("/Widget")}
        field |= {"/F": generic.NumberObject(132), "/P": page_ref, "/Rect": _numbers(0, 0, 0, 0)}
        field["/V"] = stamp.raw_get("/V")
        field_ref = writer.add_object(_dictionary(field))
        writer.register_annotation(page_ref, field_ref)
        writer.root["/AcroForm"]["/Fields"].append(field_ref)
        writer.mark_update(writer.root.raw_get("/AcroForm"))
        _fill_empty_position(FILLED_POSITION["empty-dictionary"])(writer)

    attacked = update(dev.genuine, duplicate)
    invalid(dev, attacked, Indication.FORMAT_FAILURE, UNJUDGED_SEAL2)


# --- incremental saving: malformed updates --------------------------------------------------


def test_update_whose_trailer_has_no_prev(dev: Dev, b_t: bytes) -> None:
    """An appended revision whose trailer drops /Prev: its xref section alone (one object)
    is then the whole document, with no catalog."""
    forged = b"4 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (
        len(FORGED),
        FORGED,
    )
    at = len(b_t)
    trailer = re.sub(rb"/Prev \d+", b"", _last_trailer(b_t))
    attacked = (
        b_t
        + forged
        + b"xref\n0 1\n0000000000 65535 f \n4 1\n%010d 00000 n \ntrailer\n" % at
        + trailer
        + b"\nstartxref\n%d\n%%%%EOF\n" % (at + len(forged))
    )
    refused(dev, attacked, "")


def test_update_whose_prev_points_at_itself(dev: Dev, b_t: bytes) -> None:
    at = len(b_t)
    trailer = re.sub(rb"/Prev \d+", b"/Prev %d" % at, _last_trailer(b_t))
    looped = b_t + b"xref\n0 1\n0000000000 65535 f \ntrailer\n" + trailer
    looped += b"\nstartxref\n%d\n%%%%EOF\n" % at
    refused(dev, looped, UNPARSABLE)


# --- signature wrapping ---------------------------------------------------------------------


def _xref_entries(data: bytes, at: int) -> dict[int, int]:
    """In-use entries of the classic xref section at `at`."""
    lines = data[at : data.index(b"trailer", at)].split(b"\n")[1:]
    entries: dict[int, int] = {}
    index = 0
    while index < len(lines):
        head = lines[index].split()
        if len(head) != 2:
            index += 1
            continue
        first, count = int(head[0]), int(head[1])
        for k in range(count):
            offset, _, kind = lines[index + 1 + k].split()
            if kind == b"n":
                entries[first + k] = int(offset)
        index += 1 + count
    return entries


def _der_length(hex_contents: bytes) -> int:
    _, _, _, header, body, trailer = asn1_parser.parse(bytes.fromhex(hex_contents.decode()))
    return len(header) + len(body) + len(trailer)


def signature_wrapping(data: bytes, page_content: int) -> bytes:
    """Mladenov et al.'s SWA. The signed bytes stay byte for byte, but the second signed
    part moves to the end of the file and the gap before it grows: it now holds the
    signature dictionary's copy with the new /ByteRange, a forged page content and, exactly
    at the offset the (signed) `startxref` names, the attacker's xref section. The moved
    part is wrapped in a stream nobody references. The CMS digest still matches."""
    _, first, second, last = byte_ranges(data)
    assert second + last == len(data)
    signed_start, gap, signed_end = data[:first], data[first:second], data[second:]
    der_hex = gap[1 : 1 + 2 * _der_length(gap[1:-1])]  # the zero padding goes: room
    xref_at = _last_startxref(signed_end)
    entries = _xref_entries(data, xref_at)
    dictionary_rest = signed_end[: signed_end.index(b"endobj") + len(b"endobj\n")]
    old_range = re.search(rb"/ByteRange (\[[\d ]+\] *)", dictionary_rest)
    assert old_range is not None

    def build(moved_to: int) -> bytes:
        new_range = b"[0 %d %d %d]" % (first, moved_to, last)
        out = signed_start + b"<" + der_hex + b">" + dictionary_rest[: old_range.start(1)]
        out += new_range.ljust(len(old_range.group(1))) + dictionary_rest[old_range.end(1) :]
        forged_at = len(out)
        out += b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (
            page_content,
            len(FORGED),
            FORGED,
        )
        assert len(out) < xref_at - 1, "not enough room before the signed startxref"
        out += b"%" + b" " * (xref_at - len(out) - 2) + b"\n"
        moved = {n: (o if o < first else o - second + moved_to) for n, o in entries.items()}
        moved[page_content] = forged_at
        section = b"xref\n0 1\n0000000000 65535 f \n"
        for number, offset in sorted(moved.items()):
            section += b"%d 1\n%010d 00000 n \n" % (number, offset)
        out += section + b"trailer\n" + _last_trailer(data) + b"\n"
        return out + b"99 0 obj\n<< /Length %d >>\nstream\n" % last

    moved_to = len(build(len(build(0))))
    wrapped = build(moved_to)
    assert len(wrapped) == moved_to
    return wrapped + signed_end


def test_signature_wrapping(dev: Dev, b_t: bytes) -> None:
    page_content = PdfFileReader(io.BytesIO(b_t)).root["/Pages"]["/Kids"][0].raw_get("/Contents")
    attacked = signature_wrapping(b_t, page_content.idnum)
    reader = PdfFileReader(io.BytesIO(attacked), strict=False)
    # the attack works on the parser: the page drawn is the forged one ...
    assert reader.root["/Pages"]["/Kids"][0]["/Contents"].data == FORGED
    # ... and the CMS signature, on its own, still verifies over the (moved) signed bytes
    context = ValidationContext(trust_roots=[_asn1(dev.certs["root"])], allow_fetching=False)
    status = validate_pdf_signature(reader.embedded_regular_signatures[0], context)
    assert status.intact and status.valid
    invalid(
        dev,
        attacked,
        Indication.HASH_FAILURE,
        "Seal1: the bytes left unsigned are not the signature's hex string",
    )


def test_objects_smuggled_into_the_unsigned_gap(dev: Dev, b_t: bytes) -> None:
    """The signature's hex keeps its place, but the zero padding after it becomes a string
    that holds a forged object; an xref-only update points the page content at it. No
    signed byte changes and /ByteRange stays."""
    _, first, second, _ = byte_ranges(b_t)
    gap = b_t[first:second]
    der_hex = gap[1 : 1 + 2 * _der_length(gap[1:-1])]
    page = PdfFileReader(io.BytesIO(b_t)).root["/Pages"]["/Kids"][0]
    number = page.raw_get("/Contents").idnum
    smuggled = b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (
        number,
        len(FORGED),
        FORGED,
    )
    new_gap = b"<" + der_hex + b"> /Smuggled (\n" + smuggled + b")"
    assert len(new_gap) <= len(gap)
    new_gap = new_gap.ljust(len(gap))
    at = first + new_gap.index(b"\n%d 0 obj" % number) + 1
    attacked = xref_only_update(b_t[:first] + new_gap + b_t[second:], {number: (at, 0, b"n")})
    reader = PdfFileReader(io.BytesIO(attacked), strict=False)
    assert reader.root["/Pages"]["/Kids"][0]["/Contents"].data == FORGED
    invalid(dev, attacked, Indication.HASH_FAILURE, "not the signature's hex string")


def test_signature_dictionary_redefined_in_an_update(dev: Dev, b_t: bytes) -> None:
    """The update redefines the seal's own dictionary (same /ByteRange, same CMS) beside a
    forged page content: whatever the dictionary says, it is no longer the signed one."""

    def redefine(writer: IncrementalPdfFileWriter) -> None:
        field = _field(writer, "Seal1").get_object()
        writer.mark_update(field.raw_get("/V"))
        page_ref, page = _page(writer)
        page["/Contents"] = _stream(writer, FORGED)
        writer.mark_update(page_ref)

    for afterwards in AFTERWARDS.values():
        attacked = afterwards(dev, update(b_t, redefine))
        invalid(dev, attacked, Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)


# --- DocMDP ---------------------------------------------------------------------------------


def _add_text_comment(writer: IncrementalPdfFileWriter) -> None:
    """A sticky-note comment: allowed by P=3, forbidden by our P=2."""
    page_ref, _ = _page(writer)
    note = {"/Type": pdf_name("/Annot"), "/Subtype": pdf_name("/Text")}
    note |= {"/Rect": _numbers(72, 600, 92, 620), "/Contents": generic.TextStringObject("核准")}
    writer.register_annotation(page_ref, writer.add_object(_dictionary(note)))


def _add_page(writer: IncrementalPdfFileWriter) -> None:
    page = {"/Type": pdf_name("/Page"), "/MediaBox": _numbers(0, 0, 595, 842)}
    page |= {"/Resources": generic.DictionaryObject(), "/Contents": _stream(writer, FORGED)}
    writer.insert_page(_dictionary(page))


def _overwrite_content(writer: IncrementalPdfFileWriter) -> None:
    page_ref, page = _page(writer)
    page["/Contents"] = _stream(writer, FORGED)
    writer.mark_update(page_ref)


def _delete_the_seal_widget_from_the_page(writer: IncrementalPdfFileWriter) -> None:
    page_ref, page = _page(writer)
    seal1 = _field(writer, "Seal1")
    page["/Annots"] = generic.ArrayObject(a for a in page["/Annots"] if a.idnum != seal1.idnum)
    writer.mark_update(page_ref)


FORBIDDEN_BY_P2: dict[str, Callable[[Dev], Modify]] = {
    "new-page": lambda dev: _add_page,
    "content-changed": lambda dev: _overwrite_content,
    "text-comment-added": lambda dev: _add_text_comment,
    "seal-widget-removed-from-page": lambda dev: _delete_the_seal_widget_from_the_page,
    "font-program-swapped": lambda dev: _swap_font_program(dev.genuine),
}


@pytest.mark.parametrize("change", FORBIDDEN_BY_P2)
@pytest.mark.parametrize("then", ["then-document-timestamp", "then-genuine-co-seal"])
def test_change_forbidden_by_the_certification_then_a_genuine_signature(
    dev: Dev, b_t: bytes, change: str, then: str
) -> None:
    """After a later genuine signature the seal is no longer the last: only its DocMDP
    level (and the verifier's own cap, form filling) decides, and these go beyond it."""
    attacked = AFTERWARDS[then](dev, update(b_t, FORBIDDEN_BY_P2[change](dev)))
    report = invalid(dev, attacked, Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)
    assert report.seals[0].verdict is Verdict.INVALID


@pytest.fixture(scope="module")
def certified_no_changes(dev: Dev, federation: Federation) -> bytes:
    """The licence certified by the genuine 330000 seal with DocMDP P=1 (no changes), both
    seal positions present: what a stricter licence type would use."""
    runtime = federation.runtime
    with runtime.database.transaction() as session:
        row = active_seal(session, amr_department(session, "330000"))
        key = runtime.key_stores.private_key(KeyRef.parse(row.key_ref))
    signer = KeySigner(dev.certs["seal-330000"], key, (dev.certs["330000"],))
    writer = IncrementalPdfFileWriter(io.BytesIO(dev.unsealed), strict=False)
    fields.append_signature_field(writer, fields.SigFieldSpec("Seal2", 0, _box(CO_SEAL_BOX)))
    meta = signers.PdfSignatureMetadata(
        field_name="Seal1",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=signer,
        timestamper=ResponderTimeStamper(dev.timestamp),
        new_field_spec=fields.SigFieldSpec("Seal1", 0, _box(SEAL_BOX)),
    )
    return pdf_signer.sign_pdf(writer).getvalue()


def _box(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    left, bottom, right, top = (round(v) for v in box)
    return left, bottom, right, top


def test_no_changes_certification(
    dev: Dev, certified_no_changes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P=1: a co-seal is a forbidden change (pyHanko's signer refuses to make one, so the
    check is bypassed here, as a non-conforming tool would); a document timestamp and
    validation data stay allowed (PAdES: DSS and document timestamps never count)."""
    valid(dev, certified_no_changes, 1)
    with monkeypatch.context() as patch:
        patch.setattr(pyhanko.sign.validation, "read_certification_data", lambda reader: None)
        co_sealed = dev.co_seal_440000(certified_no_changes)
    report = invalid(dev, co_sealed, Indication.FORMAT_FAILURE, CHANGED_AFTER_SEAL1)
    assert [s.verdict for s in report.seals] == [Verdict.INVALID, Verdict.VALID]
    valid(dev, doc_timestamp(dev, certified_no_changes), 1)
    valid(dev, dss_update(dev, certified_no_changes), 1)
    valid(dev, dss_update(dev, doc_timestamp(dev, certified_no_changes)), 1)
    # what P=2 would allow, P=1 does not
    filled = update(certified_no_changes, _fill_empty_position(FILLED_POSITION["empty-dictionary"]))
    invalid(dev, doc_timestamp(dev, filled), Indication.FORMAT_FAILURE, UNJUDGED_SEAL2)


# --- legitimate later changes stay VALID ----------------------------------------------------

LEGITIMATE: dict[str, tuple[Callable[[Dev, bytes], bytes], int]] = {
    "co-seal": (lambda dev, pdf: dev.co_seal_440000(pdf), 2),
    "document-timestamp": (doc_timestamp, 1),
    "dss-update": (dss_update, 1),
    "archival-timestamp-renewal": (archival_timestamp, 1),
    "dss-then-document-timestamp": (lambda dev, pdf: doc_timestamp(dev, dss_update(dev, pdf)), 1),
    "co-seal-then-document-timestamp-then-dss": (
        lambda dev, pdf: dss_update(dev, doc_timestamp(dev, dev.co_seal_440000(pdf))),
        2,
    ),
    "document-timestamp-then-co-seal": (
        lambda dev, pdf: dev.co_seal_440000(doc_timestamp(dev, pdf)),
        2,
    ),
    "two-co-seals": (
        lambda dev, pdf: seal(dev, dev.sealers["330000"], dev.co_seal_440000(pdf)),
        3,
    ),
}


@pytest.mark.parametrize("change", LEGITIMATE)
@pytest.mark.parametrize("base", ["b-lta-genuine", "b-t"])
def test_legitimate_later_changes_stay_valid(dev: Dev, b_t: bytes, base: str, change: str) -> None:
    make, seals = LEGITIMATE[change]
    pdf = dev.genuine if base == "b-lta-genuine" else b_t
    report = valid(dev, make(dev, pdf), seals)
    assert report.seals[0].region_code == "330000"
