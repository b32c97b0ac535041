"""Tables owned by the seal service."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ca.orm import Base, UtcDateTime


class SealStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"


class Seal(Base):
    """A department's e-seal: certificate, key reference and the stamp image shown on PDFs."""

    __tablename__ = "seal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("ca_department.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("ca_certificate.id"))
    key_ref: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=SealStatus.ACTIVE)
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
