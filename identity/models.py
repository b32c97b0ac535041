"""Tables owned by identity/: accounts (with their sign-in throttle) and refresh tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ca.orm import Base, UtcDateTime


class AccountKind(StrEnum):
    CITIZEN = "citizen"
    LEGAL_PERSON = "legal-person"
    STAFF = "staff"


class Role(StrEnum):
    SIGNER = "signer"
    CLERK = "clerk"
    AUDITOR = "auditor"
    OPERATOR = "operator"


# Roles that act for one department, so the account must be bound to it.
DEPARTMENT_ROLES = frozenset({Role.SIGNER, Role.CLERK})


class Account(Base):
    """A person or organisation that signs in at one region's identity provider."""

    __tablename__ = "identity_account"
    __table_args__ = (
        # Named here: the convention names a constraint by its first column only.
        UniqueConstraint("region_code", "login_name", name="uq_identity_account_login"),
        UniqueConstraint("region_code", "id_hash", name="uq_identity_account_id_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(ForeignKey("ca_authority.code"), index=True)
    # Staff: a username; legal person: the USCC (public registration data); citizen: NULL,
    # found by id_hash so the ID number is never stored in clear.
    login_name: Mapped[str | None] = mapped_column(String(64))
    id_hash: Mapped[str | None] = mapped_column(String(64))
    id_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(100), default="", comment="comma-separated")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("ca_department.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    failure_window_start: Mapped[datetime | None] = mapped_column(UtcDateTime())
    throttled_until: Mapped[datetime | None] = mapped_column(UtcDateTime())

    @property
    def role_list(self) -> tuple[str, ...]:
        return tuple(r for r in self.roles.split(",") if r)


class RefreshToken(Base):
    """One refresh token, stored as its SHA-256; a family is one sign-in's rotation chain."""

    __tablename__ = "identity_refresh_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("identity_account.id"), index=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 hex")
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
