"""Where a PdfVerifier learns whether the certificates behind a seal were revoked: the
PDF's own validation data (its DSS) and the bundle CRLs. The decision itself is
verifier.revocation's; this keeps, across the files of one run, only answers no file can
change: whether certificate A was issued by B's key (keyed by both DERs), the bundle CRLs'
answer for a (certificate, issuer) at a validation time, and the verified form of the CRLs
a PDF embeds (keyed by their exact DER and the validation time). Each memo is bounded.

Public API: RevocationSources.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.status import TimestampSignatureStatus

from verifier.crl import (
    CertificateStatus,
    IssuerKey,
    VerifiedCrl,
    certificate_status,
    verify_der_crls,
)
from verifier.pdf_trust import Memo, der
from verifier.revocation import (
    BundleAnswer,
    ChainRevocation,
    EmbeddedEvidence,
    check_chain,
    check_timestamp_authority,
)
from verifier.trust_list import ServiceType, TrustedService, TrustList

MAX_DSS_ITEMS = 256


class RevocationSources:
    """Revocation evidence for the seals of many PDFs judged against one trust list and
    one set of bundle CRLs (verified; None without a bundle). Use one per thread."""

    def __init__(self, trust_list: TrustList, crls: Mapping[IssuerKey, VerifiedCrl] | None) -> None:
        self.trust_list = trust_list
        self.crls = crls
        self._issued: Memo[tuple[bytes, bytes], bool] = Memo()
        self._bundle_answers: Memo[tuple[bytes, bytes, datetime], CertificateStatus] = Memo()
        self._embedded_crls: Memo[
            tuple[tuple[bytes, ...], datetime], Mapping[IssuerKey, VerifiedCrl]
        ] = Memo(limit=32)

    def seal_chain(
        self,
        seal_certificate: x509.Certificate,
        service: TrustedService,
        signing_time: datetime | None,
        at: datetime,
        embedded: EmbeddedEvidence,
    ) -> ChainRevocation:
        """The seal certificate under the listed region CA that issued it, and that CA
        under the national root (when the root certified it)."""
        issuer = next(c for c in service.certificates if self._is_issuer(seal_certificate, c))
        chain = [(seal_certificate, issuer)]
        root = embedded.national_root
        if root is not None and issuer != root and self._is_issuer(issuer, root):
            chain.append((issuer, root))
        return check_chain(
            chain,
            proven_at=signing_time or at,
            timestamped=signing_time is not None,
            embedded=embedded,
            bundle_crls=self.crls,
            at=at,
            bundle_answer=self._bundle_answer(at),
        )

    def timestamp_authority(
        self,
        stamp: TimestampSignatureStatus | None,
        stamped_at: datetime,
        at: datetime,
        embedded: EmbeddedEvidence,
    ) -> ChainRevocation:
        """The revocation status of the TSA certificate behind the seal's timestamp, under
        the CA that issued it (a listed region CA or the national root)."""
        tsa_cert = stamp.signing_cert if stamp is not None else None
        if tsa_cert is None:
            return ChainRevocation((), None, final=False)
        certificate = x509.load_der_x509_certificate(tsa_cert.dump())
        candidates = [
            self.trust_list.national_root,
            *(c for s in self.trust_list.services(ServiceType.SEAL_CA) for c in s.certificates),
        ]
        issuer = next((c for c in candidates if self._is_issuer(certificate, c)), None)
        if issuer is None:  # a TSA under a root of its own: nobody here publishes its status
            return ChainRevocation((), None, final=False)
        return check_timestamp_authority(
            certificate,
            issuer,
            stamped_at=stamped_at,
            embedded=embedded,
            bundle_crls=self.crls,
            at=at,
            bundle_answer=self._bundle_answer(at),
        )

    def _bundle_answer(self, at: datetime) -> BundleAnswer | None:
        """The bundle CRLs' answer on (certificate, issuer) at `at`, remembered across files."""
        crls = self.crls
        if crls is None:
            return None

        def answer(certificate: x509.Certificate, issuer: x509.Certificate) -> CertificateStatus:
            return self._bundle_answers.get(
                (der(certificate), der(issuer), at),
                lambda: certificate_status(crls, certificate, issuer, at, "bundle"),
            )

        return answer

    def _is_issuer(self, certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
        return self._issued.get(
            (der(certificate), der(issuer)), lambda: issued(certificate, issuer)
        )

    def embedded(self, reader: PdfFileReader, at: datetime) -> EmbeddedEvidence:
        """The PDF's DSS: OCSP responses, CRLs (verified against the trust list),
        certificates."""
        national_root = self.trust_list.national_root
        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except NoDSSFoundError:
            return EmbeddedEvidence(national_root=national_root)
        ocsps = tuple(bytes(ref.get_object().data) for ref in dss.ocsps[:MAX_DSS_ITEMS])
        crl_ders = tuple(bytes(ref.get_object().data) for ref in dss.crls[:MAX_DSS_ITEMS])
        certificates = tuple(
            x509.load_der_x509_certificate(c.dump()) for c in list(dss.load_certs())[:MAX_DSS_ITEMS]
        )
        crls = self._embedded_crls.get(
            (crl_ders, at), lambda: verify_der_crls(crl_ders, self.trust_list, at, [])
        )
        return EmbeddedEvidence(
            ocsp_responses=ocsps,
            crls=crls,
            certificates=certificates,
            national_root=national_root,
        )


def issued(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
