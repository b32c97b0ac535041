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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import parser as asn1_parser
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
)
from pyhanko_certvalidator import ValidationContext

from verifier.certs import sha256_fingerprint, subject_attribute
from verifier.crl import IssuerKey, VerifiedCrl, verify_der_crls
from verifier.errors import InputError
from verifier.report import Indication, Verdict
from verifier.revocation import (
    CertificateRevocation,
    ChainRevocation,
    EmbeddedEvidence,
    check_chain,
)
from verifier.trust_list import ServiceType, TrustedService, TrustList

MAX_PDF_BYTES = 50 * 1024 * 1024
MAX_DSS_ITEMS = 256
# What a seal certificate must say it is for: a certificate issued for another service (TSA,
# OCSP, identity tokens, status lists) under the same region CA cannot seal a licence.
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"
SEAL_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"},
    match_all_key_usages=True,
    extd_key_usage={DOCUMENT_SIGNING_EKU},
    explicit_extd_key_usage_required=True,
)


@dataclass(frozen=True)
class ValidationPolicy:
    """What VALID requires beyond intact, trusted seals. By default each seal's certificates
    must be known unrevoked at the proven signing time (from the PDF's own validation data
    or the bundle's CRLs): without that the answer is INDETERMINATE, never VALID. Only a
    caller that checks revocation some other way (the server, against its own database)
    relaxes it."""

    require_revocation: bool = True


STRICT = ValidationPolicy()

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
    revocation: tuple[CertificateRevocation, ...] = ()


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
                    "revocation": [r.to_json() for r in s.revocation],
                }
                for s in self.seals
            ],
        }


def verify_pdf(
    data: bytes,
    trust_list: TrustList,
    *,
    at: datetime,
    crls: Mapping[IssuerKey, VerifiedCrl] | None = None,
    policy: ValidationPolicy = STRICT,
) -> PdfReport:
    """Judge a licence PDF, with `crls` (a bundle's, verified) beside the PDF's own
    validation data for revocation. Raises InputError when `data` is not a readable PDF."""
    if len(data) > MAX_PDF_BYTES:
        raise InputError(f"PDF is larger than {MAX_PDF_BYTES} bytes")
    if not data.startswith(b"%PDF-"):
        raise InputError("input is not a PDF (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = list(reader.embedded_regular_signatures)
        document_timestamps = list(reader.embedded_timestamp_signatures)
        embedded = _embedded_evidence(reader, trust_list, at)
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InputError(f"PDF cannot be parsed ({type(exc).__name__})") from None
    revocation = _Revocation(embedded, crls, policy)

    def report(
        verdict: Verdict, indication: Indication, reason: str, seals: tuple[SealReport, ...] = ()
    ) -> PdfReport:
        return PdfReport(
            verdict, indication, reason, seals, trust_list.sequence, trust_list.issued_at, at
        )

    if not signatures:
        return report(Verdict.INVALID, Indication.NO_SIGNATURE, "the document carries no seal")
    tail_problem = _tail_problem(data)
    if tail_problem:
        return report(Verdict.INVALID, Indication.HASH_FAILURE, tail_problem)
    everything = sorted(
        [*signatures, *document_timestamps], key=lambda s: int(s.sig_object["/ByteRange"][2])
    )
    region_names = {r.code: r.name for r in trust_list.regions}
    seals = tuple(
        _check_seal(
            data,
            signature,
            trust_list,
            region_names,
            at,
            revocation,
            is_last=signature is everything[-1],
        )
        for signature in signatures
    )
    failed = next((s for s in seals if s.verdict is not Verdict.VALID), None)
    if failed is not None:
        return report(
            failed.verdict, failed.indication, f"{failed.field_name}: {failed.reason}", seals
        )
    for stamp in document_timestamps:
        problem = _document_timestamp_problem(
            data, stamp, trust_list, at, is_last=stamp is everything[-1]
        )
        if problem:
            return report(Verdict.INVALID, Indication.HASH_FAILURE, problem, seals)
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
    trust_list: TrustList,
    region_names: dict[str, str],
    at: datetime,
    revocation: _Revocation,
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
        revoked: tuple[CertificateRevocation, ...] = (),
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
            signing_time=_signing_time(status) if status else None,
            timestamped=bool(status and _trusted_timestamp(status)),
            verdict=verdict,
            indication=indication,
            reason=reason,
            revocation=revoked,
        )

    byte_range_problem = _byte_range_problem(data, signature)
    if byte_range_problem:
        return seal(Verdict.INVALID, Indication.HASH_FAILURE, byte_range_problem)
    if signer is None:
        return seal(Verdict.INVALID, Indication.FORMAT_FAILURE, "signature names no signer")
    # A trusted signature timestamp proves when the seal was made: the seal CA must have been
    # granted, and the certificate valid, then. Without one, only "now" is proven.
    try:
        status = _validate_seal(signature, trust_list, at)
        signing_time = _trusted_timestamp(status)
        if signing_time is not None:
            status = _validate_seal(signature, trust_list, signing_time)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        return seal(
            Verdict.INVALID,
            Indication.FORMAT_FAILURE,
            f"signature cannot be validated ({type(exc).__name__})",
        )
    stamp = status.timestamp_validity
    if stamp is not None and not (stamp.intact and stamp.valid):
        return seal(
            Verdict.INVALID,
            Indication.HASH_FAILURE,
            "the signature timestamp does not match the signature",
            status=status,
        )
    services = [
        s for s in trust_list.services(ServiceType.SEAL_CA) if s.granted_at(signing_time or at)
    ]
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
    if not _only_allowed_changes_after(status, is_last=is_last) or status.docmdp_ok is False:
        return seal(
            Verdict.INVALID,
            Indication.FORMAT_FAILURE,
            "the document was changed after this seal beyond what it allows",
            service,
            status,
        )
    checked = revocation.check(signer, service, signing_time, at)
    if checked.problem is not None and checked.final:
        return seal(
            Verdict.INVALID,
            Indication.REVOKED,
            checked.problem,
            service,
            status,
            checked.certificates,
        )
    if checked.problem is not None and revocation.policy.require_revocation:
        return seal(
            Verdict.INDETERMINATE,
            Indication.TRY_LATER,
            checked.problem,
            service,
            status,
            checked.certificates,
        )
    return seal(
        Verdict.VALID, Indication.TOTAL_PASSED, "seal valid", service, status, checked.certificates
    )


@dataclass(frozen=True)
class _Revocation:
    """The revocation evidence a verification holds, and what the policy asks of it."""

    embedded: EmbeddedEvidence
    crls: Mapping[IssuerKey, VerifiedCrl] | None
    policy: ValidationPolicy

    def check(
        self,
        seal_certificate: x509.Certificate,
        service: TrustedService,
        signing_time: datetime | None,
        at: datetime,
    ) -> ChainRevocation:
        """The seal certificate under the listed region CA that issued it, and that CA
        under the national root (when the root certified it)."""
        issuer = next(c for c in service.certificates if _issued(seal_certificate, c))
        chain = [(seal_certificate, issuer)]
        root = self.embedded.national_root
        if root is not None and issuer != root and _issued(issuer, root):
            chain.append((issuer, root))
        return check_chain(
            chain,
            proven_at=signing_time or at,
            timestamped=signing_time is not None,
            embedded=self.embedded,
            bundle_crls=self.crls,
            at=at,
        )


def _issued(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _embedded_evidence(
    reader: PdfFileReader, trust_list: TrustList, at: datetime
) -> EmbeddedEvidence:
    """The PDF's DSS: OCSP responses, CRLs (verified against the trust list), certificates."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return EmbeddedEvidence(national_root=trust_list.national_root)
    ocsps = tuple(bytes(ref.get_object().data) for ref in dss.ocsps[:MAX_DSS_ITEMS])
    crl_ders = [bytes(ref.get_object().data) for ref in dss.crls[:MAX_DSS_ITEMS]]
    certificates = tuple(
        x509.load_der_x509_certificate(c.dump()) for c in list(dss.load_certs())[:MAX_DSS_ITEMS]
    )
    return EmbeddedEvidence(
        ocsp_responses=ocsps,
        crls=verify_der_crls(crl_ders, trust_list, at, []),
        certificates=certificates,
        national_root=trust_list.national_root,
    )


def _validation_context(
    trust_list: TrustList, service_type: ServiceType, moment: datetime
) -> ValidationContext:
    """Anchors: only the certificates of services of `service_type` granted at `moment`."""
    return ValidationContext(
        trust_roots=[
            _asn1(c)
            for s in trust_list.services(service_type)
            if s.granted_at(moment)
            for c in s.certificates
        ],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=moment,
    )


def _validate_seal(
    signature: EmbeddedPdfSignature, trust_list: TrustList, moment: datetime
) -> PdfSignatureStatus:
    return validate_pdf_signature(
        signature,
        _validation_context(trust_list, ServiceType.SEAL_CA, moment),
        ts_validation_context=_validation_context(trust_list, ServiceType.TSA, moment),
        key_usage_settings=SEAL_KEY_USAGE,
    )


def _trusted_timestamp(status: PdfSignatureStatus) -> datetime | None:
    """The time a valid signature timestamp from a trust-listed TSA proves, if any."""
    stamp = status.timestamp_validity
    if stamp is None or not (stamp.intact and stamp.valid and stamp.trusted):
        return None
    return stamp.timestamp


def _signing_time(status: PdfSignatureStatus) -> datetime | None:
    return _trusted_timestamp(status) or status.signer_reported_dt


def _document_timestamp_problem(
    data: bytes,
    stamp: EmbeddedPdfSignature,
    trust_list: TrustList,
    at: datetime,
    *,
    is_last: bool,
) -> str:
    """A document timestamp (B-LTA) must be intact, from a trust-listed TSA, and followed
    only by what may follow a signature in its place."""
    name = stamp.field_name
    problem = _byte_range_problem(data, stamp)
    if problem:
        return f"{name}: {problem}"
    try:
        status = validate_pdf_timestamp(stamp, _validation_context(trust_list, ServiceType.TSA, at))
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        return f"{name}: document timestamp cannot be validated ({type(exc).__name__})"
    if not (status.intact and status.valid):
        return f"{name}: the document timestamp does not match the document"
    if not status.trusted:
        return f"{name}: the document timestamp is not from a TSA granted in the trust list"
    if not _only_allowed_changes_after(status, is_last=is_last):
        return f"{name}: the document was changed after its timestamp"
    return ""


def _only_allowed_changes_after(
    status: PdfSignatureStatus | DocumentTimestampStatus, *, is_last: bool
) -> bool:
    """What may follow a signature: after the last one (seal or document timestamp) only
    validation data (a DSS, B-LT); after an earlier seal also form filling and co-seals."""
    if status.coverage is SignatureCoverageLevel.ENTIRE_FILE:
        return True
    level = status.modification_level
    allowed = ModificationLevel.LTA_UPDATES if is_last else ModificationLevel.FORM_FILLING
    return (
        status.coverage >= SignatureCoverageLevel.ENTIRE_REVISION
        and level is not None
        and level <= allowed
    )


def _tail_problem(data: bytes) -> str:
    """The file must end where its last revision ends: after the last startxref's xref
    section comes exactly one startxref and one %%EOF. pyHanko ignores anything else there,
    which no signature covers and no diff analysis sees."""
    unaccounted = "bytes at the end of the file belong to no revision: nothing signs them"
    if not data.rstrip(b"\r\n").endswith(b"%%EOF"):
        return unaccounted
    keyword = data.rfind(b"startxref")
    try:
        xref_offset = int(data[keyword:].split()[1])
    except (IndexError, ValueError):
        return unaccounted
    if keyword < 0 or not 0 < xref_offset < keyword:
        return unaccounted
    last_revision = data[xref_offset:]
    if last_revision.count(b"startxref") != 1 or last_revision.count(b"%%EOF") != 1:
        return unaccounted
    return ""


def _byte_range_problem(data: bytes, signature: EmbeddedPdfSignature) -> str:
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
    if end > len(data):
        return "/ByteRange reaches beyond the end of the file"
    # A signature signs whole revisions: its range ends at a revision's %%EOF, which is the
    # end of the file unless later revisions (co-seals, DSS, timestamps) follow.
    if not data[:end].rstrip(b"\r\n").endswith(b"%%EOF") or (
        end < len(data) and data[end : end + 1] in (b"\r", b"\n")
    ):
        return "/ByteRange does not end at the end of the file or of a revision"
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
