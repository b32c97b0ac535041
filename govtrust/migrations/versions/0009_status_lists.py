"""licence status-list indices and published status lists

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ca.orm

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Licences issued before status lists existed have no index: this is a new registry, so
    # the columns start NOT NULL only once they are filled; there are none to fill in dev.
    with op.batch_alter_table("licence") as batch:
        batch.add_column(sa.Column("region_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("status_index", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE licence SET region_code = (SELECT region_code FROM ca_department "
        "WHERE ca_department.id = licence.department_id), status_index = -id"
    )
    with op.batch_alter_table("licence") as batch:
        batch.alter_column("region_code", nullable=False)
        batch.alter_column("status_index", nullable=False)
        batch.create_unique_constraint("uq_licence_region_code", ["region_code", "status_index"])
    op.create_table(
        "status_list_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("issued_at", ca.orm.UtcDateTime(), nullable=False),
        sa.Column("expires_at", ca.orm.UtcDateTime(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_list_version")),
        sa.UniqueConstraint(
            "region_code", "number", name=op.f("uq_status_list_version_region_code")
        ),
    )
    op.create_index(
        op.f("ix_status_list_version_region_code"), "status_list_version", ["region_code"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_status_list_version_region_code"), table_name="status_list_version")
    op.drop_table("status_list_version")
    with op.batch_alter_table("licence") as batch:
        batch.drop_constraint("uq_licence_region_code", type_="unique")
        batch.drop_column("status_index")
        batch.drop_column("region_code")
