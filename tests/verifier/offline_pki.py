"""A throw-away PKI, hand-built trust lists (signed or not) and CRLs for the verifier's offline
format tests."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from verifier import jose
from verifier.checkpoint import format_signed_note, log_origin, sign_checkpoint_text
from verifier.status_list import MIN_ENTRIES, encode_status_list, pack_sparse, sign_status_list
from verifier.trust_list import (
    MAX_PAYLOAD_BYTES,
    TSL_SIGNING_EKU,
    TYP,
    Region,
    ServiceStatus,
    ServiceType,
    StatusChange,
    TrustedService,
    TrustList,
    encode_payload,
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


def trust_list_signer(root_key: Key, root: x509.Certificate) -> tuple[Key, x509.Certificate]:
    """The hub's trust-list signer: an end-entity certificate with the TSL-signing EKU."""
    key = new_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name("Test trust-list signer"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=365))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([TSL_SIGNING_EKU]), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return key, certificate


def sign_trust_list(
    listed: TrustList, signer_key: Key, signer: x509.Certificate, root: x509.Certificate
) -> str:
    """The compact JWS that `verify_trust_list` accepts under `root`'s fingerprint."""
    return jose.sign_compact(
        encode_payload(listed),
        signer_key,
        typ=TYP,
        x5c=[signer, root],
        max_payload_bytes=MAX_PAYLOAD_BYTES,
    )


def crl(
    issuer_key: Key,
    issuer: x509.Certificate,
    revoked: Sequence[tuple[int, datetime, x509.ReasonFlags | None]] = (),
    *,
    number: int | None = 1,
    this_update: datetime = NOW - timedelta(hours=1),
    next_update: datetime = NOW + timedelta(hours=23),
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> bytes:
    """A DER CRL of `issuer` listing (serial, revocation time, reason) entries."""
    entries = []
    for serial, revoked_at, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        entries.append(entry.build())
    builder = (
        x509.CertificateRevocationListBuilder(revoked_certificates=entries)
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(Encoding.DER)


@dataclass(frozen=True)
class RegionPki:
    """One region's CA and the services it certifies (status issuer, log)."""

    code: str
    ca_key: Key
    ca: x509.Certificate
    issuer_key: Key
    issuer: x509.Certificate
    log_key: Key
    log: x509.Certificate

    def services(self) -> tuple[TrustedService, ...]:
        return (
            listed_service(self.code, [self.ca], ServiceType.SEAL_CA),
            listed_service(self.code, [self.issuer], ServiceType.STATUS_ISSUER),
            listed_service(self.code, [self.log], ServiceType.LOG),
        )

    def status_list(
        self,
        entries: Mapping[int, int] | None = None,
        *,
        issued_at: datetime = NOW - timedelta(minutes=10),
        lifetime: timedelta = timedelta(hours=24),
        key: Key | None = None,
        chain: Sequence[x509.Certificate] | None = None,
        region: str | None = None,
    ) -> str:
        """This region's signed status list of MIN_ENTRIES, all valid but `entries`."""
        payload = encode_status_list(
            pack_sparse(MIN_ENTRIES, (entries or {}).items()),
            region=region or self.code,
            issued_at=issued_at,
            expires_at=issued_at + lifetime,
            ttl=timedelta(hours=1),
        )
        return sign_status_list(payload, key or self.issuer_key, chain or [self.issuer, self.ca])

    def checkpoint(self, size: int = 5, *, key: Key | None = None) -> str:
        body = sign_checkpoint_text(log_origin(self.code), size, hashlib.sha256(b"tree").digest())
        signer = key or self.log_key
        signature = signer.sign(body, ec.ECDSA(hashes.SHA256()))
        note = format_signed_note(body, log_origin(self.code), signer.public_key(), signature)
        return note.decode()


@dataclass(frozen=True)
class OfflineFederation:
    """A national root, the hub's trust-list signer and a few regions, all in memory."""

    root_key: Key
    root: x509.Certificate
    signer_key: Key
    signer: x509.Certificate
    regions: Mapping[str, RegionPki]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.root.public_bytes(Encoding.DER)).hexdigest()

    def listed(self, *extra: TrustedService, **changes: Any) -> TrustList:
        services = [s for r in self.regions.values() for s in r.services()]
        return dataclasses.replace(trust_list(self.root, *services, *extra), **changes)

    def signed(self, listed: TrustList | None = None) -> str:
        return sign_trust_list(listed or self.listed(), self.signer_key, self.signer, self.root)


def offline_federation(*codes: str) -> OfflineFederation:
    root_key = new_key()
    root = issue((root_key, name("Test national root")), "Test national root", root_key, ca=True)
    regions = {}
    for code in codes:
        ca_key, issuer_key, log_key = new_key(), new_key(), new_key()
        ca = issue((root_key, root.subject), f"{code} region CA", ca_key, ca=True)
        regions[code] = RegionPki(
            code,
            ca_key,
            ca,
            issuer_key,
            issue((ca_key, ca.subject), f"{code} status issuer", issuer_key),
            log_key,
            issue((ca_key, ca.subject), f"{code} log", log_key),
        )
    signer_key, signer = trust_list_signer(root_key, root)
    return OfflineFederation(root_key, root, signer_key, signer, regions)
