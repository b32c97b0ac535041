"""Tables owned by the CA: authorities, issued certificates, regions' departments, trust lists."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
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
    revocation_reason: Mapped[str | None] = mapped_column(String(40))

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
