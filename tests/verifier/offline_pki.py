"""A throw-away PKI and hand-built trust lists for the verifier's offline format tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from verifier.trust_list import (
    Region,
    ServiceStatus,
    ServiceType,
    StatusChange,
    TrustedService,
    TrustList,
)

Key = ec.EllipticCurvePrivateKey
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(
    issuer: tuple[Key, x509.Name],
    subject: str,
    key: Key,
    *,
    ca: bool = False,
    not_before: datetime = NOW - timedelta(days=365),
    not_after: datetime = NOW + timedelta(days=365),
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issuer[1])
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer[0], hashes.SHA256())
    )


def granted(since: datetime = NOW - timedelta(days=30)) -> tuple[StatusChange, ...]:
    return (StatusChange(ServiceStatus.GRANTED, since),)


def listed_service(
    region: str,
    certificates: Sequence[x509.Certificate],
    service_type: ServiceType,
    history: tuple[StatusChange, ...] | None = None,
) -> TrustedService:
    return TrustedService(
        region_code=region,
        service_type=service_type,
        name=f"{region} {service_type}",
        certificates=tuple(certificates),
        history=granted() if history is None else history,
    )


def trust_list(national_root: x509.Certificate, *services: TrustedService) -> TrustList:
    """A trust list (not signed: these tests hand it to the verifier as already verified)."""
    regions = sorted({s.region_code for s in services})
    return TrustList(
        sequence=7,
        issued_at=NOW - timedelta(hours=1),
        next_update=NOW + timedelta(days=1),
        operator="test hub",
        national_root=national_root,
        regions=tuple(
            Region(code, code, tuple(s for s in services if s.region_code == code))
            for code in regions
        ),
    )
