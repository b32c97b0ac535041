"""Revoking certificates, and each CA's full CRL (RFC 5280 5).

A revocation is final: it bumps the CA's `revocations:<ca>` counter in the same
transaction, and a published CRL records (in `crl-covers:<ca>`) how many revocations it
includes, so `current_crl` knows without parsing DER whether the latest CRL is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ca.authority import get_authority
from ca.counters import bump_counter, read_counters, set_counter
from ca.errors import CaError
from ca.lint import lint_crl
from ca.models import IssuedCertificate, PublishedCrl
from ca.profiles import Issuer
from ca.registry import find_certificate
from verifier.errors import NotFoundError
from verifier.timeutil import format_time, utc_now

if TYPE_CHECKING:
    from ca.ocsp import OcspResponder

CRL_VALIDITY = timedelta(hours=24)
# Revocation times a little ahead of this clock are another machine's skew; more is an error.
_CLOCK_SKEW = timedelta(minutes=5)
REASON_NAMES = tuple(reason.value for reason in x509.ReasonFlags)


class RevocationError(CaError):
    """A revocation was refused."""


class AlreadyRevoked(RevocationError):
    """The certificate is revoked already (an API answers 409)."""


@dataclass(frozen=True)
class CrlEntry:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None


def parse_reason(name: str) -> x509.ReasonFlags:
    """An RFC 5280 CRLReason name (`keyCompromise`, `cessationOfOperation`, ...)."""
    try:
        return x509.ReasonFlags(name)
    except ValueError:
        raise RevocationError(
            f"unknown revocation reason {name!r}; use one of {', '.join(REASON_NAMES)}"
        ) from None


def revoke_certificate(
    session: Session,
    issuer_code: str,
    serial_hex: str,
    reason: x509.ReasonFlags,
    *,
    at: datetime | None = None,
    responder: OcspResponder | None = None,
) -> IssuedCertificate:
    """Revoke for good. With `responder`, its pre-signed responses for the certificate are
    re-signed in this transaction, so OCSP answers `revoked` from the cache once it commits."""
    if reason is x509.ReasonFlags.remove_from_crl:
        raise RevocationError("removeFromCRL is not a revocation: revocations here are final")
    if responder is not None and responder.issuer_code != issuer_code:
        raise RevocationError(
            f"the OCSP responder of {responder.issuer_code} cannot answer for {issuer_code}"
        )
    now = utc_now()
    at = at or now
    if at.tzinfo is None:
        raise RevocationError("the revocation time must carry a time zone")
    if at > now + _CLOCK_SKEW:
        raise RevocationError("the revocation time is in the future")
    row = find_certificate(session, issuer_code, serial_hex)
    if row.revoked_at is not None:
        raise AlreadyRevoked(
            f"certificate {row.serial} was revoked at {format_time(row.revoked_at)}"
        )
    at = at.replace(microsecond=0)
    # Conditional update: of two concurrent revocations exactly one changes the row.
    changed = session.execute(
        update(IssuedCertificate)
        .where(IssuedCertificate.id == row.id, IssuedCertificate.revoked_at.is_(None))
        .values(revoked_at=at, revocation_reason=reason.value)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise AlreadyRevoked(f"certificate {row.serial} was revoked concurrently")
    session.refresh(row)
    bump_counter(session, f"revocations:{issuer_code}")
    if responder is not None:
        responder.refresh(session, int(row.serial, 16), now=now)
    return row


# --- CRLs -----------------------------------------------------------------------------------


def build_crl(
    issuer: x509.Certificate,
    private_key: CertificateIssuerPrivateKeyTypes,
    entries: Iterable[CrlEntry],
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
) -> x509.CertificateRevocationList:
    """A full CRL. The entries go to the builder's constructor in one list: adding them one by
    one copies the list each time (O(n^2), see MEASURED.md)."""
    revoked = [_revoked_certificate(entry) for entry in entries]
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder(revoked_certificates=revoked)
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    return builder.sign(private_key, hashes.SHA256())


def _revoked_certificate(entry: CrlEntry) -> x509.RevokedCertificate:
    builder = (
        x509.RevokedCertificateBuilder()
        .serial_number(entry.serial)
        .revocation_date(entry.revoked_at)
    )
    # RFC 5280 5.3.1: leave the reason code out rather than say "unspecified".
    if entry.reason is not None and entry.reason is not x509.ReasonFlags.unspecified:
        builder = builder.add_extension(x509.CRLReason(entry.reason), critical=False)
    return builder.build()


def publish_crl(
    session: Session,
    issuer_code: str,
    signer: Issuer,
    *,
    now: datetime | None = None,
    validity: timedelta = CRL_VALIDITY,
) -> PublishedCrl:
    """Sign and store the CA's next full CRL (numbers come from the `crl:<ca>` counter)."""
    get_authority(session, issuer_code)
    number = bump_counter(session, f"crl:{issuer_code}")
    return _publish(session, issuer_code, signer, number, now or utc_now(), validity)


def current_crl(
    session: Session,
    issuer_code: str,
    signer_for: Callable[[str], Issuer],
    *,
    now: datetime | None = None,
) -> PublishedCrl:
    """The CRL to serve: the latest one while it lists every revocation and is in the first
    half of its life, else a new one signed by `signer_for(issuer_code)` (the process's held
    key). An offline CA (the national root) only ever has the latest one it published."""
    now = now or utc_now()
    authority = get_authority(session, issuer_code)
    is_current, latest = _latest_crl(session, issuer_code, now)
    if latest is not None and (is_current or authority.key_ref is None):
        return latest
    if authority.key_ref is None:
        raise CrlNotFound(f"CA {issuer_code} has published no CRL")
    signer = signer_for(issuer_code)
    # Take the number's row lock, then look again: requests that found the CRL stale at the
    # same moment must not each sign one (a million-entry CRL takes seconds).
    locked = bump_counter(session, f"crl:{issuer_code}", by=0)
    is_current, latest = _latest_crl(session, issuer_code, now)
    if latest is not None and is_current:
        return latest
    set_counter(session, f"crl:{issuer_code}", locked + 1)
    return _publish(session, issuer_code, signer, locked + 1, now, CRL_VALIDITY)


def install_crl(session: Session, issuer_code: str, der: bytes) -> PublishedCrl:
    """Store a CRL signed elsewhere (the offline root's, from the ceremony) after checking it."""
    authority = get_authority(session, issuer_code)
    if authority.key_ref is not None:
        raise CaError(f"CA {issuer_code} is online: it signs its own CRLs")
    try:
        crl = x509.load_der_x509_crl(der)
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (ValueError, x509.ExtensionNotFound):
        raise CaError("not a DER CRL with a CRL number") from None
    issuer = authority.certificate
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise CaError(f"the CRL was not signed by CA {issuer_code}")
    if crl.next_update_utc is None:
        raise CaError("the CRL has no nextUpdate")
    latest = _latest(session, issuer_code)
    if latest is not None and number <= latest.number:
        raise CaError(f"CRL number {number} is not above the published {latest.number}")
    row = PublishedCrl(
        issuer_code=issuer_code,
        number=number,
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
        der=der,
    )
    session.add(row)
    session.flush()
    return row


class CrlNotFound(CaError, NotFoundError):
    """No CRL has been published for the CA."""


def _publish(
    session: Session,
    issuer_code: str,
    signer: Issuer,
    number: int,
    now: datetime,
    validity: timedelta,
) -> PublishedCrl:
    # Count before reading the entries: a revocation committing in between then makes this
    # CRL look older than it is (published again), never more complete than it is.
    covered = read_counters(session, f"revocations:{issuer_code}")[0]
    entries = [
        CrlEntry(int(serial, 16), at, x509.ReasonFlags(reason) if reason else None)
        for serial, at, reason in session.execute(
            select(
                IssuedCertificate.serial,
                IssuedCertificate.revoked_at,
                IssuedCertificate.revocation_reason,
            ).where(
                IssuedCertificate.issuer_code == issuer_code,
                IssuedCertificate.revoked_at.is_not(None),
            )
        )
    ]
    this_update = now.replace(microsecond=0)
    crl = build_crl(
        signer.certificate,
        signer.private_key,
        entries,
        number=number,
        this_update=this_update,
        next_update=this_update + validity,
    )
    lint_crl(crl, signer.certificate)
    set_counter(session, f"crl-covers:{issuer_code}", covered)
    row = PublishedCrl(
        issuer_code=issuer_code,
        number=number,
        this_update=this_update,
        next_update=this_update + validity,
        der=crl.public_bytes(Encoding.DER),
    )
    session.add(row)
    session.flush()
    return row


def _latest(session: Session, issuer_code: str) -> PublishedCrl | None:
    return session.scalars(
        select(PublishedCrl)
        .where(PublishedCrl.issuer_code == issuer_code)
        .order_by(PublishedCrl.number.desc())
        .limit(1)
    ).first()


def _latest_crl(
    session: Session, issuer_code: str, now: datetime
) -> tuple[bool, PublishedCrl | None]:
    """The latest CRL, and whether it is complete and in the first half of its life."""
    # Counters before the CRL: the CRL read afterwards is at least as new as the count.
    revocations, covered = read_counters(
        session, f"revocations:{issuer_code}", f"crl-covers:{issuer_code}"
    )
    latest = _latest(session, issuer_code)
    if latest is None:
        return False, None
    half_life = latest.this_update + (latest.next_update - latest.this_update) / 2
    return revocations == covered and now < half_life, latest
