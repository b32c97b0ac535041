"""What pyHanko's validation statuses and a seal's timestamp say, in the terms of our
report: the chain's names, the service's trust-list status, the changes after a seal, the
time a timestamp proves or claims.

Public API: chain, service_status, changes_after, trusted_time, claimed_signature_time,
within_validity, only_allowed_changes_after.
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import core as asn1_core
from asn1crypto import tsp
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
    TimestampSignatureStatus,
)
from pyhanko_certvalidator.path import ValidationPath

from verifier.pdf_trust import TIME_TOLERANCE
from verifier.timeutil import format_time
from verifier.trust_list import TrustedService


def chain(status: PdfSignatureStatus | None) -> tuple[str, ...]:
    path = status.validation_path if status is not None else None
    if path is None:
        return ()
    names = (c.subject.native for c in path.iter_certs(include_root=True))
    return tuple(str(n.get("common_name") or n) for n in names)


def service_status(service: TrustedService | None, moment: datetime) -> str | None:
    """The service's trust-list status at `moment`, the time the seal is proven made."""
    if service is None:
        return None
    changes = [c for c in service.history if c.since <= moment]
    if not changes:
        return f"{service.service_type} of region {service.region_code}: not yet listed"
    last = changes[-1]
    return (
        f"{service.service_type} of region {service.region_code}: {last.status} since "
        f"{format_time(last.since)} (as of {format_time(moment)})"
    )


def changes_after(status: PdfSignatureStatus | None) -> str | None:
    if status is None:
        return None
    level = status.modification_level
    kind = "none" if level is None else level.name.lower().replace("_", " ")
    if status.docmdp_ok is None:
        return kind
    allowed = "within" if status.docmdp_ok else "beyond"
    return f"{kind} ({allowed} what the certification allows)"


def trusted_time(stamp: TimestampSignatureStatus | None) -> datetime | None:
    if stamp is None or not (stamp.intact and stamp.valid and stamp.trusted):
        return None
    return stamp.timestamp


def claimed_signature_time(signature: EmbeddedPdfSignature) -> datetime | None:
    """The time the seal's signature timestamp claims, unverified; None unless it carries
    exactly one."""
    try:
        tokens = list(extract_tst_data_iter(signature.signer_info, signed=False))
        if len(tokens) != 1:
            return None
        content = tokens[0]["encap_content_info"]["content"]
        info = content.parsed if isinstance(content, asn1_core.ParsableOctetString) else None
        if not isinstance(info, tsp.TSTInfo):
            return None
        claimed = info["gen_time"].native
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return claimed if isinstance(claimed, datetime) else None


def within_validity(path: ValidationPath | None, at: datetime) -> bool:
    """Every certificate of `path` after its anchor is valid at `at`, as pyHanko checks it."""
    if path is None:
        return False
    for index in range(1, path.pkix_len + 1):
        validity = path[index]["tbs_certificate"]["validity"]
        if at + TIME_TOLERANCE < validity["not_before"].native:
            return False
        if at - TIME_TOLERANCE > validity["not_after"].native:
            return False
    return True


def only_allowed_changes_after(
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
