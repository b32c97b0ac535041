"""Validation material for B-LT/B-LTA: what a validator needs years later, offline.

For a seal signed under region CA R with a timestamp from R's TSA: the certificates of both
chains, R's OCSP answers for the seal and TSA certificates (the responder carries
ocsp-nocheck), and the national root's CRL covering R's CA. R's own CRL is not embedded:
it can hold a million entries, and OCSP already answers for the two leaves.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from sqlalchemy.orm import Session

from ca.authority import ROOT_CODE, get_authority
from ca.errors import CaError
from ca.ocsp import OcspResponder
from ca.revocation import current_crl
from ca.tsa import TimeStampAuthority
from seal_service.errors import SealError
from seal_service.sealing import ValidationMaterial


def _offline_root(code: str) -> object:
    raise CaError(f"CA {code} is offline: its CRL comes from the root ceremony")


def validation_material(
    session: Session,
    seal_certificate: x509.Certificate,
    tsa: TimeStampAuthority,
    responder: OcspResponder,
) -> ValidationMaterial:
    """Everything needed to validate a seal by `seal_certificate` timestamped by `tsa`, both
    issued by the CA `responder` answers for."""
    region_ca = responder.issuer_certificate
    root = get_authority(session, ROOT_CODE).certificate
    answers = []
    for certificate in (seal_certificate, tsa.certificate):
        if certificate.issuer != region_ca.subject:
            raise SealError("the seal and the TSA must be certified by the same region CA")
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(certificate, region_ca, hashes.SHA256())
            .build()
        )
        der = responder.respond(session, request.public_bytes(Encoding.DER))
        answer = ocsp.load_der_ocsp_response(der)
        if (
            answer.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL
            or answer.certificate_status is not ocsp.OCSPCertStatus.GOOD
        ):
            raise SealError(f"OCSP does not answer good for {certificate.subject.rfc4514_string()}")
        answers.append(der)
    root_crl = current_crl(session, ROOT_CODE, _offline_root)  # type: ignore[arg-type]
    return ValidationMaterial(
        certificates=(seal_certificate, tsa.certificate, responder.certificate, region_ca, root),
        ocsp_responses=tuple(answers),
        crls=(root_crl.der,),
    )
