"""Judging one input (a licence PDF, a QR credential, an identity token) into an Outcome:
the verdict, its reason, and the report as a JSON document, from which the text and HTML
views are rendered (verifier/render.py). Nothing here prints or reads files.

Public API: Outcome, Judge (judge_pdf, judge_credential, judge_token), NO_STATUS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from verifier.bundle import OfflineBundle
from verifier.credential import CredentialError, CredentialVerifier
from verifier.identity_token import IdentityTokenError, verify_identity_token
from verifier.licence_pdf import pdf_licence_status
from verifier.licence_status import LicenceStatusReport, check_licence_status
from verifier.pdf import PdfVerifier
from verifier.report import Verdict
from verifier.timeutil import format_time
from verifier.trust_list import TrustList

NO_STATUS = "the licence's status was not checked: verify with --bundle (its status lists)"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str
    report: dict[str, object]


@dataclass
class Judge:
    """Judges inputs against one trust source for a whole run, reusing what it parsed."""

    trust_list: TrustList
    bundle: OfflineBundle | None
    at: datetime
    # Older signed status data than this is not trusted to say "valid" (--max-bundle-age).
    max_age: timedelta | None = None

    @cached_property
    def pdfs(self) -> PdfVerifier:
        """One for the run: what it learns about certificates serves every file."""
        return PdfVerifier(self.trust_list, crls=self.bundle.crls if self.bundle else None)

    @cached_property
    def credentials(self) -> CredentialVerifier:
        return CredentialVerifier(self.trust_list)

    def judge_pdf(self, data: bytes) -> Outcome:
        """A licence PDF: its seals, then (with a bundle) the licence's status."""
        report = self.pdfs.verify(data, at=self.at)
        status = None
        if self.bundle is not None and report.verdict is Verdict.VALID:
            status = pdf_licence_status(data, report, self.bundle, at=self.at)
        verdict, reason = self._combined(report.verdict, report.reason, status)
        document = report.to_json()
        document.update(self._summary(verdict, reason))
        document["licence_status"] = self._status_json(status)
        return Outcome(verdict, reason, document)

    def judge_credential(self, token: bytes) -> Outcome:
        """A QR credential (its text): its signature, then (with a bundle) the status."""
        status: LicenceStatusReport | None = None
        claims: dict[str, object] | None = None
        try:
            verified = self.credentials.verify(token.strip(), at=self.at)
        except CredentialError as exc:
            verdict, reason = Verdict.INVALID, f"credential: {exc}"
        else:
            claims = verified.claims.to_json()
            if self.bundle is not None:
                status = check_licence_status(verified, self.bundle, at=self.at)
            verdict, reason = self._combined(Verdict.VALID, "credential signature valid", status)
        document: dict[str, object] = {"kind": "licence-credential"}
        document.update(self._summary(verdict, reason))
        document.update(
            validation_time=self.at.isoformat(),
            trust_list={
                "sequence": self.trust_list.sequence,
                "issued_at": self.trust_list.issued_at.isoformat(),
            },
            claims=claims,
            licence_status=self._status_json(status),
        )
        return Outcome(verdict, reason, document)

    def judge_token(self, token: bytes, audience: str | None) -> Outcome:
        """An identity token: signature, issuer listed, time window, audience if given."""
        claims: dict[str, object] | None = None
        try:
            verified = verify_identity_token(token, self.trust_list, audience=audience, at=self.at)
            claims = verified.to_json()
            verdict, reason = Verdict.VALID, "identity token is valid"
        except IdentityTokenError as exc:
            verdict, reason = Verdict.INVALID, str(exc)
        if verdict is Verdict.VALID and self.trust_list.is_stale(self.at):
            verdict = Verdict.INDETERMINATE
            reason = f"trust list #{self.trust_list.sequence} is past its next_update"
        document: dict[str, object] = {"kind": "identity-token"}
        document.update(self._summary(verdict, reason))
        document.update(
            validation_time=self.at.isoformat(),
            audience_checked=audience is not None,
            trust_list_sequence=self.trust_list.sequence,
            claims=claims,
        )
        return Outcome(verdict, reason, document)

    def _combined(
        self, verdict: Verdict, reason: str, status: LicenceStatusReport | None
    ) -> tuple[Verdict, str]:
        """The seals' (or credential's) verdict, then the licence status's. With no status
        known (no bundle), a licence is never VALID: it may have been revoked."""
        if verdict is not Verdict.VALID:
            return verdict, reason
        if status is None:
            return Verdict.INDETERMINATE, NO_STATUS
        if status.verdict is Verdict.VALID:
            too_old = self._too_old(status)
            if too_old:
                return Verdict.INDETERMINATE, too_old
        return status.verdict, status.reason

    def _too_old(self, status: LicenceStatusReport) -> str | None:
        if self.max_age is None:
            return None
        signed = {
            "status list": status.status_list_issued_at,
            "trust list": self.trust_list.issued_at,
        }
        for what, issued in signed.items():
            if issued is not None and self.at - issued > self.max_age:
                return (
                    f"the bundle's {what} was signed {format_time(issued)}, longer ago than "
                    f"the {self.max_age} allowed (--max-bundle-age): get a newer bundle"
                )
        return None

    @staticmethod
    def _summary(verdict: Verdict, reason: str) -> dict[str, object]:
        return {"verdict": str(verdict), "main_indication": verdict.etsi, "reason": reason}

    def _status_json(self, status: LicenceStatusReport | None) -> dict[str, object]:
        bundle = self.bundle
        if bundle is None:
            return {
                "checked": False,
                "reason": "no bundle given: the licence status was not checked",
            }
        issued = status.status_list_issued_at if status else None
        return {
            "checked": status is not None,
            "verdict": str(status.verdict) if status else None,
            "indication": str(status.indication) if status else None,
            "status": str(status.status) if status and status.status else None,
            "reason": status.reason if status else "the seals are not valid",
            "status_list_issued_at": issued.isoformat() if issued else None,
            "status_list_age_seconds": int((self.at - issued).total_seconds()) if issued else None,
            "bundle": {
                "exported_at": bundle.exported_at.isoformat(),
                "trust_list_sequence": bundle.trust_list.sequence,
                "trust_list_issued_at": bundle.trust_list.issued_at.isoformat(),
                "problems": list(bundle.problems),
            },
        }
