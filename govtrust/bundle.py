"""The offline bundle as the server exports it: everything an agency needs to verify any
region's licences with no network, each piece signed by its own signer."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.federation import latest_trust_list, listed_regions
from ca.models import Authority
from ca.revocation import CrlNotFound, current_crl
from govtrust.runtime import Runtime
from licence_registry.status_lists import UnknownStatusIssuer, current_status_list
from licence_registry.transparency import latest_checkpoint
from verifier.bundle import RegionMaterial, encode_bundle
from verifier.errors import InputError
from verifier.timeutil import utc_now

log = logging.getLogger("govtrust.bundle")


class BundleUnavailable(InputError):
    """Nothing to export yet (no trust list published)."""


def export_bundle(runtime: Runtime) -> bytes:
    """The current trust list, every CA's current CRL, and each listed region's current
    status list and latest checkpoint. A region whose status issuer is not held here
    contributes what it has (its checkpoint, if any), never a stale guess."""
    exported_at = utc_now()
    with runtime.database.transaction() as session:
        version = latest_trust_list(session)
        if version is None:
            raise BundleUnavailable("no trust list has been published: nothing to export")
        crls: list[bytes] = []
        for code in session.scalars(select(Authority.code).order_by(Authority.code)):
            try:
                crls.append(current_crl(session, code, runtime.issuer, now=exported_at).der)
            except CrlNotFound:
                log.warning("CA %s has no CRL to export", code)
        regions: dict[str, RegionMaterial] = {}
        for region, _services in listed_regions(session):
            checkpoint = latest_checkpoint(session, region.code)
            regions[region.code] = RegionMaterial(
                status_list=_status_list(runtime, session, region.code),
                checkpoint=checkpoint.note if checkpoint else None,
            )
    return encode_bundle(
        exported_at=exported_at, trust_list=version.jws, crls=crls, regions=regions
    )


def _status_list(runtime: Runtime, session: Session, region: str) -> str | None:
    try:
        signer = runtime.status_signer(region)
    except UnknownStatusIssuer:
        return None
    return current_status_list(session, signer).token
