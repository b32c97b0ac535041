"""Offline verification of a sealed licence PDF against the federation trust list.

pyHanko checks the CMS signatures and the certificate paths; this module adds
what a licence needs on top (see MEASURED.md for pyHanko's blind spots): at
least one seal, each ByteRange gap holding exactly that signature's hex
contents, the last seal covering every byte of the file, earlier seals
followed only by changes their DocMDP level allows, and trust decided by the
trust list's `seal-ca` services alone.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import parser as asn1_parser
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from verifier.certs import sha256_fingerprint, subject_attribute
from verifier.errors import InputError
from verifier.report import Indication, Verdict
from verifier.trust_list import ServiceType, TrustedService, TrustList

MAX_PDF_BYTES = 50 * 1024 * 1024
# What a seal certificate must say it is for: a certificate issued for another service (TSA,
# OCSP, identity tokens, status lists) under the same region CA cannot seal a licence.
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"
SEAL_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"},
    match_all_key_usages=True,
    extd_key_usage={DOCUMENT_SIGNING_EKU},
    explicit_extd_key_usage_required=True,
)
REVOCATION_NOT_CHECKED = "certificate revocation not checked: no CRL/OCSP data in this input"

# pyHanko logs every validation problem it then reports to us; keep our output clean.
logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class SealReport:
    field_name: str
    signer: str
    department: str | None
    organization_identifier: str | None
    region_code: str | None
    region_name: str | None
    signing_time: datetime | None
    timestamped: bool
    verdict: Verdict
    indication: Indication
    reason: str


@dataclass(frozen=True)
class PdfReport:
    verdict: Verdict
    indication: Indication
    reason: str
    seals: tuple[SealReport, ...]
    trust_list_sequence: int
    trust_list_issued_at: datetime
    validation_time: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "licence-pdf",
            "verdict": str(self.verdict),
            "indication": str(self.indication),
            "reason": self.reason,
            "validation_time": self.validation_time.isoformat(),
            "trust_list": {
                "sequence": self.trust_list_sequence,
                "issued_at": self.trust_list_issued_at.isoformat(),
            },
            "seals": [
                {
                    "field": s.field_name,
                    "signer": s.signer,
                    "department": s.department,
                    "organization_identifier": s.organization_identifier,
                    "region": s.region_code,
                    "region_name": s.region_name,
                    "signing_time": s.signing_time.isoformat() if s.signing_time else None,
                    "signing_time_source": "timestamp" if s.timestamped else "claimed by signer",
                    "verdict": str(s.verdict),
                    "indication": str(s.indication),
                    "reason": s.reason,
                }
                for s in self.seals
            ],
            "revocation": REVOCATION_NOT_CHECKED,
        }


def verify_pdf(data: bytes, trust_list: TrustList, *, at: datetime) -> PdfReport:
    """Judge a licence PDF. Raises InputError when `data` is not a readable PDF."""
    if len(data) > MAX_PDF_BYTES:
        raise InputError(f"PDF is larger than {MAX_PDF_BYTES} bytes")
    if not data.startswith(b"%PDF-"):
        raise InputError("input is not a PDF (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = list(reader.embedded_regular_signatures)
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InputError(f"PDF cannot be parsed ({type(exc).__name__})") from None

    def report(
        verdict: Verdict, indication: Indication, reason: str, seals: tuple[SealReport, ...] = ()
    ) -> PdfReport:
        return PdfReport(
            verdict, indication, reason, seals, trust_list.sequence, trust_list.issued_at, at
        )

    if not signatures:
        return report(Verdict.INVALID, Indication.NO_SIGNATURE, "the document carries no seal")
    services = [s for s in trust_list.services(ServiceType.SEAL_CA) if s.granted_at(at)]
    region_names = {r.code: r.name for r in trust_list.regions}
    seals = tuple(
        _check_seal(
            data, signature, services, region_names, at, is_last=index == len(signatures) - 1
        )
        for index, signature in enumerate(signatures)
    )
    failed = next((s for s in seals if s.verdict is not Verdict.VALID), None)
    if failed is not None:
        return report(
            failed.verdict, failed.indication, f"{failed.field_name}: {failed.reason}", seals
        )
    if trust_list.is_stale(at):
        return report(
            Verdict.INDETERMINATE,
            Indication.TRY_LATER,
            "trust list is past its next_update: get a current one",
            seals,
        )
    return report(
        Verdict.VALID, Indication.TOTAL_PASSED, f"{len(seals)} seal(s) valid and trusted", seals
    )


def _check_seal(
    data: bytes,
    signature: EmbeddedPdfSignature,
    services: list[TrustedService],
    region_names: dict[str, str],
    at: datetime,
    *,
    is_last: bool,
) -> SealReport:
    cert = signature.signer_cert
    signer = x509.load_der_x509_certificate(cert.dump()) if cert is not None else None

    def seal(
        verdict: Verdict,
        indication: Indication,
        reason: str,
        service: TrustedService | None = None,
        status: PdfSignatureStatus | None = None,
    ) -> SealReport:
        return SealReport(
            field_name=signature.field_name,
            signer=signer.subject.rfc4514_string() if signer else "unknown",
            department=subject_attribute(signer, NameOID.ORGANIZATION_NAME) if signer else None,
            organization_identifier=(
                subject_attribute(signer, NameOID.ORGANIZATION_IDENTIFIER) if signer else None
            ),
            region_code=service.region_code if service else None,
            region_name=region_names.get(service.region_code) if service else None,
            signing_time=status.signer_reported_dt if status else None,
            timestamped=bool(status and status.timestamp_validity),
            verdict=verdict,
            indication=indication,
            reason=reason,
        )

    byte_range_problem = _byte_range_problem(data, signature, is_last=is_last)
    if byte_range_problem:
        return seal(Verdict.INVALID, Indication.HASH_FAILURE, byte_range_problem)
    if signer is None:
        return seal(Verdict.INVALID, Indication.FORMAT_FAILURE, "signature names no signer")
    context = ValidationContext(
        trust_roots=[_asn1(c) for s in services for c in s.certificates],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=at,
    )
    try:
        status = validate_pdf_signature(signature, context, key_usage_settings=SEAL_KEY_USAGE)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        return seal(
            Verdict.INVALID,
            Indication.FORMAT_FAILURE,
            f"signature cannot be validated ({type(exc).__name__})",
        )
    if not status.intact:
        return seal(
            Verdict.INVALID,
            Indication.HASH_FAILURE,
            "signed bytes were changed after sealing",
            status=status,
        )
    if not status.valid:
        return seal(
            Verdict.INVALID,
            Indication.SIG_CRYPTO_FAILURE,
            "signature value does not verify",
            status=status,
        )
    service = _anchoring_service(status, services)
    if not status.trusted or service is None:
        return seal(
            Verdict.INVALID,
            Indication.NO_CERTIFICATE_CHAIN_FOUND,
            "seal certificate does not chain to a seal CA granted in the trust list",
            status=status,
        )
    if is_last and status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
        return seal(
            Verdict.INVALID,
            Indication.HASH_FAILURE,
            "the last seal does not cover the whole file",
            service,
            status,
        )
    if not is_last:
        level = status.modification_level
        if (
            status.coverage < SignatureCoverageLevel.ENTIRE_REVISION
            or level is None
            or (level > ModificationLevel.FORM_FILLING)
            or status.docmdp_ok is False
        ):
            return seal(
                Verdict.INVALID,
                Indication.FORMAT_FAILURE,
                "the document was changed after this seal beyond what it allows",
                service,
                status,
            )
    return seal(Verdict.VALID, Indication.TOTAL_PASSED, "seal valid", service, status)


def _byte_range_problem(data: bytes, signature: EmbeddedPdfSignature, *, is_last: bool) -> str:
    """The signed ranges must be [0, a) and [b, b+c), the gap exactly `<hex of /Contents>`."""
    try:
        byte_range = [int(v) for v in signature.sig_object["/ByteRange"]]
        contents = bytes(signature.sig_object["/Contents"])
    except (KeyError, TypeError, ValueError):
        return "signature has no usable /ByteRange or /Contents"
    if len(byte_range) != 4:
        return "/ByteRange does not hold exactly two ranges"
    start, first_len, second_start, second_len = byte_range
    end = second_start + second_len
    if start != 0 or first_len <= 0 or second_start <= first_len or second_len < 0:
        return "/ByteRange is malformed"
    if end > len(data) or (is_last and end != len(data)):
        return "/ByteRange does not end exactly at the end of the file"
    gap = data[first_len:second_start]
    if gap[:1] != b"<" or gap[-1:] != b">":
        return "the bytes left unsigned are not the signature's hex string"
    try:
        gap_value = bytes.fromhex(gap[1:-1].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return "the bytes left unsigned are not the signature's hex string"
    if gap_value != contents:
        return "the bytes left unsigned are not exactly this signature's contents"
    try:
        _, _, _, header, body, trailer = asn1_parser.parse(contents)
    except ValueError:
        return "/Contents does not start with a DER-encoded signature"
    if contents[len(header) + len(body) + len(trailer) :].strip(b"\x00"):
        return "/Contents holds unsigned data after the signature (only zero padding is allowed)"
    return ""


def _anchoring_service(
    status: PdfSignatureStatus, services: list[TrustedService]
) -> TrustedService | None:
    path = status.validation_path
    if path is None:
        return None
    anchor = path.trust_anchor.authority.certificate if path.trust_anchor else None
    if anchor is None:
        return None
    fingerprint = sha256_fingerprint(x509.load_der_x509_certificate(anchor.dump()))
    return next(
        (s for s in services if any(sha256_fingerprint(c) == fingerprint for c in s.certificates)),
        None,
    )


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))
