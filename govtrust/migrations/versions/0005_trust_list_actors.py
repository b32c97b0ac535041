"""who published a trust list version and who recorded a service status change

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ca_trust_list") as batch:
        batch.add_column(sa.Column("published_by", sa.String(length=200), nullable=True))
    with op.batch_alter_table("ca_trust_service_status") as batch:
        batch.add_column(sa.Column("recorded_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ca_trust_service_status") as batch:
        batch.drop_column("recorded_by")
    with op.batch_alter_table("ca_trust_list") as batch:
        batch.drop_column("published_by")
