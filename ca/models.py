"""Tables owned by the CA: authorities, issued certificates, regions' departments, trust lists."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ca.orm import Base, UtcDateTime


class Authority(Base):
    """A CA this federation runs: the national root (offline key) or a region CA."""

    __tablename__ = "ca_authority"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    profile: Mapped[str] = mapped_column(String(40))
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    # NULL for the national root: its key is offline and never read by the server.
    key_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)


class IssuedCertificate(Base):
    __tablename__ = "ca_certificate"
    __table_args__ = (UniqueConstraint("issuer_code", "serial"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_code: Mapped[str] = mapped_column(ForeignKey("ca_authority.code"))
    serial: Mapped[str] = mapped_column(String(48), comment="lower-case hex")
    subject: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(String(40))
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # RFC 5280 CRLReason, as cryptography's ReasonFlags value.
    revocation_reason: Mapped[str | None] = mapped_column(String(40))
    # Set for certificates whose key this server holds (OCSP responder, TSA, signers).
    key_ref: Mapped[str | None] = mapped_column(String(200))

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)


class Department(Base):
    """An issuing authority of one region (e.g. 330000/amr), identified by its USCC."""

    __tablename__ = "ca_department"
    __table_args__ = (UniqueConstraint("region_code", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("ca_authority.code"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)


class TrustListVersion(Base):
    __tablename__ = "ca_trust_list"

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_update: Mapped[datetime] = mapped_column(UtcDateTime())
    jws: Mapped[str] = mapped_column(Text)
    # Who published it: an operator's subject, or NULL for the hub's own CLI.
    published_by: Mapped[str | None] = mapped_column(String(200))


class Counter(Base):
    """A named monotonic counter (CRL numbers, TSA serial blocks), bumped under a row lock."""

    __tablename__ = "ca_counter"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class PublishedCrl(Base):
    __tablename__ = "ca_crl"
    __table_args__ = (UniqueConstraint("issuer_code", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_code: Mapped[str] = mapped_column(ForeignKey("ca_authority.code"), index=True)
    number: Mapped[int] = mapped_column(BigInteger)
    this_update: Mapped[datetime] = mapped_column(UtcDateTime())
    next_update: Mapped[datetime] = mapped_column(UtcDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)


class OcspResponse(Base):
    """A pre-signed OCSP response (RFC 5019 style), re-signed on revocation and when stale."""

    __tablename__ = "ca_ocsp_response"

    issuer_code: Mapped[str] = mapped_column(ForeignKey("ca_authority.code"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(48), primary_key=True, comment="lower-case hex")
    # The CertID's hash (sha1 or sha256): a client matches the response's CertID to its own.
    hash_algorithm: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    produced_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_update: Mapped[datetime] = mapped_column(UtcDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)


class TrustRegion(Base):
    """A region of the federation trust list."""

    __tablename__ = "ca_trust_region"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class TrustService(Base):
    """One listed service of a region: its type and the certificate it is trusted through."""

    __tablename__ = "ca_trust_service"
    __table_args__ = (UniqueConstraint("region_code", "service_type", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("ca_trust_region.code"), index=True)
    service_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)


class TrustServiceStatus(Base):
    """A status change of a listed service (granted / withdrawn), effective from `since`."""

    __tablename__ = "ca_trust_service_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("ca_trust_service.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Who recorded it: an operator's subject, or NULL for the hub's own CLI.
    recorded_by: Mapped[str | None] = mapped_column(String(200))
