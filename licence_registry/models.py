"""Tables owned by the licence registry."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ca.orm import Base, UtcDateTime


class LicenceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    # Replaced by an amended version (the record of `superseded_by_id`); final.
    SUPERSEDED = "superseded"
    # Never stored: an active licence past its `valid_until` reads as expired (see
    # `effective_status`); the credential's own dates let a verifier see it offline.
    EXPIRED = "expired"


class Licence(Base):
    """One version of a licence; an amendment is a new row with the next version."""

    __tablename__ = "licence"
    __table_args__ = (
        UniqueConstraint("region_code", "status_index"),
        # A key is the department's own: another department may use the same one.
        UniqueConstraint("department_id", "idempotency_key"),
        # The rows a status list is built from: only the non-active ones, read without
        # touching the (many) active licences.
        Index(
            "ix_licence_not_active",
            "region_code",
            "status_index",
            "status",
            postgresql_where=text("status <> 'active'"),
            sqlite_where=text("status <> 'active'"),
        ),
    )

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
    # The holder's federation pseudonym (the `sub` of their identity tokens): how a signed-in
    # citizen or legal person finds their own licences. NULL only on rows older than it.
    holder_subject: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=LicenceStatus.ACTIVE)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    # The QR credential printed on the PDF, for holders who show it on a phone instead.
    credential: Mapped[str | None] = mapped_column(Text)
    # The client's key for the request that issued it: a retried request or a rerun batch
    # gets this licence back instead of a second one.
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    # Its entry in the region's status list, drawn at random so that indices do not reveal
    # the order (or the number) of issuance.
    region_code: Mapped[str] = mapped_column(String(32))
    status_index: Mapped[int] = mapped_column(Integer)
    # Amendment: the version this one replaced, and the one that replaced this.
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("licence.id"))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("licence.id"))

    def effective_status(self, on: date) -> LicenceStatus:
        """The status as of day `on`: expiry follows from the dates, not from an event."""
        status = LicenceStatus(self.status)
        if (
            status is LicenceStatus.ACTIVE
            and self.valid_until is not None
            and on > self.valid_until
        ):
            return LicenceStatus.EXPIRED
        return status


class LicenceEvent(Base):
    """Every lifecycle change, in order, each with its transparency-log leaf."""

    __tablename__ = "licence_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licence.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    # Who acted: "<region>/<department>/<staff pseudonym>" over the API, "cli" locally.
    actor: Mapped[str | None] = mapped_column(String(200))


class StatusListVersion(Base):
    """A signed status list of one region, as published; every version is kept."""

    __tablename__ = "status_list_version"
    __table_args__ = (UniqueConstraint("region_code", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(32), index=True)
    number: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The region's status-change count this version reflects: a newer change makes it stale.
    changes: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
