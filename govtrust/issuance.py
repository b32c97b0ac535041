"""Licence issuance as the product wires it: the registry records, the seal service seals."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ca.authority import get_authority
from licence_registry.lifecycle import LicenceContent
from seal_service.render import LicenceDocument, LicenceRenderer, PdfLicenceRenderer
from seal_service.seals import SealerPool, active_seal
from verifier.identifiers import HolderIdType

HOLDER_ID_LABELS = {
    HolderIdType.CITIZEN_ID: "公民身份号码",
    HolderIdType.USCC: "统一社会信用代码",
}


@dataclass
class SealingService:
    """Renders a licence and seals it with the issuing department's active seal."""

    sealers: SealerPool
    renderer: LicenceRenderer

    @classmethod
    def for_pdf(cls, sealers: SealerPool) -> SealingService:
        return cls(sealers=sealers, renderer=PdfLicenceRenderer())

    def __call__(self, session: Session, content: LicenceContent) -> bytes:
        department = content.department
        region = get_authority(session, department.region_code)
        document = LicenceDocument(
            title=content.licence_type.title,
            licence_number=content.identifier,
            holder_name=content.holder_name,
            holder_id_label=HOLDER_ID_LABELS[content.holder_id_type],
            holder_id_display=content.holder_id_masked,
            issuing_department=department.name,
            region_name=region.name,
            issued_on=content.valid_from,
            valid_until=content.valid_until,
        )
        seal = active_seal(session, department)
        sealer = self.sealers.sealer_for(session, seal)
        return sealer.seal(
            self.renderer.render(document),
            box=self.renderer.seal_box,
            reason=f"{content.licence_type.title} {content.identifier}",
            location=region.name,
        )
