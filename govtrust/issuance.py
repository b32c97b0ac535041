"""Licence issuance as the product wires it: the registry records, the seal service seals.

Each seal is timestamped by its own region's TSA and, from B-LT on, carries its region's
OCSP answers and the root's CRL, so a co-seal from another region brings its own evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ca.authority import get_authority
from ca.models import Department, IssuedCertificate
from ca.registry import find_department
from govtrust.runtime import Runtime
from licence_registry import (
    Actor,
    Amendment,
    IssueRequest,
    Licence,
    LicenceContent,
    amend_licence,
    issue_licence,
)
from seal_service.errors import SealError
from seal_service.evidence import validation_material
from seal_service.lifecycle import usable_seal
from seal_service.render import LicenceDocument, LicenceRenderer, PdfLicenceRenderer
from seal_service.sealing import PadesLevel, SealOptions, ValidationMaterial
from verifier.identifiers import HolderIdType
from verifier.pdf import ValidationPolicy, verify_pdf
from verifier.report import Verdict
from verifier.timeutil import utc_now

HOLDER_ID_LABELS = {
    HolderIdType.CITIZEN_ID: "公民身份号码",
    HolderIdType.USCC: "统一社会信用代码",
}


@dataclass
class LicenceOffice:
    """The registry and the seal service wired together: licences made, sealed, recorded."""

    runtime: Runtime
    sealer: SealingService

    @classmethod
    def for_pdf(cls, runtime: Runtime, level: PadesLevel | None = None) -> LicenceOffice:
        return cls(runtime, SealingService.for_pdf(runtime, level))

    def issue(
        self,
        request: IssueRequest,
        *,
        actor: Actor | None = None,
        idempotency_key: str | None = None,
    ) -> Licence:
        return issue_licence(
            self.runtime.database.transaction,
            request,
            sealer=self.sealer,
            protector=self.runtime.data_protector,
            status_signers=self.runtime.status_signer,
            actor=actor,
            idempotency_key=idempotency_key,
        )

    def amend(
        self,
        identifier: str,
        amendment: Amendment,
        *,
        actor: Actor | None = None,
        idempotency_key: str | None = None,
    ) -> Licence:
        return amend_licence(
            self.runtime.database.transaction,
            identifier,
            amendment,
            sealer=self.sealer,
            protector=self.runtime.data_protector,
            status_signers=self.runtime.status_signer,
            actor=actor,
            idempotency_key=idempotency_key,
        )


@dataclass
class SealingService:
    """Renders a licence and seals it with the issuing department's active seal."""

    runtime: Runtime
    renderer: LicenceRenderer
    # Overrides the licence type's own level (`govtrust licence issue --level`).
    level: PadesLevel | None = None

    @classmethod
    def for_pdf(cls, runtime: Runtime, level: PadesLevel | None = None) -> SealingService:
        return cls(runtime=runtime, renderer=PdfLicenceRenderer(), level=level)

    @staticmethod
    def document(content: LicenceContent, region_name: str) -> LicenceDocument:
        """What the licence page shows: never the raw holder ID, only its mask."""
        return LicenceDocument(
            title=content.licence_type.title,
            licence_number=content.identifier,
            holder_name=content.holder_name,
            holder_id_label=HOLDER_ID_LABELS[content.holder_id_type],
            holder_id_display=content.holder_id_masked,
            issuing_department=content.department.name,
            region_name=region_name,
            issued_on=content.valid_from,
            valid_until=content.valid_until,
            licence_type=content.licence_type.name,
            qr_payload=content.qr_payload,
        )

    def __call__(self, session: Session, content: LicenceContent) -> bytes:
        department = content.department
        region = get_authority(session, department.region_code)
        document = self.document(content, region.name)
        rendered = self.renderer.render_licence(document)
        return self._seal(
            session,
            department,
            rendered.pdf,
            reason=f"{content.licence_type.title} {content.identifier}",
            level=self.level or PadesLevel(content.licence_type.pades_level),
            seal_slots=rendered.seal_boxes,
        )

    def co_seal(self, session: Session, pdf: bytes, region: str, department_code: str) -> bytes:
        """Add `department_code`'s seal (of `region`) to a sealed licence that verifies as
        valid, in its next free seal position; the earlier seals stay valid. B-LT unless
        the service was made for another level, so the co-seal carries its own evidence."""
        department = find_department(session, region, department_code)
        # Revocation is left to the verifiers of the co-sealed file (they check every seal);
        # this only refuses to add a seal to a document that is not intact and trusted.
        report = verify_pdf(
            pdf, self.runtime.trust_list(), at=utc_now(), policy=ValidationPolicy(False)
        )
        if report.verdict is not Verdict.VALID:
            raise SealError(f"only a valid licence is co-sealed; this one is not: {report.reason}")
        return self._seal(
            session,
            department,
            pdf,
            reason=f"会签 / co-sealed by {department.name}",
            level=self.level or PadesLevel.B_LT,
            seal_slots=(),
        )

    def _seal(
        self,
        session: Session,
        department: Department,
        pdf: bytes,
        *,
        reason: str,
        level: PadesLevel,
        seal_slots: tuple[tuple[float, float, float, float], ...],
    ) -> bytes:
        runtime = self.runtime
        region_code = department.region_code
        seal = usable_seal(session, department)
        sealer = runtime.sealers.sealer_for(session, seal)
        tsa = runtime.tsa(region_code)
        validation = ValidationMaterial()
        if level.embeds_validation_data:
            seal_certificate = session.get_one(IssuedCertificate, seal.certificate_id).certificate
            validation = validation_material(
                session, seal_certificate, tsa, runtime.ocsp_responder(region_code)
            )
        options = SealOptions(
            reason=reason,
            location=get_authority(session, region_code).name,
            timestamp=tsa.respond,
            level=level,
            seal_slots=seal_slots,
            validation=validation,
        )
        return sealer.seal(pdf, options)
