"""Issuing certificates as a CA of the federation, and recording every one."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.errors import CaError, UnknownAuthority
from ca.keys import KeyRef, KeyStore, KeyStores
from ca.lint import lint_certificate
from ca.models import Authority, IssuedCertificate, TrustService
from ca.profiles import PROFILES, CertificateProfile, Issuer, IssuerUrls, build_certificate
from verifier.timeutil import utc_now

ROOT_CODE = "root"


def record_certificate(
    session: Session,
    issuer_code: str,
    profile: CertificateProfile,
    certificate: x509.Certificate,
    key_ref: KeyRef | None = None,
) -> IssuedCertificate:
    """Keep an issued certificate (serial, subject, profile, DER) in the CA's register."""
    row = IssuedCertificate(
        issuer_code=issuer_code,
        serial=format(certificate.serial_number, "x"),
        subject=certificate.subject.rfc4514_string(),
        profile=profile.name,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        certificate_der=certificate.public_bytes(Encoding.DER),
        key_ref=str(key_ref) if key_ref else None,
    )
    session.add(row)
    session.flush()
    return row


def issue_certificate(
    session: Session,
    issuer_code: str,
    issuer: Issuer,
    profile: CertificateProfile,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
) -> IssuedCertificate:
    certificate = build_certificate(profile, subject, public_key, issuer=issuer)
    lint_certificate(certificate, profile, issuer.certificate)
    return record_certificate(session, issuer_code, profile, certificate)


def issue_with_new_key(
    session: Session,
    key_store: KeyStore,
    key_name: str,
    issuer_code: str,
    issuer: Issuer,
    profile: CertificateProfile,
    subject: x509.Name,
) -> IssuedCertificate:
    """Make a key in `key_store` and certify it; the record keeps where the key lives."""
    public_key = key_store.generate(key_name)
    certificate = build_certificate(profile, subject, public_key, issuer=issuer)
    lint_certificate(certificate, profile, issuer.certificate)
    key_ref = KeyRef(key_store.backend, key_name)
    return record_certificate(session, issuer_code, profile, certificate, key_ref)


def get_authority(session: Session, code: str) -> Authority:
    authority = session.get(Authority, code)
    if authority is None:
        raise UnknownAuthority(f"no certificate authority {code!r}")
    return authority


def load_issuer(
    session: Session,
    key_stores: KeyStores | KeyStore,
    code: str,
    *,
    public_base_url: str | None = None,
) -> Issuer:
    """The online CA `code` ready to sign; the national root is never loaded this way.

    With `public_base_url`, what it issues points at its CRL, OCSP and certificate there.
    """
    authority = get_authority(session, code)
    if authority.key_ref is None:
        raise CaError(f"authority {code!r} is offline: its key is not available to the server")
    return Issuer(
        certificate=authority.certificate,
        private_key=KeyStores.of(key_stores).private_key(KeyRef.parse(authority.key_ref)),
        profile=PROFILES[authority.profile],
        urls=IssuerUrls.for_ca(public_base_url, code) if public_base_url else None,
    )


def latest_certificate(session: Session, profile: CertificateProfile) -> IssuedCertificate:
    row = session.scalars(
        select(IssuedCertificate)
        .where(IssuedCertificate.profile == profile.name, IssuedCertificate.revoked_at.is_(None))
        .order_by(IssuedCertificate.not_before.desc(), IssuedCertificate.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise CaError(f"no {profile.name} certificate has been issued")
    return row


def add_authority(
    session: Session,
    code: str,
    name: str,
    profile: CertificateProfile,
    certificate: x509.Certificate,
    key_ref: KeyRef | None,
) -> Authority:
    if session.get(Authority, code) is not None:
        raise CaError(f"authority {code!r} already exists")
    authority = Authority(
        code=code,
        name=name,
        profile=profile.name,
        certificate_der=certificate.public_bytes(Encoding.DER),
        key_ref=str(key_ref) if key_ref else None,
        created_at=utc_now(),
    )
    session.add(authority)
    session.flush()
    return authority


def current_signer_certificate(
    session: Session,
    issuer_code: str,
    profile: CertificateProfile,
    at: datetime,
    *,
    listed_as: str | None = None,
) -> IssuedCertificate | None:
    """The newest unrevoked certificate of `profile` from `issuer_code`, valid at `at`, whose
    key this server holds: the one a service (OCSP, TSA, …) signs with. With `listed_as`,
    only one the region lists under that trust-list service type: verifiers trust nothing
    else, so a newer certificate not yet listed (a rollover in progress) must not sign."""
    query = select(IssuedCertificate).where(
        IssuedCertificate.issuer_code == issuer_code,
        IssuedCertificate.profile == profile.name,
        IssuedCertificate.revoked_at.is_(None),
        IssuedCertificate.key_ref.is_not(None),
        IssuedCertificate.not_before <= at,
        IssuedCertificate.not_after > at,
    )
    if listed_as is not None:
        query = query.where(
            IssuedCertificate.certificate_der.in_(
                select(TrustService.certificate_der).where(
                    TrustService.region_code == issuer_code,
                    TrustService.service_type == listed_as,
                )
            )
        )
    return session.scalars(
        query.order_by(IssuedCertificate.not_before.desc(), IssuedCertificate.id.desc()).limit(1)
    ).first()
