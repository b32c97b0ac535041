"""A licence's status, answered offline from a verified bundle.

The credential's own validity dates come first, then its region's status list in the
bundle. Freshness decides between VALID and INDETERMINATE only: a final answer (revoked,
superseded) does not become less true when the list that carried it expires, but a "valid"
or "suspended" one may have changed since.

Public API: check_licence_status(credential, bundle, *, at) -> LicenceStatusReport, and
StatusIndication.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from verifier.bundle import BundleStatus, OfflineBundle
from verifier.credential import VerifiedCredential
from verifier.errors import InputError
from verifier.report import Verdict
from verifier.status_list import LicenceStatus
from verifier.timeutil import format_time


class StatusIndication(StrEnum):
    OK = "OK"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    SUPERSEDED = "SUPERSEDED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    TRY_LATER = "TRY_LATER"
    UNKNOWN_STATUS = "UNKNOWN_STATUS"


@dataclass(frozen=True)
class LicenceStatusReport:
    verdict: Verdict
    indication: StatusIndication
    reason: str  # one English sentence
    status: LicenceStatus | None
    status_list_issued_at: datetime | None
    bundle_exported_at: datetime  # unsigned: what the bundle says of itself


_FINAL = {
    LicenceStatus.REVOKED: StatusIndication.REVOKED,
    LicenceStatus.SUPERSEDED: StatusIndication.SUPERSEDED,
}


def check_licence_status(
    credential: VerifiedCredential, bundle: OfflineBundle, *, at: datetime
) -> LicenceStatusReport:
    """The verdict on a verified credential's licence at `at`, from `bundle`.

    Validity dates are whole UTC days: valid from the start of `valid_from` to the end of
    `valid_until`. The credential must already be verified (`verify_credential`) against
    the bundle's trust list."""
    if at.tzinfo is None:
        raise InputError("the validation time must be timezone-aware")
    claims = credential.claims

    def report(
        verdict: Verdict, indication: StatusIndication, reason: str, answer: BundleStatus | None
    ) -> LicenceStatusReport:
        return LicenceStatusReport(
            verdict=verdict,
            indication=indication,
            reason=reason,
            status=answer.status if answer else None,
            status_list_issued_at=answer.issued_at if answer else None,
            bundle_exported_at=bundle.exported_at,
        )

    licence = f"Licence {claims.identifier}"
    if at < _start_of(claims.valid_from):
        return report(
            Verdict.INVALID,
            StatusIndication.NOT_YET_VALID,
            f"{licence} is valid only from {claims.valid_from.isoformat()} (UTC).",
            None,
        )
    if claims.valid_until is not None and at >= _start_of(claims.valid_until + timedelta(1)):
        return report(
            Verdict.INVALID,
            StatusIndication.EXPIRED,
            f"{licence} expired at the end of {claims.valid_until.isoformat()} (UTC).",
            None,
        )
    answer = bundle.status_of(claims.region, claims.status_index, at=at)
    if answer.status is None:
        return report(
            Verdict.INDETERMINATE,
            StatusIndication.TRY_LATER,
            f"The status of licence {claims.identifier} cannot be checked: {answer.reason}.",
            answer,
        )
    as_of = f"{licence} is {answer.status} according to the {answer.reason}"
    if answer.status in _FINAL:
        return report(Verdict.INVALID, _FINAL[answer.status], f"{as_of}.", answer)
    if answer.status is LicenceStatus.UNKNOWN:
        return report(
            Verdict.INDETERMINATE,
            StatusIndication.UNKNOWN_STATUS,
            f"{licence} has a status value govtrust does not define, in the {answer.reason}.",
            answer,
        )
    if answer.stale:
        return report(
            Verdict.INDETERMINATE,
            StatusIndication.TRY_LATER,
            f"{as_of}, but that list has expired and the status may have changed since.",
            answer,
        )
    if answer.status is LicenceStatus.SUSPENDED:
        return report(Verdict.INVALID, StatusIndication.SUSPENDED, f"{as_of}.", answer)
    if bundle.trust_list.is_stale(at):
        return report(
            Verdict.INDETERMINATE,
            StatusIndication.TRY_LATER,
            f"{as_of}, but the bundle's trust list is past its next update "
            f"({format_time(bundle.trust_list.next_update)}).",
            answer,
        )
    return report(Verdict.VALID, StatusIndication.OK, f"{as_of}.", answer)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
