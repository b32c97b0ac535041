"""What verifying a licence PDF answers (PdfReport, one SealReport per seal) and the policy
that decides it (ValidationPolicy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from verifier.report import Indication, Verdict
from verifier.revocation import CertificateRevocation


@dataclass(frozen=True)
class ValidationPolicy:
    """What VALID requires beyond intact, trusted seals. By default each seal's certificates
    must be known unrevoked at the proven signing time (from the PDF's own validation data
    or the bundle's CRLs): without that the answer is INDETERMINATE, never VALID. Only a
    caller that checks revocation some other way (the server, against its own database)
    relaxes it."""

    require_revocation: bool = True


STRICT = ValidationPolicy()


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
    # The certification path pyHanko built (common names), from the trust anchor (the
    # trust-listed seal CA) down to the seal.
    chain: tuple[str, ...] = ()
    # The seal CA's entry in the trust list at the proven signing time.
    trust_list_status: str | None = None
    # pyHanko's analysis of the revisions after this seal.
    changes_after: str | None = None


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
                    "chain": list(s.chain),
                    "trust_list_status": s.trust_list_status,
                    "changes_after": s.changes_after,
                }
                for s in self.seals
            ],
        }
