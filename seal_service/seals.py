"""Finding a department's seal and keeping one sealer per seal (making and retiring seals is
in seal_service.lifecycle)."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.authority import get_authority
from ca.keys import KeyRef, KeyStores
from ca.models import Department, IssuedCertificate
from seal_service.errors import SealError
from seal_service.models import Seal, SealStatus
from seal_service.sealing import PdfSealer, SealMaterial


def active_seal(session: Session, department: Department) -> Seal:
    """The department's active seal, without checking its certificate: sealing should call
    `seal_service.lifecycle.usable_seal`, which also refuses revoked and expired seals."""
    seal = session.scalars(
        select(Seal)
        .where(Seal.department_id == department.id, Seal.status == SealStatus.ACTIVE)
        .order_by(Seal.created_at.desc(), Seal.id.desc())
        .limit(1)
    ).first()
    if seal is None:
        raise SealError(f"department {department.region_code}/{department.code} has no active seal")
    return seal


class SealerPool:
    """One `PdfSealer` per seal for the life of the process (keys loaded once)."""

    def __init__(self, key_stores: KeyStores) -> None:
        self._key_stores = key_stores
        self._sealers: dict[int, PdfSealer] = {}
        self._lock = threading.Lock()

    def sealer_for(self, session: Session, seal: Seal) -> PdfSealer:
        with self._lock:
            sealer = self._sealers.get(seal.id)
            if sealer is None:
                issued = session.get_one(IssuedCertificate, seal.certificate_id)
                sealer = PdfSealer(
                    SealMaterial(
                        certificate=issued.certificate,
                        private_key=self._key_stores.private_key(KeyRef.parse(seal.key_ref)),
                        chain=(get_authority(session, issued.issuer_code).certificate,),
                        image_png=seal.image_png,
                        signer_name=seal.name,
                    )
                )
                self._sealers[seal.id] = sealer
            return sealer
