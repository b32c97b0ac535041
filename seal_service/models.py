"""Tables owned by the seal service."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ca.models import IssuedCertificate
from ca.orm import Base, UtcDateTime


class SealStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"


_ACTIVE_ONLY = text("status = 'active'")


class Seal(Base):
    """A department's e-seal: certificate, key reference and the stamp image shown on PDFs."""

    __tablename__ = "seal"
    __table_args__ = (
        # At most one active seal per department, enforced by the database as well, so two
        # concurrent `seal create` runs cannot both succeed.
        Index(
            "uq_seal_active_department",
            "department_id",
            unique=True,
            sqlite_where=_ACTIVE_ONLY,
            postgresql_where=_ACTIVE_ONLY,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("ca_department.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("ca_certificate.id"))
    key_ref: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=SealStatus.ACTIVE)
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Loaded with the seal: its validity and revocation decide whether it may be used.
    certificate: Mapped[IssuedCertificate] = relationship(lazy="joined", innerjoin=True)

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_before

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_after


class SealStatusChange(Base):
    """One entry of a seal's status history: made (active), suspended, reinstated, retired."""

    __tablename__ = "seal_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seal.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    # Who made the change: an operator's subject, or NULL for the CLI.
    actor: Mapped[str | None] = mapped_column(String(200))
