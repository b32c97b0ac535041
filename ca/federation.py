"""The federation trust list: built from the authorities the hub knows, signed, kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ca.authority import ROOT_CODE, get_authority, latest_certificate
from ca.counters import bump_counter
from ca.errors import CaError
from ca.keys import KeyRef, KeyStore, KeyStores
from ca.models import (
    IssuedCertificate,
    TrustListVersion,
    TrustRegion,
    TrustService,
    TrustServiceStatus,
)
from ca.profiles import (
    IDENTITY_SIGNER,
    LOG_SIGNER,
    REGION_CA,
    STATUS_ISSUER,
    TRUST_LIST_SIGNER,
    TSA,
)
from verifier import jose
from verifier.certs import sha256_fingerprint, valid_at
from verifier.errors import NotFoundError
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
MIN_VALIDITY = timedelta(hours=1)
MAX_VALIDITY = timedelta(days=366)
PUBLISH_LOCK = "trust-list-publish"
# The certificate profile a service of each type is trusted through.
SERVICE_PROFILES = {
    ServiceType.SEAL_CA: REGION_CA,
    ServiceType.IDENTITY_PROVIDER: IDENTITY_SIGNER,
    ServiceType.STATUS_ISSUER: STATUS_ISSUER,
    ServiceType.TSA: TSA,
    ServiceType.LOG: LOG_SIGNER,
}


@dataclass(frozen=True)
class TrustListSigner:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


def load_trust_list_signer(session: Session, key_stores: KeyStores | KeyStore) -> TrustListSigner:
    """The hub's current trust-list signer: its certificate and the key this server holds."""
    row = latest_certificate(session, TRUST_LIST_SIGNER)
    if row.key_ref is None:
        raise CaError("this server does not hold the trust-list signer's key")
    key = KeyStores.of(key_stores).private_key(KeyRef.parse(row.key_ref))
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaError("the trust-list signer key is not an ECDSA key")
    return TrustListSigner(row.certificate, key)


def register_region(session: Session, code: str, name: str) -> TrustRegion:
    """A region of the trust list (idempotent for the same name)."""
    region = session.get(TrustRegion, code)
    if region is None:
        region = TrustRegion(code=code, name=name)
        session.add(region)
        session.flush()
    elif region.name != name:
        raise CaError(f"region {code} is listed as {region.name!r}, not {name!r}")
    return region


def add_service(
    session: Session,
    region_code: str,
    service_type: ServiceType,
    name: str,
    certificate: x509.Certificate,
    *,
    since: datetime | None = None,
    recorded_by: str | None = None,
) -> TrustService:
    """List a service, granted from `since` (default now), trusted through `certificate`."""
    if session.get(TrustRegion, region_code) is None:
        raise CaError(f"region {region_code} is not in the trust list")
    if find_service(session, region_code, service_type, name) is not None:
        raise CaError(f"region {region_code} already lists {service_type} service {name!r}")
    service = TrustService(
        region_code=region_code,
        service_type=str(service_type),
        name=name,
        certificate_der=certificate.public_bytes(Encoding.DER),
    )
    session.add(service)
    session.flush()
    set_service_status(
        session, service, ServiceStatus.GRANTED, since=since, recorded_by=recorded_by
    )
    return service


def add_region_ca_service(
    session: Session,
    region_code: str,
    service_type: ServiceType,
    name: str,
    certificate: x509.Certificate,
    *,
    since: datetime | None = None,
    recorded_by: str | None = None,
) -> TrustService:
    """What a region's operator may list: its region CA as `seal-ca`, or a certificate that
    CA issued under the service type's own profile, unrevoked and valid now. Anything else
    (another region's certificate, a foreign root) is a federation decision taken at the hub
    with `add_service` / `add_independent_region`."""
    region_ca = get_authority(session, region_code)
    if service_type is ServiceType.SEAL_CA:
        if certificate != region_ca.certificate:
            raise CaError(f"a seal-ca service of {region_code} is its region CA certificate")
    else:
        issued = session.scalars(
            select(IssuedCertificate).where(
                IssuedCertificate.issuer_code == region_code,
                IssuedCertificate.serial == format(certificate.serial_number, "x"),
                IssuedCertificate.certificate_der == certificate.public_bytes(Encoding.DER),
            )
        ).first()
        if issued is None:
            raise CaError(f"the certificate was not issued by region {region_code}'s CA")
        if issued.profile != SERVICE_PROFILES[service_type].name:
            raise CaError(
                f"a {service_type} service needs a {SERVICE_PROFILES[service_type].name} "
                f"certificate, not {issued.profile}"
            )
        if issued.revoked_at is not None:
            raise CaError("the certificate is revoked")
    if not valid_at(certificate, utc_now()):
        raise CaError("the certificate is not valid now")
    return add_service(
        session, region_code, service_type, name, certificate, since=since, recorded_by=recorded_by
    )


def add_independent_region(
    session: Session,
    code: str,
    name: str,
    root: x509.Certificate,
    service_types: list[ServiceType],
    *,
    since: datetime | None = None,
) -> list[TrustService]:
    """A region that brings its own root: a trust anchor for the named service types only."""
    if not service_types:
        raise CaError("name at least one service type the region's own root is trusted for")
    try:
        root.verify_directly_issued_by(root)
        is_ca = root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        raise CaError("the region's root must be a self-signed CA certificate") from None
    if not is_ca:
        raise CaError("the region's root must be a CA certificate")
    register_region(session, code, name)
    return [
        add_service(
            session, code, service_type, f"{name} {service_type} (own root)", root, since=since
        )
        for service_type in service_types
    ]


def find_service(
    session: Session, region_code: str, service_type: ServiceType, name: str | None = None
) -> TrustService | None:
    query = select(TrustService).where(
        TrustService.region_code == region_code, TrustService.service_type == str(service_type)
    )
    if name is not None:
        query = query.where(TrustService.name == name)
    services = session.scalars(query).all()
    if len(services) > 1:
        raise CaError(f"region {region_code} lists several {service_type} services: name one")
    return services[0] if services else None


def set_service_status(
    session: Session,
    service: TrustService,
    status: ServiceStatus,
    *,
    since: datetime | None = None,
    recorded_by: str | None = None,
) -> TrustServiceStatus:
    """Grant or withdraw a listed service from `since` (default now); history only grows."""
    now = utc_now().replace(microsecond=0)
    since = (since or now).replace(microsecond=0)
    history = service_status_history(session, service.id)
    if history and history[-1].status == status:
        raise CaError(f"{service.service_type} service {service.name!r} is already {status}")
    if history and since < history[-1].since:
        raise CaError("a status change cannot take effect before the previous one")
    change = TrustServiceStatus(
        service_id=service.id,
        status=str(status),
        since=since,
        recorded_at=now,
        recorded_by=recorded_by,
    )
    session.add(change)
    session.flush()
    return change


def service_status_history(session: Session, service_id: int) -> list[TrustServiceStatus]:
    return list(
        session.scalars(
            select(TrustServiceStatus)
            .where(TrustServiceStatus.service_id == service_id)
            .order_by(TrustServiceStatus.since, TrustServiceStatus.id)
        )
    )


def listed_regions(session: Session) -> list[tuple[TrustRegion, list[TrustService]]]:
    """Every region with its services, in list order."""
    return [
        (
            region,
            list(
                session.scalars(
                    select(TrustService)
                    .where(TrustService.region_code == region.code)
                    .order_by(TrustService.id)
                )
            ),
        )
        for region in session.scalars(select(TrustRegion).order_by(TrustRegion.code))
    ]


def get_region_service(session: Session, region_code: str, service_id: int) -> TrustService:
    service = session.get(TrustService, service_id)
    if service is None or service.region_code != region_code:
        raise TrustServiceNotFound(f"region {region_code} lists no service {service_id}")
    return service


def trusted_service(session: Session, service: TrustService) -> TrustedService:
    """A listed service as the trust list states it, with its whole status history."""
    return TrustedService(
        region_code=service.region_code,
        service_type=ServiceType(service.service_type),
        name=service.name,
        certificates=(service.certificate,),
        history=tuple(
            StatusChange(ServiceStatus(change.status), change.since)
            for change in service_status_history(session, service.id)
        ),
    )


def build_trust_list(
    session: Session, sequence: int, issued_at: datetime, validity: timedelta
) -> TrustList:
    """The listed regions and services, each with its whole status history."""
    root = get_authority(session, ROOT_CODE).certificate
    regions = tuple(
        Region(region.code, region.name, tuple(trusted_service(session, s) for s in services))
        for region, services in listed_regions(session)
    )
    return TrustList(
        sequence=sequence,
        issued_at=issued_at,
        next_update=issued_at + validity,
        operator=OPERATOR,
        national_root=root,
        regions=regions,
    )


def sign_trust_list(trust_list: TrustList, signer: TrustListSigner) -> str:
    """The compact JWS of `trust_list`, x5c = [signer, national root]."""
    return jose.sign_compact(
        encode_payload(trust_list),
        signer.private_key,
        typ=TYP,
        x5c=[signer.certificate, trust_list.national_root],
        max_payload_bytes=MAX_PAYLOAD_BYTES,
    )


def publish_trust_list(
    session: Session,
    signer: TrustListSigner,
    validity: timedelta = DEFAULT_VALIDITY,
    *,
    published_by: str | None = None,
) -> TrustListVersion:
    """Sign the next version, check it with the verifier's own code, and keep it."""
    if not MIN_VALIDITY <= validity <= MAX_VALIDITY:
        raise CaError("a trust list is valid for between one hour and 366 days")
    # Serialises publishers: two concurrent ones would otherwise both sign sequence n+1.
    bump_counter(session, PUBLISH_LOCK)
    last = session.scalar(select(func.max(TrustListVersion.sequence))) or 0
    issued_at = utc_now().replace(microsecond=0)
    trust_list = build_trust_list(session, last + 1, issued_at, validity)
    token = sign_trust_list(trust_list, signer)
    checked = verify_trust_list(token, trust_list.root_fingerprint, at=issued_at)
    if checked != trust_list:
        raise CaError("signed trust list does not read back as what was built")
    version = TrustListVersion(
        sequence=trust_list.sequence,
        issued_at=trust_list.issued_at,
        next_update=trust_list.next_update,
        jws=token,
        published_by=published_by,
    )
    session.add(version)
    session.flush()
    return version


def trust_list_version(session: Session, sequence: int) -> TrustListVersion:
    version = session.get(TrustListVersion, sequence)
    if version is None:
        raise TrustListVersionNotFound(f"no trust list with sequence {sequence}")
    return version


class TrustListVersionNotFound(CaError, NotFoundError):
    """No trust list version with that sequence."""


class TrustServiceNotFound(CaError, NotFoundError):
    """No such service in that region."""


def list_trust_list_versions(session: Session) -> list[TrustListVersion]:
    """Every published version, newest first."""
    return list(
        session.scalars(select(TrustListVersion).order_by(TrustListVersion.sequence.desc()))
    )


def latest_trust_list(session: Session) -> TrustListVersion | None:
    return session.scalars(
        select(TrustListVersion).order_by(TrustListVersion.sequence.desc()).limit(1)
    ).first()


def root_fingerprint(session: Session) -> str:
    return sha256_fingerprint(get_authority(session, ROOT_CODE).certificate)


def current_trust_list(session: Session, *, at: datetime | None = None) -> TrustList:
    """The newest published trust list, verified as any relying party would: against the
    installed national root's fingerprint, never from memory of what was signed."""
    version = latest_trust_list(session)
    if version is None:
        raise CaError("no trust list has been published")
    return verify_trust_list(version.jws, root_fingerprint(session), at=at or utc_now())
