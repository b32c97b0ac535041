"""Tables owned by the licence registry."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ca.orm import Base, UtcDateTime


class LicenceStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Licence(Base):
    __tablename__ = "licence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    type_name: Mapped[str] = mapped_column(String(64))
    department_id: Mapped[int] = mapped_column(ForeignKey("ca_department.id"), index=True)
    serial: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_id_type: Mapped[str] = mapped_column(String(3))
    # Raw citizen IDs are never stored in clear: a keyed hash to look up, ciphertext to recover.
    holder_id_hash: Mapped[str] = mapped_column(String(64), index=True)
    holder_id_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    holder_id_masked: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=LicenceStatus.ACTIVE)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    # The client's key for the request that issued it: a retried request or a rerun batch
    # gets this licence back instead of a second one.
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)


class LicenceEvent(Base):
    """Every lifecycle change, in order; the transparency log will be built from these."""

    __tablename__ = "licence_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licence.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
