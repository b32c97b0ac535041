"""PAdES sealing of licence PDFs with pyHanko.

Building a pyHanko signer and the seal's appearance costs far more than the
signature itself (see MEASURED.md), so a `PdfSealer` is made once per seal and
reused for every document that seal signs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Protocol

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from PIL import Image
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from verifier.errors import InputError

SEAL_FIELD_PREFIX = "Seal"


@dataclass(frozen=True)
class SealMaterial:
    """What a seal signs with: its certificate, key, issuing chain and stamp image."""

    certificate: x509.Certificate
    private_key: CertificateIssuerPrivateKeyTypes
    chain: tuple[x509.Certificate, ...]
    image_png: bytes
    signer_name: str


class DocumentSealer(Protocol):
    """Seals a rendered licence file; a PDF and (later) an OFD sealer both fit."""

    def seal(
        self,
        document: bytes,
        *,
        box: tuple[float, float, float, float],
        reason: str,
        location: str,
    ) -> bytes: ...


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


class PdfSealer:
    """Signs PDFs as PAdES (certification signature allowing later form fill-in / co-seals)."""

    def __init__(self, material: SealMaterial) -> None:
        key_der = material.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._signer = signers.SimpleSigner(
            signing_cert=_asn1_certificate(material.certificate),
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs(
                [_asn1_certificate(c) for c in material.chain]
            ),
        )
        image = Image.open(io.BytesIO(material.image_png))
        image.load()
        self._stamp_style = StaticStampStyle(
            border_width=0, background=PdfImage(image), background_opacity=1.0
        )
        self._signer_name = material.signer_name

    def seal(
        self,
        document: bytes,
        *,
        box: tuple[float, float, float, float],
        reason: str,
        location: str,
    ) -> bytes:
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(document), strict=False)
        except (PdfError, ValueError) as exc:
            raise InputError(f"document to seal is not a readable PDF ({exc})") from None
        existing = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
        field_name = next(
            f"{SEAL_FIELD_PREFIX}{n}"
            for n in range(1, 100)
            if f"{SEAL_FIELD_PREFIX}{n}" not in existing
        )
        first_seal = not existing
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason,
            location=location,
            name=self._signer_name,
            certify=first_seal,
            docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        )
        pdf_signer = signers.PdfSigner(
            meta,
            signer=self._signer,
            stamp_style=self._stamp_style,
            new_field_spec=fields.SigFieldSpec(
                sig_field_name=field_name,
                on_page=0,
                box=tuple(round(v) for v in box),  # type: ignore[arg-type]
            ),
        )
        return pdf_signer.sign_pdf(writer).getvalue()
