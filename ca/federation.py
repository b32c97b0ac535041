"""The federation trust list: built from the authorities the hub knows, signed, kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ca.authority import ROOT_CODE, get_authority
from ca.errors import CaError
from ca.models import Authority, TrustListVersion
from ca.profiles import REGION_CA
from verifier import jose
from verifier.certs import sha256_fingerprint
from verifier.timeutil import utc_now
from verifier.trust_list import (
    MAX_PAYLOAD_BYTES,
    TYP,
    Region,
    ServiceStatus,
    ServiceType,
    StatusChange,
    TrustedService,
    TrustList,
    encode_payload,
    verify_trust_list,
)

OPERATOR = "全国一体化政务服务平台 联邦信任中心 / National federation trust hub"
DEFAULT_VALIDITY = timedelta(days=30)


@dataclass(frozen=True)
class TrustListSigner:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


def build_trust_list(
    session: Session, sequence: int, issued_at: datetime, validity: timedelta
) -> TrustList:
    """Every region CA becomes that region's `seal-ca` service, granted since it joined."""
    root = get_authority(session, ROOT_CODE).certificate
    regions = []
    for authority in session.scalars(
        select(Authority).where(Authority.profile == REGION_CA.name).order_by(Authority.code)
    ):
        seal_ca = TrustedService(
            region_code=authority.code,
            service_type=ServiceType.SEAL_CA,
            name=f"{authority.name} 电子印章 CA",
            certificates=(authority.certificate,),
            history=(
                StatusChange(ServiceStatus.GRANTED, authority.created_at.replace(microsecond=0)),
            ),
        )
        regions.append(Region(authority.code, authority.name, (seal_ca,)))
    return TrustList(
        sequence=sequence,
        issued_at=issued_at,
        next_update=issued_at + validity,
        operator=OPERATOR,
        national_root=root,
        regions=tuple(regions),
    )


def publish_trust_list(
    session: Session, signer: TrustListSigner, validity: timedelta = DEFAULT_VALIDITY
) -> TrustListVersion:
    """Sign the next version, check it with the verifier's own code, and keep it."""
    last = session.scalar(select(func.max(TrustListVersion.sequence))) or 0
    issued_at = utc_now().replace(microsecond=0)
    trust_list = build_trust_list(session, last + 1, issued_at, validity)
    token = jose.sign_compact(
        encode_payload(trust_list),
        signer.private_key,
        typ=TYP,
        x5c=[signer.certificate, trust_list.national_root],
        max_payload_bytes=MAX_PAYLOAD_BYTES,
    )
    checked = verify_trust_list(token, trust_list.root_fingerprint, at=issued_at)
    if checked != trust_list:
        raise CaError("signed trust list does not read back as what was built")
    version = TrustListVersion(
        sequence=trust_list.sequence,
        issued_at=trust_list.issued_at,
        next_update=trust_list.next_update,
        jws=token,
    )
    session.add(version)
    session.flush()
    return version


def latest_trust_list(session: Session) -> TrustListVersion | None:
    return session.scalars(
        select(TrustListVersion).order_by(TrustListVersion.sequence.desc()).limit(1)
    ).first()


def root_fingerprint(session: Session) -> str:
    return sha256_fingerprint(get_authority(session, ROOT_CODE).certificate)
