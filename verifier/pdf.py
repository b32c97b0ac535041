"""Offline verification of a sealed licence PDF against the federation trust list.

pyHanko checks the CMS signatures and the certificate paths; this module adds
what a licence needs on top (see MEASURED.md for pyHanko's blind spots): at
least one seal, each ByteRange gap holding exactly that signature's hex
contents, the last seal covering every byte of the file, earlier seals
followed only by changes their DocMDP level allows, and trust decided by the
trust list's `seal-ca` services alone.

`PdfVerifier` judges any number of PDFs against one trust list, keeping across files only
what no file can change (see the class); `verify_pdf` is a verifier used once. Importing
this module also makes two pyHanko functions cheaper for the whole process, with the same
answers (see the end of the module).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Coroutine, Mapping
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import collect_timing_info
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import (
    PdfSignatureStatus,
)

from verifier import pdf_speedups  # noqa: F401  (installs the faster pyHanko readers)
from verifier.certs import subject_attribute
from verifier.crl import (
    IssuerKey,
    VerifiedCrl,
)
from verifier.errors import InputError
from verifier.pdf_fields import filled_signature_fields
from verifier.pdf_report import STRICT, PdfReport, SealReport, ValidationPolicy
from verifier.pdf_revocation import RevocationSources
from verifier.pdf_status import (
    chain,
    changes_after,
    claimed_signature_time,
    only_allowed_changes_after,
    service_status,
    trusted_time,
    within_validity,
)
from verifier.pdf_structure import (
    PARSE_ERRORS,
    UnusableSignature,
    byte_range_problem,
    byte_range_start,
    check_signatures_readable,
    tail_problem,
)
from verifier.pdf_trust import Anchors, Certificates
from verifier.report import Indication, Verdict
from verifier.revocation import (
    CertificateRevocation,
    ChainRevocation,
    EmbeddedEvidence,
)
from verifier.trust_list import ServiceType, TrustedService, TrustList

MAX_PDF_BYTES = 50 * 1024 * 1024
# ...and what a malformed CMS signature raises while it is validated: that seal is INVALID.
SIGNATURE_ERRORS: tuple[type[BaseException], ...] = (
    *PARSE_ERRORS,
    SignatureValidationError,
    UnsupportedAlgorithm,
)
# What a seal certificate must say it is for: a certificate issued for another service (TSA,
# OCSP, identity tokens, status lists) under the same region CA cannot seal a licence.
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"
SEAL_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"},
    match_all_key_usages=True,
    extd_key_usage={DOCUMENT_SIGNING_EKU},
    explicit_extd_key_usage_required=True,
)


# pyHanko logs every validation problem it then reports to us; keep our output clean.
__all__ = [
    "MAX_PDF_BYTES",
    "PARSE_ERRORS",
    "STRICT",
    "PdfReport",
    "PdfVerifier",
    "SealReport",
    "ValidationPolicy",
    "verify_pdf",
]

logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)


def verify_pdf(
    data: bytes,
    trust_list: TrustList,
    *,
    at: datetime,
    crls: Mapping[IssuerKey, VerifiedCrl] | None = None,
    policy: ValidationPolicy = STRICT,
) -> PdfReport:
    """Judge a licence PDF, with `crls` (a bundle's, verified) beside the PDF's own
    validation data for revocation. Raises InputError when `data` is not a readable PDF.
    To judge many, keep one `PdfVerifier`."""
    return PdfVerifier(trust_list, crls=crls, policy=policy).verify(data, at=at)


class PdfVerifier:
    """Judges licence PDFs against one trust list and one set of bundle CRLs (verified),
    as `verify_pdf` does, keeping across files only answers that no file can change:

    - the trust list's seal-CA and TSA certificates as pyHanko anchors, converted once, and
      one pyHanko trust manager per set of services granted at a moment. A moment only
      selects the set: each file still gets its own `ValidationContext`, with its own
      moment and its own certificate registry, so certificates one file carries never
      help another's path, and pyHanko checks every path at the file's own proven time;
    - one asn1crypto object per distinct certificate (by DER): pyHanko keeps what it works
      out about a certificate (normalised names, key hashes) on the object, so the seal,
      CA and TSA certificates every file carries are worked out once, not once per file;
    - which signatures verified (keyed by signature, signed bytes, key and algorithm):
      each certificate's signature under its issuer is checked once;
    - which listed service holds an anchor certificate (by its DER);
    - what `RevocationSources` keeps: whether certificate A was issued by B's key, the
      bundle CRLs' answers, the verified form of the CRLs a PDF embeds.

    Nothing that depends on a file's bytes or its proven signing time is kept unless the
    key holds them; each memo is bounded. A seal is validated by pyHanko once, at the
    time its timestamp proves (see `_validate_seal`), not first at `at` and then again.
    Use one verifier per thread."""

    def __init__(
        self,
        trust_list: TrustList,
        *,
        crls: Mapping[IssuerKey, VerifiedCrl] | None = None,
        policy: ValidationPolicy = STRICT,
    ) -> None:
        self.trust_list = trust_list
        self.crls = crls
        self.policy = policy
        self._region_names = {r.code: r.name for r in trust_list.regions}
        certificates = Certificates()
        self._seal_cas = Anchors(tuple(trust_list.services(ServiceType.SEAL_CA)), certificates)
        self._tsas = Anchors(tuple(trust_list.services(ServiceType.TSA)), certificates)
        self._revocation = RevocationSources(trust_list, crls)

    def verify(self, data: bytes, *, at: datetime) -> PdfReport:
        """Judge one licence PDF at validation time `at`. Raises InputError when `data` is
        not a readable PDF."""
        if len(data) > MAX_PDF_BYTES:
            raise InputError(f"PDF is larger than {MAX_PDF_BYTES} bytes")
        if not data.startswith(b"%PDF-"):
            raise InputError("input is not a PDF (no %PDF- header)")
        trust_list = self.trust_list

        def report(
            verdict: Verdict,
            indication: Indication,
            reason: str,
            seals: tuple[SealReport, ...] = (),
        ) -> PdfReport:
            return PdfReport(
                verdict, indication, reason, seals, trust_list.sequence, trust_list.issued_at, at
            )

        try:
            reader = PdfFileReader(io.BytesIO(data), strict=False)
            try:
                signatures = list(reader.embedded_regular_signatures)
            except PARSE_ERRORS:
                check_signatures_readable(reader)  # names the seal at fault, if one is
                raise
            document_timestamps = list(reader.embedded_timestamp_signatures)
            embedded = self._revocation.embedded(reader, at)
            everything = sorted([*signatures, *document_timestamps], key=byte_range_start)
            judged = {s.sig_field.raw_get("/V").reference for s in everything}
            unjudged = [f for f in filled_signature_fields(reader.root) if f.value not in judged]
        except UnusableSignature as exc:
            return report(Verdict.INVALID, Indication.FORMAT_FAILURE, str(exc))
        except InputError:
            raise
        except PARSE_ERRORS as exc:
            raise InputError(f"PDF cannot be parsed ({type(exc).__name__})") from None

        if not signatures:
            return report(Verdict.INVALID, Indication.NO_SIGNATURE, "the document carries no seal")
        problem = tail_problem(data)
        if problem:
            return report(Verdict.INVALID, Indication.HASH_FAILURE, problem)
        if unjudged:
            # A value pyHanko skips (unknown /SubFilter or /Type, an empty dictionary) shows
            # on the page like a seal while nobody judges it: a forged seal.
            return report(
                Verdict.INVALID,
                Indication.FORMAT_FAILURE,
                f"signature field {unjudged[0].name} holds a value that is not a signature "
                "this verifier can validate (a forged or unsupported seal)",
            )
        seals = tuple(
            self._check_seal(data, signature, at, embedded, is_last=signature is everything[-1])
            for signature in signatures
        )
        failed = next((s for s in seals if s.verdict is not Verdict.VALID), None)
        if failed is not None:
            return report(
                failed.verdict, failed.indication, f"{failed.field_name}: {failed.reason}", seals
            )
        for stamp in document_timestamps:
            problem = self._document_timestamp_problem(
                data, stamp, at, is_last=stamp is everything[-1]
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
            Verdict.VALID,
            Indication.TOTAL_PASSED,
            f"{len(seals)} seal(s) valid and trusted",
            seals,
        )

    def _check_seal(
        self,
        data: bytes,
        signature: EmbeddedPdfSignature,
        at: datetime,
        embedded: EmbeddedEvidence,
        *,
        is_last: bool,
    ) -> SealReport:
        try:
            cert = signature.signer_cert
            signer = x509.load_der_x509_certificate(cert.dump()) if cert is not None else None
        except SIGNATURE_ERRORS:
            signer = None  # judged below as a seal that names no signer
        # What a trusted signature timestamp proves, and its TSA's revocation status.
        signing_time: datetime | None = None
        tsa = ChainRevocation((), None, final=False)

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
                region_name=self._region_names.get(service.region_code) if service else None,
                signing_time=signing_time or (status.signer_reported_dt if status else None),
                timestamped=signing_time is not None,
                verdict=verdict,
                indication=indication,
                reason=f"{reason}; {tsa.problem}" if tsa.problem else reason,
                revocation=(*revoked, *tsa.certificates),
                chain=chain(status),
                trust_list_status=service_status(service, signing_time or at),
                changes_after=changes_after(status),
            )

        range_problem = byte_range_problem(data, signature)
        if range_problem:
            return seal(Verdict.INVALID, Indication.HASH_FAILURE, range_problem)
        if signer is None:
            return seal(Verdict.INVALID, Indication.FORMAT_FAILURE, "signature names no signer")
        # A trusted signature timestamp proves when the seal was made: the seal CA must have
        # been granted, and the certificate valid, then. Without one, only "now" is proven.
        try:
            signing_time, status = _run(self._validate_seal(signature, at))
            if signing_time is not None:
                tsa = self._revocation.timestamp_authority(
                    status.timestamp_validity, signing_time, at, embedded
                )
            if tsa.final:  # the timestamp proves nothing: judge the seal as made now
                signing_time, status = None, _run(self._validate_at(signature, at))
        except SIGNATURE_ERRORS as exc:
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
        service = self._anchoring_service(status, signing_time or at)
        if not status.trusted or service is None:
            return seal(
                Verdict.INVALID,
                Indication.NO_CERTIFICATE_CHAIN_FOUND,
                "seal certificate does not chain to a seal CA granted in the trust list",
                status=status,
            )
        if not only_allowed_changes_after(status, is_last=is_last) or status.docmdp_ok is False:
            return seal(
                Verdict.INVALID,
                Indication.FORMAT_FAILURE,
                "the document was changed after this seal beyond what it allows",
                service,
                status,
            )
        checked = self._revocation.seal_chain(signer, service, signing_time, at, embedded)
        if checked.problem is not None and checked.final:
            return seal(
                Verdict.INVALID,
                Indication.REVOKED,
                checked.problem,
                service,
                status,
                checked.certificates,
            )
        if checked.problem is not None and self.policy.require_revocation:
            return seal(
                Verdict.INDETERMINATE,
                Indication.TRY_LATER,
                checked.problem,
                service,
                status,
                checked.certificates,
            )
        return seal(
            Verdict.VALID,
            Indication.TOTAL_PASSED,
            "seal valid",
            service,
            status,
            checked.certificates,
        )

    async def _validate_seal(
        self, signature: EmbeddedPdfSignature, at: datetime
    ) -> tuple[datetime | None, PdfSignatureStatus]:
        """The time a trusted signature timestamp proves, and the seal validated at that
        time (without one, at `at`). Whether the timestamp is trusted is judged at `at`, by
        the TSAs granted then, as pyHanko judges it inside a validation at `at`.

        That usually takes one validation, at the time the seal's only timestamp claims:
        its answer stands when the TSA services granted then and at `at` are the same and
        each certificate of the timestamp's validated path is within its validity at `at`
        too, since nothing else in pyHanko's judgement of a timestamp depends on the moment
        here (no revocation data, no fetching, a time-blind algorithm policy). Otherwise
        the timestamp is judged at `at` on its own first."""
        claimed = claimed_signature_time(signature)
        at_claimed = None
        if claimed is not None and self._tsas.granted(claimed) == self._tsas.granted(at):
            at_claimed = await self._validate_at(signature, claimed)
            stamp = at_claimed.timestamp_validity
            if (
                stamp is not None
                and trusted_time(stamp) == claimed
                and within_validity(stamp.validation_path, at)
            ):
                return claimed, at_claimed
        timing = await collect_timing_info(
            signature.signer_info,
            self._tsas.context(at),
            raw_digest=signature.compute_digest,
        )
        signing_time = trusted_time(timing.get("timestamp_validity"))
        if at_claimed is not None and signing_time is not None and signing_time == claimed:
            return signing_time, at_claimed
        return signing_time, await self._validate_at(signature, signing_time or at)

    async def _validate_at(
        self, signature: EmbeddedPdfSignature, moment: datetime
    ) -> PdfSignatureStatus:
        """pyHanko's validation of the seal with the seal CAs and TSAs granted at `moment`."""
        return await async_validate_pdf_signature(
            signature,
            self._seal_cas.context(moment),
            ts_validation_context=self._tsas.context(moment),
            key_usage_settings=SEAL_KEY_USAGE,
        )

    def _anchoring_service(
        self, status: PdfSignatureStatus, moment: datetime
    ) -> TrustedService | None:
        """The seal-CA service granted at `moment` whose certificate is the path's anchor."""
        path = status.validation_path
        if path is None:
            return None
        anchor = path.trust_anchor.authority.certificate if path.trust_anchor else None
        if anchor is None:
            return None
        return self._seal_cas.service_holding(anchor.dump(), moment)

    def _document_timestamp_problem(
        self, data: bytes, stamp: EmbeddedPdfSignature, at: datetime, *, is_last: bool
    ) -> str:
        """A document timestamp (B-LTA) must be intact, from a trust-listed TSA, and followed
        only by what may follow a signature in its place."""
        name = stamp.field_name
        problem = byte_range_problem(data, stamp)
        if problem:
            return f"{name}: {problem}"
        try:
            status = _run(async_validate_pdf_timestamp(stamp, self._tsas.context(at)))
        except SIGNATURE_ERRORS as exc:
            return f"{name}: document timestamp cannot be validated ({type(exc).__name__})"
        if not (status.intact and status.valid):
            return f"{name}: the document timestamp does not match the document"
        if not status.trusted:
            return f"{name}: the document timestamp is not from a TSA granted in the trust list"
        if not only_allowed_changes_after(status, is_last=is_last):
            return f"{name}: the document was changed after its timestamp"
        return ""


_T = TypeVar("_T")


def _run(coroutine: Coroutine[object, object, _T]) -> _T:
    return asyncio.run(coroutine)
