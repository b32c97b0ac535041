"""Whether the certificates behind a seal were revoked, decided offline from what the
verifier holds: OCSP answers and CRLs embedded in the PDF (its DSS, B-LT and up) and the
CRLs of an offline bundle.

The decision is made here, not by pyHanko (MEASURED.md: its offline AdES verdicts differ
between levels), at the time the seal is proven to exist: a trusted timestamp's time, or
without one the validation time. A certificate revoked at or before that time makes the
seal INVALID; one revoked later does not, when a timestamp proves the seal came first.
With no usable answer the seal's status is unknown and the verdict INDETERMINATE.

The TSA behind a seal's signature timestamp is checked too: a timestamp proves its time
only if the TSA certificate was not revoked by then, and not at all when it was revoked for
key compromise (whoever holds the key can stamp any time).

Public API: EmbeddedEvidence, CertificateRevocation, ChainRevocation, BundleAnswer,
check_chain, check_timestamp_authority.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from verifier.crl import (
    CertificateStatus,
    IssuerKey,
    RevocationStatus,
    VerifiedCrl,
    certificate_status,
)
from verifier.timeutil import format_time

# An OCSP answer made this long before the proven signing time still counts as "good at
# signing": a sealer fetches its evidence just before it signs and timestamps.
OCSP_LEEWAY = timedelta(hours=1)
MAX_OCSP_RESPONSES = 64
EMBEDDED = "PDF's own validation data (DSS)"
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)

# The bundle CRLs' word on (certificate, issuer) at the validation time: what
# `certificate_status(bundle_crls, certificate, issuer, at, "bundle")` answers, perhaps
# remembered from an earlier file by a caller that verifies many (verifier.pdf.PdfVerifier).
BundleAnswer = Callable[[x509.Certificate, x509.Certificate], CertificateStatus]


@dataclass(frozen=True)
class EmbeddedEvidence:
    """What the PDF itself carries: OCSP responses (DER), verified CRLs, certificates."""

    ocsp_responses: tuple[bytes, ...] = ()
    crls: Mapping[IssuerKey, VerifiedCrl] = field(default_factory=dict)
    certificates: tuple[x509.Certificate, ...] = ()
    # The trust list's national root: the issuer of the region CAs whose status is checked.
    national_root: x509.Certificate | None = None


@dataclass(frozen=True)
class CertificateRevocation:
    """One certificate's revocation status and where it came from."""

    subject: str
    status: RevocationStatus
    source: str
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "certificate": self.subject,
            "status": str(self.status),
            "source": self.source,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "reason": self.reason.value if self.reason else None,
        }


@dataclass(frozen=True)
class ChainRevocation:
    """The seal's verdict on revocation: `problem` is None when every certificate is known
    good at the proven time; `final` says a revocation (INVALID) rather than unknown."""

    certificates: tuple[CertificateRevocation, ...]
    problem: str | None
    final: bool


def check_chain(
    chain: Sequence[tuple[x509.Certificate, x509.Certificate]],
    *,
    proven_at: datetime,
    timestamped: bool,
    embedded: EmbeddedEvidence,
    bundle_crls: Mapping[IssuerKey, VerifiedCrl] | None,
    at: datetime,
    bundle_answer: BundleAnswer | None = None,
) -> ChainRevocation:
    """Each (certificate, issuer) of the seal's chain, leaf first, against every source.
    With `bundle_crls`, `bundle_answer` (when given) stands in for asking them directly."""
    ask_bundle = _bundle_answer(bundle_crls, bundle_answer, at)
    results = []
    for certificate, issuer in chain:
        answers = _answers(certificate, issuer, embedded, ask_bundle, proven_at, at)
        results.append(_decide(certificate, answers))
    for result in results:
        if result.status is not RevocationStatus.REVOKED:
            continue
        revoked_at = result.revoked_at
        if revoked_at is None or not timestamped or revoked_at <= proven_at:
            when = (
                "before the seal was made"
                if timestamped
                else "and no timestamp proves the seal came first"
            )
            stated = format_time(revoked_at) if revoked_at else "(time not stated)"
            return ChainRevocation(
                tuple(results),
                f"certificate {result.subject} was revoked {stated} {when} ({result.source})",
                final=True,
            )
    for result in results:
        if result.status is RevocationStatus.UNKNOWN:
            return ChainRevocation(
                tuple(results),
                f"revocation status of {result.subject} is unknown: {result.source}",
                final=False,
            )
    return ChainRevocation(tuple(results), None, final=False)


def check_timestamp_authority(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    *,
    stamped_at: datetime,
    embedded: EmbeddedEvidence,
    bundle_crls: Mapping[IssuerKey, VerifiedCrl] | None,
    at: datetime,
    bundle_answer: BundleAnswer | None = None,
) -> ChainRevocation:
    """The TSA certificate that signed a seal's timestamp of `stamped_at`, under `issuer`.
    `problem` (final) says the timestamp proves no time. An unknown status leaves it
    standing: the trust list, which withdraws a compromised TSA, is what anchors it."""
    ask_bundle = _bundle_answer(bundle_crls, bundle_answer, at)
    result = _decide(
        certificate, _answers(certificate, issuer, embedded, ask_bundle, stamped_at, at)
    )
    if result.status is not RevocationStatus.REVOKED:
        return ChainRevocation((result,), None, final=False)
    compromised = result.reason is x509.ReasonFlags.key_compromise
    if not compromised and result.revoked_at is not None and result.revoked_at > stamped_at:
        return ChainRevocation((result,), None, final=False)
    stated = format_time(result.revoked_at) if result.revoked_at else "(time not stated)"
    why = "for key compromise" if compromised else "before it stamped the seal"
    return ChainRevocation(
        (result,),
        f"TSA certificate {result.subject} was revoked {stated} {why} ({result.source}), "
        "so the seal's timestamp proves no time",
        final=True,
    )


def _bundle_answer(
    bundle_crls: Mapping[IssuerKey, VerifiedCrl] | None,
    bundle_answer: BundleAnswer | None,
    at: datetime,
) -> BundleAnswer | None:
    if bundle_crls is None:
        return None
    crls = bundle_crls
    return bundle_answer or (
        lambda certificate, issuer: certificate_status(crls, certificate, issuer, at, "bundle")
    )


def _decide(
    certificate: x509.Certificate, answers: list[CertificateStatus]
) -> CertificateRevocation:
    subject = certificate.subject.rfc4514_string()
    revoked = [a for a in answers if a.status is RevocationStatus.REVOKED]
    if revoked:
        earliest = min(revoked, key=lambda a: a.revoked_at or _FAR_FUTURE)
        return CertificateRevocation(
            subject, RevocationStatus.REVOKED, earliest.source, earliest.revoked_at, earliest.reason
        )
    good = [a for a in answers if a.status is RevocationStatus.GOOD]
    if good:
        return CertificateRevocation(
            subject, RevocationStatus.GOOD, "; ".join(a.source for a in good)
        )
    why = "; ".join(a.source for a in answers) or "no OCSP answer or CRL covers it"
    return CertificateRevocation(subject, RevocationStatus.UNKNOWN, why)


def _answers(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    embedded: EmbeddedEvidence,
    bundle_answer: BundleAnswer | None,
    proven_at: datetime,
    at: datetime,
) -> list[CertificateStatus]:
    answers = [
        answer
        for der in embedded.ocsp_responses[:MAX_OCSP_RESPONSES]
        if (answer := _ocsp_answer(der, certificate, issuer, embedded, proven_at)) is not None
    ]
    if embedded.crls:
        answers.append(certificate_status(embedded.crls, certificate, issuer, at, EMBEDDED))
    if bundle_answer is not None:
        answers.append(bundle_answer(certificate, issuer))
    return answers


def _ocsp_answer(
    der: bytes,
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    embedded: EmbeddedEvidence,
    proven_at: datetime,
) -> CertificateStatus | None:
    """The embedded OCSP response's word on `certificate`, if it is about it and verifies."""
    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return None
        single = next((r for r in response.responses if _about(r, certificate, issuer)), None)
        if single is None:
            return None
        responder = _responder(response, issuer, embedded)
    except (ValueError, TypeError):
        return None
    if responder is None:
        return CertificateStatus(
            RevocationStatus.UNKNOWN,
            f"an embedded OCSP answer for {certificate.subject.rfc4514_string()} is not "
            "signed by its issuer or a responder it certified",
        )
    produced = response.produced_at_utc
    source = (
        f"embedded OCSP answer of {responder.subject.rfc4514_string()}, "
        f"produced {format_time(produced)}"
    )
    if single.certificate_status is ocsp.OCSPCertStatus.REVOKED:
        return CertificateStatus(
            RevocationStatus.REVOKED, source, single.revocation_time_utc, single.revocation_reason
        )
    if single.certificate_status is ocsp.OCSPCertStatus.GOOD:
        if single.this_update_utc < proven_at - OCSP_LEEWAY:
            return CertificateStatus(
                RevocationStatus.UNKNOWN, f"{source}: made too long before the seal"
            )
        return CertificateStatus(RevocationStatus.GOOD, source)
    return CertificateStatus(RevocationStatus.UNKNOWN, f"{source}: status unknown")


def _about(
    single: ocsp.OCSPSingleResponse, certificate: x509.Certificate, issuer: x509.Certificate
) -> bool:
    if single.serial_number != certificate.serial_number:
        return False
    algorithm = single.hash_algorithm
    return single.issuer_name_hash == _digest(
        algorithm, issuer.subject.public_bytes()
    ) and single.issuer_key_hash == _digest(algorithm, _key_bits(issuer))


def _responder(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, embedded: EmbeddedEvidence
) -> x509.Certificate | None:
    """The certificate whose key signed `response`: the issuer itself, or a responder the
    issuer certified for OCSP signing (RFC 6960 4.2.2.2)."""
    candidates = [issuer, *response.certificates, *embedded.certificates]
    for candidate in candidates:
        if not _names_responder(response, candidate):
            continue
        if candidate != issuer and not _delegated_by(candidate, issuer, response.produced_at_utc):
            continue
        if _signature_verifies(candidate, response):
            return candidate
    return None


def _names_responder(response: ocsp.OCSPResponse, candidate: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == candidate.subject
    key_hash = response.responder_key_hash
    # RFC 6960 fixes ResponderID byKey as SHA-1: an identifier here, not a security hash.
    by_key = _digest(hashes.SHA1(), _key_bits(candidate))  # noqa: S303
    return key_hash is not None and key_hash == by_key


def _delegated_by(
    responder: x509.Certificate, issuer: x509.Certificate, produced: datetime
) -> bool:
    try:
        responder.verify_directly_issued_by(issuer)
        usage = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    in_time = responder.not_valid_before_utc <= produced <= responder.not_valid_after_utc
    return ExtendedKeyUsageOID.OCSP_SIGNING in usage and in_time


def _signature_verifies(signer: x509.Certificate, response: ocsp.OCSPResponse) -> bool:
    key = signer.public_key()
    algorithm = response.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(
                response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm
            )
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's bytes, which OCSP key hashes are taken over."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return key.public_bytes(Encoding.DER, PublicFormat.PKCS1)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()
