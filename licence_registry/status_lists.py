"""Each region's licence status list (IETF Token Status List, 2 bits per licence).

A licence draws a random index at issuance; a status change bumps the region's change
counter; the list is re-signed when asked for and either a change happened since the last
version or that version is in the second half of its life (like a CRL), so a revocation
shows in the next fetch. Formats come from `verifier.status_list`, which checks them too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.authority import current_signer_certificate, get_authority
from ca.counters import bump_counter, read_counters
from ca.data_protection import DataProtector
from ca.keys import KeyRef, KeyStore, KeyStores
from ca.profiles import STATUS_ISSUER
from licence_registry.errors import RegistryError
from licence_registry.log_store import counter_name as log_counter_name
from licence_registry.models import Licence, LicenceStatus, StatusListVersion
from licence_registry.transparency import append_leaf, published_leaf
from verifier.errors import NotFoundError
from verifier.status_list import (
    encode_status_list,
    pack_sparse,
    sign_status_list,
)
from verifier.timeutil import utc_now
from verifier.trust_list import ServiceType

# 2^20 entries (256 KiB packed, a few hundred bytes compressed while mostly valid), far
# above the draft's 131,072 minimum.
LIST_BITS = 20
LIST_SIZE = 1 << LIST_BITS
LIST_VALIDITY = timedelta(hours=24)
LIST_TTL = timedelta(minutes=5)
STATUS_VALUES = {
    LicenceStatus.ACTIVE: 0,
    LicenceStatus.REVOKED: 1,
    LicenceStatus.SUSPENDED: 2,
    # The draft leaves 0x03 to applications; govtrust's profile: replaced by an amendment.
    LicenceStatus.SUPERSEDED: 3,
}
_FEISTEL_ROUNDS = 6
_INDEX_PURPOSE = "status-list-index"


@dataclass(frozen=True)
class StatusSigner:
    """A region's status-list issuer: certificate, its CA, and the key this server holds."""

    region: str
    certificate: x509.Certificate
    ca_certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


def load_status_signer(
    session: Session, key_stores: KeyStores | KeyStore, region: str
) -> StatusSigner:
    row = current_signer_certificate(
        session, region, STATUS_ISSUER, utc_now(), listed_as=ServiceType.STATUS_ISSUER
    )
    if row is None or row.key_ref is None:
        raise UnknownStatusIssuer(f"region {region} has no status-list issuer on this server")
    key = KeyStores.of(key_stores).private_key(KeyRef.parse(row.key_ref))
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise RegistryError(f"the status-list issuer key of {region} is not an ECDSA key")
    return StatusSigner(region, row.certificate, get_authority(session, region).certificate, key)


def allocate_index(session: Session, protector: DataProtector, region: str) -> int:
    """The next licence of `region`'s place in its list: the region's n-th issuance, put
    through a keyed permutation of [0, LIST_SIZE). Unique by construction (no lookups, no
    collisions between concurrent issuances) and, without the key, unrelated to the order
    or number of issuances."""
    n = bump_counter(session, f"status-index:{region}") - 1
    if n >= LIST_SIZE:
        raise RegistryError(f"the status list of region {region} is full: it needs a second list")
    return permuted_index(protector, region, n)


def permuted_index(protector: DataProtector, region: str, n: int) -> int:
    """A balanced Feistel network on the 20 bits of `n`; its round function is the
    protector's keyed hash, so it is a permutation only the key holder can invert."""
    half_bits = LIST_BITS // 2
    mask = (1 << half_bits) - 1
    left, right = n >> half_bits, n & mask
    for round_number in range(_FEISTEL_ROUNDS):
        mixed = protector.lookup_hash(_INDEX_PURPOSE, f"{region}:{round_number}:{right}")
        left, right = right, left ^ (int(mixed[:8], 16) & mask)
    return (left << half_bits) | right


def record_status_change(session: Session, region: str) -> None:
    """Every status change of a licence of `region`: the next fetch re-signs the list."""
    bump_counter(session, f"status-changes:{region}")


def current_status_list(
    session: Session, signer: StatusSigner, *, now: datetime | None = None
) -> StatusListVersion:
    """The list to serve: the latest while it reflects every change and is in the first
    half of its life, else a newly signed one (kept, with the number after the last)."""
    now = (now or utc_now()).replace(microsecond=0)
    region = signer.region
    (changes,) = read_counters(session, f"status-changes:{region}")
    latest = _latest(session, region)
    if latest is not None and _current(latest, changes, now):
        return latest
    # Lock, then look again: requests that found the list stale together sign it once.
    bump_counter(session, f"status-list-number:{region}", by=0)
    (changes,) = read_counters(session, f"status-changes:{region}")
    latest = _latest(session, region)
    if latest is not None and _current(latest, changes, now):
        return latest
    return publish_status_list(session, signer, changes, now)


def publish_status_list(
    session: Session, signer: StatusSigner, changes: int, now: datetime
) -> StatusListVersion:
    """Sign `signer`'s region's list as the database has it now, under the next number."""
    region = signer.region
    # The region's log lock before the rows: every event logged before this list's leaf has
    # then committed and none logged after it has, so the list reflects exactly the events
    # before its leaf (what `govtrust audit --replay` checks). Read first, a PostgreSQL read
    # committed snapshot could miss an event that commits while this waits for the lock.
    bump_counter(session, log_counter_name(region), by=0)
    rows = session.execute(
        select(Licence.status_index, Licence.status).where(
            Licence.region_code == region,
            Licence.status != LicenceStatus.ACTIVE,
            Licence.status_index >= 0,
        )
    )
    packed = pack_sparse(LIST_SIZE, ((index, STATUS_VALUES[LicenceStatus(s)]) for index, s in rows))
    payload = encode_status_list(
        packed, region=region, issued_at=now, expires_at=now + LIST_VALIDITY, ttl=LIST_TTL
    )
    token = sign_status_list(
        payload, signer.private_key, [signer.certificate, signer.ca_certificate]
    )
    version = StatusListVersion(
        region_code=region,
        number=bump_counter(session, f"status-list-number:{region}"),
        issued_at=now,
        expires_at=now + LIST_VALIDITY,
        changes=changes,
        token=token,
        sha256=hashlib.sha256(token.encode()).hexdigest(),
    )
    session.add(version)
    session.flush()
    # Logged, so an auditor can prove which list a verifier was shown and that no
    # revocation was silently undone between two versions.
    leaf = published_leaf("status-list", region, version.number, version.sha256, now)
    append_leaf(session, region, leaf, now=now)
    return version


def status_list_version(session: Session, region: str, number: int) -> StatusListVersion:
    version = session.scalars(
        select(StatusListVersion).where(
            StatusListVersion.region_code == region, StatusListVersion.number == number
        )
    ).first()
    if version is None:
        raise StatusListNotFound(f"region {region} has no status list number {number}")
    return version


class StatusListNotFound(RegistryError, NotFoundError):
    """No such status list version."""


class UnknownStatusIssuer(RegistryError, NotFoundError):
    """The region has no status-list issuer here."""


def _latest(session: Session, region: str) -> StatusListVersion | None:
    return session.scalars(
        select(StatusListVersion)
        .where(StatusListVersion.region_code == region)
        .order_by(StatusListVersion.number.desc())
        .limit(1)
    ).first()


def _current(version: StatusListVersion, changes: int, now: datetime) -> bool:
    half_life = version.issued_at + (version.expires_at - version.issued_at) / 2
    return version.changes == changes and now < half_life
