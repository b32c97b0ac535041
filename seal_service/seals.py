"""Seals as records: made by a region's CA for one department, then used to seal licences."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.authority import get_authority, issue_with_new_key
from ca.keys import KeyRef, KeyStore, KeyStores
from ca.models import Department, IssuedCertificate
from ca.profiles import SEAL, Issuer, subject_name
from seal_service.errors import SealError
from seal_service.models import Seal, SealStatus
from seal_service.seal_image import render_seal_image
from seal_service.sealing import PdfSealer, SealMaterial
from verifier.timeutil import utc_now


def create_seal(
    session: Session,
    key_store: KeyStore,
    issuer_code: str,
    issuer: Issuer,
    department: Department,
    province: str,
) -> Seal:
    """Make a key, a seal certificate and a stamp image for `department`."""
    key_name = f"{department.region_code}/{department.code}/seal-{utc_now():%Y%m%d%H%M%S}"
    subject = subject_name(
        f"{department.name}电子印章",
        organization=department.name,
        organization_identifier=department.uscc,
        province=province,
    )
    certificate = issue_with_new_key(
        session, key_store, key_name, issuer_code, issuer, SEAL, subject
    )
    seal = Seal(
        department_id=department.id,
        name=f"{department.name}电子印章",
        certificate_id=certificate.id,
        key_ref=certificate.key_ref,
        status=SealStatus.ACTIVE,
        image_png=render_seal_image(department.name),
        created_at=utc_now(),
    )
    session.add(seal)
    session.flush()
    return seal


def active_seal(session: Session, department: Department) -> Seal:
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
