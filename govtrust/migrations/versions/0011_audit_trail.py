"""audit trail of staff actions

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ca.orm import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_trail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=300), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_trail")),
    )
    op.create_index(op.f("ix_audit_trail_at"), "audit_trail", ["at"])
    op.create_index(op.f("ix_audit_trail_actor"), "audit_trail", ["actor"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_trail_actor"), table_name="audit_trail")
    op.drop_index(op.f("ix_audit_trail_at"), table_name="audit_trail")
    op.drop_table("audit_trail")
