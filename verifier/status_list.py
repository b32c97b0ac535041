"""Licence status lists: IETF Token Status List (draft-ietf-oauth-status-list) in JWT form.

The one definition of the format. A region's status issuer packs one 2-bit status per
licence index (`pack_statuses`), compresses it (`compress_list`), builds the claims
(`encode_status_list`) and signs them (`sign_status_list`, or its own key store with
`jose.sign_compact` and the same header); verifiers call `verify_status_list`.

Trust is decided by the federation trust list alone, as for identity tokens: the signer
certificate in `x5c[0]` must be listed, byte for byte, under a `status-issuer` service that
was granted when the list was issued and is not withdrawn at validation time.

Status values (govtrust's profile of the draft's 2-bit list): 0 valid, 1 revoked, 2 suspended,
and the draft's application-specific 3 is superseded (replaced by an amended licence).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from verifier import jose
from verifier.certs import sha256_fingerprint, valid_at
from verifier.errors import InputError
from verifier.trust_list import ServiceStatus, ServiceType, TrustedService, TrustList

TYP = "statuslist+jwt"
STATUS_URI_PREFIX = "https://status.govtrust.gov.cn/"
ALLOWED_BITS = (1, 2, 4, 8)
# govtrust's profile: valid / revoked / suspended / superseded need two bits; at least 2^17
# entries per list, so that a list reveals little about any one licence (DESIGN.md).
BITS = 2
MIN_ENTRIES = 131_072
# Decompressed size cap: a few hundred bytes of DEFLATE can claim gigabytes.
MAX_LIST_BYTES = 16 * 1024 * 1024
MAX_TOKEN_BYTES = 4 * 1024 * 1024
MAX_CHAIN_LENGTH = 3
CLOCK_SKEW = timedelta(minutes=5)
REQUIRED_CLAIMS = ("sub", "iat", "exp", "ttl", "status_list")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class StatusListError(InputError):
    """A status list token that is malformed or must not be trusted."""


class StatusListExpired(StatusListError):
    """An authentic status list past its `exp`: its answer is stale (INDETERMINATE), not
    wrong. The verified list is attached for callers that report what it said."""

    def __init__(self, message: str, status_list: StatusList) -> None:
        super().__init__(message)
        self.status_list = status_list


class LicenceStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    # The draft leaves 0x03 to the application: govtrust's profile gives it this meaning, a
    # licence replaced by an amended version (final, like a revocation).
    SUPERSEDED = "superseded"
    # Values wider than two bits: no meaning defined here.
    UNKNOWN = "unknown"


_STATUS_OF_VALUE = {
    0: LicenceStatus.VALID,
    1: LicenceStatus.REVOKED,
    2: LicenceStatus.SUSPENDED,
    3: LicenceStatus.SUPERSEDED,
}


@dataclass(frozen=True)
class StatusList:
    subject: str
    region: str
    issued_at: datetime
    expires_at: datetime
    ttl: timedelta
    bits: int
    size: int
    signer: x509.Certificate
    packed: bytes = field(repr=False)

    def value(self, index: int) -> int:
        """The raw status value at `index`."""
        if not isinstance(index, int) or isinstance(index, bool):
            raise StatusListError("status list index is not an integer")
        if not 0 <= index < self.size:
            raise StatusListError(
                f"index {index} is outside the status list of {self.size} entries"
            )
        return status_value(self.packed, self.bits, index)

    def status(self, index: int) -> LicenceStatus:
        return _STATUS_OF_VALUE.get(self.value(index), LicenceStatus.UNKNOWN)


def status_list_uri(region: str) -> str:
    """`sub` of region `region`'s list (and the `uri` a licence credential refers to)."""
    return f"{STATUS_URI_PREFIX}{region}"


def pack_statuses(values: Sequence[int], bits: int = BITS) -> bytes:
    """The draft's byte array: entry i in byte i*bits//8, least-significant bits first."""
    if not isinstance(bits, int) or isinstance(bits, bool) or bits not in ALLOWED_BITS:
        raise StatusListError(f"status list bits must be one of {ALLOWED_BITS}")
    per_byte, limit = 8 // bits, 1 << bits
    packed = bytearray((len(values) * bits + 7) // 8)
    for index, value in enumerate(values):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < limit:
            raise StatusListError(f"status value at index {index} does not fit in {bits} bits")
        if value:
            packed[index // per_byte] |= value << (index % per_byte) * bits
    return bytes(packed)


def pack_sparse(size: int, entries: Iterable[tuple[int, int]], bits: int = BITS) -> bytes:
    """The byte array of `size` entries, all 0 but the (index, value) pairs given: a list of
    a million licences with a few thousand revoked is built without a million-item list."""
    _check_bits(bits)
    per_byte, limit = 8 // bits, 1 << bits
    packed = bytearray((size * bits + 7) // 8)
    for index, value in entries:
        if not 0 <= index < size:
            raise StatusListError(f"status index {index} is outside a list of {size}")
        if not 0 <= value < limit:
            raise StatusListError(f"status value at index {index} does not fit in {bits} bits")
        packed[index // per_byte] |= value << (index % per_byte) * bits
    return bytes(packed)


def status_value(packed: bytes, bits: int, index: int) -> int:
    """Entry `index` of a packed byte array (no range check beyond the array's)."""
    position = index * bits
    return (packed[position // 8] >> (position % 8)) & ((1 << bits) - 1)


# Level 6: a 2^20-entry list compresses in ~17 ms instead of ~210 ms at level 9, for about
# 15% more bytes; lists are re-signed within seconds of every change, so time matters more.
COMPRESSION_LEVEL = 6


def compress_list(packed: bytes, level: int = COMPRESSION_LEVEL) -> str:
    """`lst`: base64url without padding of the ZLIB (RFC 1950) DEFLATE stream."""
    data = zlib.compress(bytes(packed), level)
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decompress_list(lst: str, *, max_bytes: int = MAX_LIST_BYTES) -> bytes:
    """The byte array in `lst`, refusing more than `max_bytes` of output, a truncated
    stream and anything after the stream's end."""
    if not isinstance(lst, str) or not _BASE64URL.fullmatch(lst) or len(lst) % 4 == 1:
        raise StatusListError("status list lst is not base64url without padding")
    try:
        compressed = base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4))
    except (binascii.Error, ValueError):
        raise StatusListError("status list lst is not base64url without padding") from None
    if base64.urlsafe_b64encode(compressed).rstrip(b"=").decode() != lst:
        raise StatusListError("status list lst is not canonical base64url")
    inflater = zlib.decompressobj()
    try:
        packed = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error:
        raise StatusListError("status list lst is not a ZLIB (RFC 1950) stream") from None
    if len(packed) > max_bytes or inflater.unconsumed_tail:
        raise StatusListError(f"status list decompresses to more than {max_bytes} bytes")
    if not inflater.eof:
        raise StatusListError("status list lst is a truncated ZLIB stream")
    if inflater.unused_data:
        raise StatusListError("status list lst has data after the end of its ZLIB stream")
    return packed


def encode_status_list(
    packed: bytes,
    *,
    region: str,
    issued_at: datetime,
    expires_at: datetime,
    ttl: timedelta,
    bits: int = BITS,
) -> bytes:
    """The JWT claims set of region `region`'s status list, as `verify_status_list` reads
    it; refuses what it would refuse."""
    _check_bits(bits)
    _check_entries(bits, len(packed))
    ttl_seconds = int(ttl.total_seconds())
    if ttl_seconds <= 0 or ttl_seconds != ttl.total_seconds():
        raise StatusListError("status list ttl must be a positive whole number of seconds")
    issued, expires = _epoch(issued_at), _epoch(expires_at)
    if expires <= issued:
        raise StatusListError("status list expires before it is issued")
    return jose.encode_claims(
        {
            "sub": status_list_uri(region),
            "iat": issued,
            "exp": expires,
            "ttl": ttl_seconds,
            "status_list": {"bits": bits, "lst": compress_list(packed)},
        }
    )


def sign_status_list(
    payload: bytes, private_key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate]
) -> str:
    """Sign claims from `encode_status_list`: ES256, typ, `kid` = SHA-256 of the signer
    certificate, `x5c` = [signer, its CA]."""
    if not 1 <= len(chain) <= MAX_CHAIN_LENGTH:
        raise StatusListError(f"status list x5c must hold 1 to {MAX_CHAIN_LENGTH} certificates")
    return jose.sign_compact(
        payload,
        private_key,
        typ=TYP,
        x5c=list(chain),
        kid=sha256_fingerprint(chain[0]),
        max_payload_bytes=MAX_TOKEN_BYTES,
    )


def verify_status_list(
    token: str | bytes, trust_list: TrustList, *, at: datetime, region: str | None = None
) -> StatusList:
    """Verify a status list token against an already verified trust list at time `at`.

    Raises StatusListExpired for an authentic list past its `exp` (the caller answers
    INDETERMINATE) and StatusListError for every other refusal. With `region`, the list
    must be that region's.
    """
    try:
        jws_object = jose.read_compact(
            token, max_bytes=MAX_TOKEN_BYTES, max_payload_bytes=MAX_TOKEN_BYTES
        )
        chain = jws_object.x5c
    except InputError as exc:
        raise StatusListError(f"status list: {exc}") from None
    header = jws_object.header
    try:
        jose.check_header(header, typ=TYP)
    except jose.JoseVerificationError as exc:
        raise StatusListError(f"status list header: {exc}") from None
    if not 1 <= len(chain) <= MAX_CHAIN_LENGTH:
        raise StatusListError(f"status list x5c must hold 1 to {MAX_CHAIN_LENGTH} certificates")
    signer = chain[0]
    if header.get("kid") != sha256_fingerprint(signer):
        raise StatusListError("status list kid is not the SHA-256 of its x5c certificate")
    services = [
        s for s in trust_list.services(ServiceType.STATUS_ISSUER) if signer in s.certificates
    ]
    if not services:
        raise StatusListError("status list signer is not listed as a status issuer")
    public_key = signer.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise StatusListError("status list signer key is not ECDSA")
    try:
        claims = jose.decode_claims(jose.verify_compact(jws_object, public_key, typ=TYP))
    except jose.JoseVerificationError as exc:
        raise StatusListError(f"status list signature: {exc}") from None
    except InputError as exc:
        raise StatusListError(f"status list: {exc}") from None
    status_list = _check_claims(claims, signer, services, at, region)
    if at >= status_list.expires_at:
        raise StatusListExpired(
            f"status list of region {status_list.region} expired at "
            f"{status_list.expires_at:%Y-%m-%dT%H:%M:%SZ}",
            status_list,
        )
    return status_list


def _check_claims(
    claims: dict[str, Any],
    signer: x509.Certificate,
    services: list[TrustedService],
    at: datetime,
    region: str | None,
) -> StatusList:
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise StatusListError(f"status list lacks claim(s) {missing}")
    issued_at, expires_at = _time(claims, "iat"), _time(claims, "exp")
    if expires_at <= issued_at:
        raise StatusListError("status list expires before it was issued")
    if issued_at > at + CLOCK_SKEW:
        raise StatusListError("status list is issued in the future")
    ttl = claims["ttl"]
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
        raise StatusListError("status list claim 'ttl' is not a positive whole number")
    # iat is the issuer's own claim: a withdrawal also ends lists issued "before" it.
    service = next((s for s in services if s.granted_at(issued_at)), None)
    if service is None or service.status_at(at) is ServiceStatus.WITHDRAWN:
        raise StatusListError(
            "status issuer was not granted in the trust list when the list was issued, "
            "or is withdrawn now"
        )
    if not valid_at(signer, issued_at):
        raise StatusListError("status list signer certificate was not valid at iat")
    if region is not None and service.region_code != region:
        raise StatusListError(
            f"status list is region {service.region_code}'s, not region {region}'s"
        )
    subject = claims["sub"]
    if subject != status_list_uri(service.region_code):
        raise StatusListError(
            f"status list sub {subject!r} is not the list URI of region {service.region_code}"
        )
    bits, packed = _decode_list(claims["status_list"])
    return StatusList(
        subject=subject,
        region=service.region_code,
        issued_at=issued_at,
        expires_at=expires_at,
        ttl=timedelta(seconds=ttl),
        bits=bits,
        size=len(packed) * 8 // bits,
        signer=signer,
        packed=packed,
    )


def _decode_list(value: object) -> tuple[int, bytes]:
    if not isinstance(value, dict):
        raise StatusListError("status list claim 'status_list' is not an object")
    bits, lst = _check_bits(value.get("bits")), value.get("lst")
    if not isinstance(lst, str):
        raise StatusListError("status list lst is not a string")
    packed = decompress_list(lst)
    _check_entries(bits, len(packed))
    return bits, packed


def _check_bits(bits: object) -> int:
    """One of the draft's widths, and govtrust's own."""
    if not isinstance(bits, int) or isinstance(bits, bool) or bits not in ALLOWED_BITS:
        raise StatusListError(f"status list bits must be one of {ALLOWED_BITS}")
    if bits != BITS:
        raise StatusListError(f"govtrust status lists have {BITS} bits per entry, not {bits}")
    return bits


def _check_entries(bits: int, packed_length: int) -> None:
    entries = packed_length * 8 // bits
    if entries < MIN_ENTRIES:
        raise StatusListError(
            f"status list holds {entries} entries, fewer than the {MIN_ENTRIES} required"
        )


def _time(claims: dict[str, Any], name: str) -> datetime:
    value = claims[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise StatusListError(f"status list claim {name!r} is not a whole NumericDate")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise StatusListError(f"status list claim {name!r} is out of range") from None


def _epoch(value: datetime) -> int:
    if value.tzinfo is None:
        raise StatusListError("status list times must be timezone-aware")
    return int(value.timestamp())
