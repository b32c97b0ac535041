"""PAdES sealing of licence PDFs with pyHanko: B-T, B-LT and B-LTA.

Building a pyHanko signer and the seal's appearance costs far more than the signature
itself (see MEASURED.md), so a `PdfSealer` is made once per seal and reused for every
document that seal signs. The signature key is any `cryptography` private key, so a file key
and a PKCS#11 key (which never leaves the token) seal the same way.

The first seal is a certification signature (DocMDP: form filling and signing allowed). All
seal positions of the licence type are created as empty signature fields in that same
revision, so a co-seal later fills a field the certifier already saw: adding a new visible
field after certification is a change a validator must reject. With every position taken, a
co-seal is invisible.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from seal_service.errors import SealError
from seal_service.levels import PadesLevel
from verifier.errors import InputError

SEAL_FIELD_PREFIX = "Seal"
TIMESTAMP_FIELD_PREFIX = "DocTimeStamp"
MAX_FIELDS = 99
Box = tuple[float, float, float, float]
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


@dataclass(frozen=True)
class SealMaterial:
    """What a seal signs with: its certificate, key, issuing chain and stamp image."""

    certificate: x509.Certificate
    private_key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...]
    image_png: bytes
    signer_name: str


@dataclass(frozen=True)
class ValidationMaterial:
    """Certificates, OCSP responses and CRLs (DER) that let a validator decide years later
    with nothing online: for the seal's chain and for the TSA's."""

    certificates: tuple[x509.Certificate, ...] = ()
    ocsp_responses: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()


TimeStampResponder = Callable[[bytes], bytes]
"""DER TimeStampReq in, DER TimeStampResp out: the region's TSA, local or over HTTP."""


@dataclass(frozen=True)
class SealOptions:
    """How to seal one document."""

    reason: str
    location: str
    timestamp: TimeStampResponder
    level: PadesLevel = PadesLevel.B_T
    # Every seal position of the licence type, first for the issuing department; used only
    # when the document has no seal yet (a co-seal fills the next empty one).
    seal_slots: tuple[Box, ...] = ()
    validation: ValidationMaterial = field(default_factory=ValidationMaterial)


class DocumentSealer(Protocol):
    """Seals a rendered licence file; a PDF and (later) an OFD sealer both fit."""

    def seal(self, document: bytes, options: SealOptions) -> bytes: ...


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


class KeySigner(signers.Signer):
    """pyHanko signer over a `cryptography` private key (file or PKCS#11 backed)."""

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: PrivateKeyTypes,
        chain: Sequence[x509.Certificate],
    ) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise SealError("a seal key must be ECDSA or RSA")
        self._key = private_key
        self._dry_run_size = (
            # DER ECDSA signature: two integers of the curve size, each maybe one byte longer.
            2 * (private_key.curve.key_size // 8 + 3) + 3
            if isinstance(private_key, ec.EllipticCurvePrivateKey)
            else private_key.key_size // 8
        )
        super().__init__(
            signing_cert=_asn1_certificate(certificate),
            cert_registry=SimpleCertificateStore.from_certs([_asn1_certificate(c) for c in chain]),
        )

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return bytes(self._dry_run_size)
        algorithm = _HASHES[digest_algorithm.lower()]()
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(algorithm))
        return self._key.sign(data, padding.PKCS1v15(), algorithm)


class ResponderTimeStamper(timestamps.TimeStamper):
    """pyHanko timestamper that asks a `TimeStampResponder` (no HTTP when it is local)."""

    def __init__(self, respond: TimeStampResponder) -> None:
        super().__init__(include_nonce=True)
        self._respond = respond
        # Hex characters to reserve for a signature / document timestamp with this TSA,
        # learnt from the first one: pyHanko otherwise sizes each by building a whole
        # dummy CMS, a third of the cost of sealing.
        self.signature_reservation: int | None = None
        self.timestamp_reservation: int | None = None

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(self._respond(req.dump()))


@dataclass(frozen=True)
class _EncodedStamp:
    """The seal's stamp image, Flate-compressed once per seal: pyHanko would compress it
    again for every document (about a sixth of the cost of sealing)."""

    width: int
    height: int
    rgb: bytes
    alpha: bytes | None

    @classmethod
    def of(cls, png: bytes) -> _EncodedStamp:
        image = Image.open(io.BytesIO(png))
        image.load()
        rgba = image.convert("RGBA")
        return cls(
            rgba.width,
            rgba.height,
            zlib.compress(rgba.convert("RGB").tobytes()),
            zlib.compress(rgba.getchannel("A").tobytes()),
        )

    def style(self) -> StaticStampStyle:
        # A new image object per document: PdfImage remembers the writer it was used with,
        # so one shared between threads would mix up documents.
        return StaticStampStyle(
            border_width=0, background=_StampImage(self), background_opacity=1.0
        )


class _StampImage(PdfImage):
    def __init__(self, stamp: _EncodedStamp) -> None:
        self._stamp = stamp
        placeholder = Image.new("L", (stamp.width, stamp.height))
        super().__init__(placeholder)

    @property
    def image_ref(self) -> generic.IndirectObject:
        assert self.writer is not None
        if self._image_ref is None or self._image_ref.get_pdf_handler() is not self.writer:
            self._image_ref = self._add_to(self.writer)
        return self._image_ref

    def _add_to(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        stamp = self._stamp

        def image(colour_space: str) -> dict[generic.NameObject, object]:
            return {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): generic.NumberObject(stamp.width),
                pdf_name("/Height"): generic.NumberObject(stamp.height),
                pdf_name("/ColorSpace"): pdf_name(colour_space),
                pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                pdf_name("/Filter"): pdf_name("/FlateDecode"),
            }

        colour = image("/DeviceRGB")
        if stamp.alpha is not None:
            colour[pdf_name("/SMask")] = writer.add_object(
                generic.StreamObject(image("/DeviceGray"), encoded_data=stamp.alpha)
            )
        return writer.add_object(generic.StreamObject(colour, encoded_data=stamp.rgb))


class PdfSealer:
    """Signs PDFs as PAdES with one seal; safe to share between threads."""

    def __init__(self, material: SealMaterial) -> None:
        self._signer = KeySigner(material.certificate, material.private_key, material.chain)
        self._stamp = _EncodedStamp.of(material.image_png)
        self._signer_name = material.signer_name
        self._timestampers: dict[TimeStampResponder, ResponderTimeStamper] = {}

    def _timestamper(self, respond: TimeStampResponder) -> ResponderTimeStamper:
        # One per responder (bound methods of one TSA compare equal): pyHanko keeps a dummy
        # token in it to size the signature, so it asks the TSA for that only once.
        stamper = self._timestampers.get(respond)
        if stamper is None:
            stamper = self._timestampers[respond] = ResponderTimeStamper(respond)
        return stamper

    def seal(self, document: bytes, options: SealOptions) -> bytes:
        writer = _open(document)
        existing = {name: value for name, value, _ in fields.enumerate_sig_fields(writer.prev)}
        first_seal = not any(name.startswith(SEAL_FIELD_PREFIX) for name in existing)
        if first_seal:
            if not options.seal_slots:
                raise SealError("the licence type defines no seal position")
            if existing:
                raise InputError("the document already has signature fields of its own")
            field_name = f"{SEAL_FIELD_PREFIX}1"
            for number, box in enumerate(options.seal_slots[1:], start=2):
                fields.append_signature_field(
                    writer, fields.SigFieldSpec(f"{SEAL_FIELD_PREFIX}{number}", 0, _box(box))
                )
            field_spec = fields.SigFieldSpec(field_name, 0, _box(options.seal_slots[0]))
        else:
            free = sorted(
                (
                    n
                    for n, value in existing.items()
                    if value is None and n.startswith(SEAL_FIELD_PREFIX)
                ),
                key=lambda n: int(n.removeprefix(SEAL_FIELD_PREFIX) or 0),
            )
            if free:
                field_name, field_spec = free[0], None
            else:
                # No position left: an invisible co-seal, the one new field a certified
                # document may still receive (it changes nothing anyone sees on the page).
                number = 1 + sum(1 for name in existing if name.startswith(SEAL_FIELD_PREFIX))
                field_name = f"{SEAL_FIELD_PREFIX}{number}"
                field_spec = fields.SigFieldSpec(field_name)
        timestamper = self._timestamper(options.timestamp)
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=options.reason,
            location=options.location,
            name=self._signer_name,
            certify=first_seal,
            docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        )
        pdf_signer = signers.PdfSigner(
            meta,
            signer=self._signer,
            timestamper=timestamper,
            stamp_style=self._stamp.style(),
            new_field_spec=field_spec,
        )
        try:
            signed = pdf_signer.sign_pdf(writer, bytes_reserved=timestamper.signature_reservation)
            if timestamper.signature_reservation is None:
                timestamper.signature_reservation = _reserved_by_last_signature(signed)
            if options.level.embeds_validation_data:
                _add_dss(signed, options.validation)
            if options.level is PadesLevel.B_LTA:
                signed = _document_timestamp(signed, timestamper, existing)
        except SigningError as exc:
            raise SealError(f"sealing failed: {exc}") from None
        return signed.getvalue()


def _open(document: bytes) -> IncrementalPdfFileWriter:
    try:
        return IncrementalPdfFileWriter(io.BytesIO(document), strict=False)
    except (PdfError, ValueError) as exc:
        raise InputError(f"document to seal is not a readable PDF ({exc})") from None


def _box(box: Box) -> tuple[int, int, int, int]:
    left, bottom, right, top = (round(v) for v in box)
    return left, bottom, right, top


def _add_dss(output: io.BytesIO, material: ValidationMaterial) -> None:
    if not (material.ocsp_responses or material.crls):
        raise SealError("B-LT needs revocation data (OCSP responses or CRLs) to embed")
    DocumentSecurityStore.add_dss(
        output,
        None,
        certs=[_asn1_certificate(c) for c in material.certificates],
        ocsps=[asn1_ocsp.OCSPResponse.load(der) for der in material.ocsp_responses],
        crls=[asn1_crl.CertificateList.load(der) for der in material.crls],
        strict=False,
    )


def _document_timestamp(
    signed: io.BytesIO, timestamper: ResponderTimeStamper, existing: dict[str, object]
) -> io.BytesIO:
    number = 1 + sum(1 for name in existing if name.startswith(TIMESTAMP_FIELD_PREFIX))
    stamper = signers.PdfTimeStamper(timestamper, field_name=f"{TIMESTAMP_FIELD_PREFIX}{number}")
    signed.seek(0)
    stamped = stamper.timestamp_pdf(
        IncrementalPdfFileWriter(signed, strict=False),
        "sha256",
        bytes_reserved=timestamper.timestamp_reservation,
    )
    if timestamper.timestamp_reservation is None:
        timestamper.timestamp_reservation = _reserved_by_last_signature(stamped)
    return stamped


def _reserved_by_last_signature(output: io.BytesIO) -> int:
    """Hex characters between the two signed ranges of the signature just written."""
    data = output.getvalue()
    at = data.rindex(b"/ByteRange")
    _, first_length, second_start, _ = (
        int(v) for v in data[at:].split(b"[", 1)[1].split(b"]", 1)[0].split()
    )
    return second_start - first_length - 2  # without the < and >
