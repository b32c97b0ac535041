"""transparency log: leaves, complete-subtree nodes and signed checkpoints per region

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ca.orm

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_leaf",
        sa.Column("region_code", sa.String(length=32), nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("appended_at", ca.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("licence_identifier", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("region_code", "index", name=op.f("pk_log_leaf")),
    )
    with op.batch_alter_table("log_leaf", schema=None) as batch_op:
        batch_op.create_index(
            "ix_log_leaf_licence", ["region_code", "licence_identifier"], unique=False
        )
    op.create_table(
        "log_node",
        sa.Column("region_code", sa.String(length=32), nullable=False),
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("region_code", "level", "index", name=op.f("pk_log_node")),
    )
    op.create_table(
        "log_checkpoint",
        sa.Column("region_code", sa.String(length=32), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", ca.orm.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("region_code", "tree_size", name=op.f("pk_log_checkpoint")),
    )


def downgrade() -> None:
    op.drop_table("log_checkpoint")
    op.drop_table("log_node")
    with op.batch_alter_table("log_leaf", schema=None) as batch_op:
        batch_op.drop_index("ix_log_leaf_licence")
    op.drop_table("log_leaf")
