"""The federation trust list: its format, and its verification against a pinned root.

Modelled on ETSI TS 119 612: a JSON document, signed as a compact JWS by the
hub's trust-list signer, whose certificate the national root issued. A
verifier pins only the root's SHA-256 fingerprint. This module is the single
definition of the format: the CA builds `TrustList` objects and serialises
them with `encode_payload`, and every check that needs trust calls
`verify_trust_list`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from verifier import jose
from verifier.certs import normalise_fingerprint, sha256_fingerprint, valid_at
from verifier.errors import InputError
from verifier.timeutil import format_time, parse_time, utc_now

TYP = "gt-trust-list+jws"
FORMAT = "govtrust-trust-list/1"
# ETSI TS 119 612, id-tsl-kp-tslSigning: the EKU a trust-list signer must carry.
TSL_SIGNING_EKU = x509.ObjectIdentifier("0.4.0.2231.3.0")
CLOCK_SKEW = timedelta(minutes=5)
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024


class TrustListError(Exception):
    """The trust list is not authentic or not usable: nothing it says may be trusted."""


class ServiceType(StrEnum):
    SEAL_CA = "seal-ca"
    IDENTITY_PROVIDER = "identity-provider"
    STATUS_ISSUER = "status-issuer"
    TSA = "tsa"
    LOG = "log"


class ServiceStatus(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class StatusChange:
    status: ServiceStatus
    since: datetime


@dataclass(frozen=True)
class TrustedService:
    """One service of one region: its type, its certificates and its status history."""

    region_code: str
    service_type: ServiceType
    name: str
    certificates: tuple[x509.Certificate, ...]
    history: tuple[StatusChange, ...]

    def status_at(self, at: datetime) -> ServiceStatus | None:
        """The status in force at `at`; None before the service was first listed."""
        current: ServiceStatus | None = None
        for change in sorted(self.history, key=lambda c: c.since):
            if change.since <= at:
                current = change.status
        return current

    def granted_at(self, at: datetime) -> bool:
        return self.status_at(at) is ServiceStatus.GRANTED


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    services: tuple[TrustedService, ...]


@dataclass(frozen=True)
class TrustList:
    sequence: int
    issued_at: datetime
    next_update: datetime
    operator: str
    national_root: x509.Certificate
    regions: tuple[Region, ...]
    root_fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root_fingerprint", sha256_fingerprint(self.national_root))

    def services(self, service_type: ServiceType) -> Iterable[TrustedService]:
        for region in self.regions:
            for service in region.services:
                if service.service_type is service_type:
                    yield service

    def region(self, code: str) -> Region | None:
        return next((r for r in self.regions if r.code == code), None)

    def is_stale(self, at: datetime) -> bool:
        return at > self.next_update


def encode_payload(trust_list: TrustList) -> bytes:
    """The canonical JSON payload of a trust list (sorted keys, UTF-8)."""
    document = {
        "format": FORMAT,
        "sequence": trust_list.sequence,
        "issued_at": format_time(trust_list.issued_at),
        "next_update": format_time(trust_list.next_update),
        "operator": trust_list.operator,
        "national_root": _b64(trust_list.national_root),
        "regions": [
            {
                "code": region.code,
                "name": region.name,
                "services": [
                    {
                        "type": str(service.service_type),
                        "name": service.name,
                        "certificates": [_b64(c) for c in service.certificates],
                        "history": [
                            {"status": str(c.status), "since": format_time(c.since)}
                            for c in service.history
                        ],
                    }
                    for service in region.services
                ],
            }
            for region in trust_list.regions
        ],
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def verify_trust_list(
    token: str | bytes,
    root_fingerprint: str,
    *,
    at: datetime | None = None,
    min_sequence: int | None = None,
) -> TrustList:
    """Verify a signed trust list against the pinned root; return its contents.

    Raises InputError when the input is not a trust list at all, and
    TrustListError when it is one but cannot be trusted, including a sequence lower than
    `min_sequence` (one already seen): an attacker replaying an older, authentic list.
    Staleness is not an error here: callers decide (an offline verdict past `next_update`
    is at best INDETERMINATE).
    """
    at = at or utc_now()
    pinned = normalise_fingerprint(root_fingerprint)
    jws_object = jose.read_compact(token, max_payload_bytes=MAX_PAYLOAD_BYTES)
    chain = jws_object.x5c
    if len(chain) != 2:
        raise TrustListError("trust list x5c must hold exactly [signer, national root]")
    signer, root = chain
    if sha256_fingerprint(root) != pinned:
        raise TrustListError("trust list is not anchored in the pinned national root fingerprint")
    _check_root(root)
    _check_signer(signer, root, at)
    try:
        payload = jose.verify_compact(jws_object, _ec_key(signer), typ=TYP)
    except jose.JoseVerificationError as exc:
        raise TrustListError(f"trust list signature: {exc}") from None
    trust_list = _decode_payload(payload)
    if trust_list.root_fingerprint != pinned:
        raise TrustListError("trust list names a national root other than the pinned one")
    if min_sequence is not None and trust_list.sequence < min_sequence:
        raise TrustListError(
            f"trust list sequence {trust_list.sequence} is older than sequence {min_sequence} "
            "already seen (rollback refused)"
        )
    if trust_list.issued_at > at + CLOCK_SKEW:
        raise TrustListError("trust list is issued in the future")
    if not valid_at(signer, trust_list.issued_at):
        raise TrustListError("trust-list signer certificate was not valid when the list was issued")
    return trust_list


def _check_root(root: x509.Certificate) -> None:
    try:
        root.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise TrustListError(
            "pinned national root is not a valid self-signed certificate"
        ) from None


def _check_signer(signer: x509.Certificate, root: x509.Certificate, at: datetime) -> None:
    try:
        signer.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise TrustListError(
            "trust-list signer certificate was not issued by the national root"
        ) from None
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise TrustListError("trust-list signer certificate has no extended key usage") from None
    if TSL_SIGNING_EKU not in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        raise TrustListError("certificate is not authorised to sign trust lists (EKU)")
    try:
        basic = signer.extensions.get_extension_for_class(x509.BasicConstraints).value
        if basic.ca:
            raise TrustListError("trust-list signer certificate must not be a CA")
    except x509.ExtensionNotFound:
        pass
    if not (signer.not_valid_before_utc - CLOCK_SKEW <= at):
        raise TrustListError("trust-list signer certificate is not yet valid")


def _ec_key(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise TrustListError("trust-list signer key is not ECDSA")
    return key


def _b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode("ascii")


def _certificate(value: object, what: str) -> x509.Certificate:
    if not isinstance(value, str):
        raise InputError(f"{what} is not a base64 string")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error):
        raise InputError(f"{what} is not a DER certificate") from None


def _field(document: dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"{what}.{name} is missing or not a {kind.__name__}")
    return value


def _decode_payload(payload: bytes) -> TrustList:
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("trust list payload is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"trust list payload is not of format {FORMAT}")
    regions = []
    for index, raw_region in enumerate(_field(document, "regions", list, "trust list")):
        where = f"regions[{index}]"
        if not isinstance(raw_region, dict):
            raise InputError(f"{where} is not an object")
        code = _field(raw_region, "code", str, where)
        services = []
        for s_index, raw in enumerate(_field(raw_region, "services", list, where)):
            s_where = f"{where}.services[{s_index}]"
            if not isinstance(raw, dict):
                raise InputError(f"{s_where} is not an object")
            try:
                service_type = ServiceType(raw.get("type"))
            except ValueError:
                raise InputError(f"{s_where}.type is not a known service type") from None
            history = []
            for h in _field(raw, "history", list, s_where):
                if not isinstance(h, dict) or h.get("status") not in set(ServiceStatus):
                    raise InputError(f"{s_where}.history holds an unknown status")
                history.append(
                    StatusChange(ServiceStatus(h["status"]), parse_time(h.get("since"), s_where))
                )
            certificates = tuple(
                _certificate(c, f"{s_where}.certificates")
                for c in _field(raw, "certificates", list, s_where)
            )
            if not certificates:
                raise InputError(f"{s_where} lists no certificate")
            services.append(
                TrustedService(
                    region_code=code,
                    service_type=service_type,
                    name=_field(raw, "name", str, s_where),
                    certificates=certificates,
                    history=tuple(history),
                )
            )
        regions.append(Region(code, _field(raw_region, "name", str, where), tuple(services)))
    return TrustList(
        sequence=_field(document, "sequence", int, "trust list"),
        issued_at=parse_time(document.get("issued_at"), "trust list issued_at"),
        next_update=parse_time(document.get("next_update"), "trust list next_update"),
        operator=_field(document, "operator", str, "trust list"),
        national_root=_certificate(document.get("national_root"), "trust list national_root"),
        regions=tuple(regions),
    )
