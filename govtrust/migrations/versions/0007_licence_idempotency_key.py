"""licence idempotency key

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("licence") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=100), nullable=True))
        batch.create_unique_constraint("uq_licence_idempotency_key", ["idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("licence") as batch:
        batch.drop_constraint("uq_licence_idempotency_key", type_="unique")
        batch.drop_column("idempotency_key")
