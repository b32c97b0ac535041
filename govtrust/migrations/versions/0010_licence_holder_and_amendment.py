"""licence holder pseudonym, credential, amendment links, event actors, status-list index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows issued before have no pseudonym: it needs the data-protection key, which a
    # migration does not hold; their holders do not see them in their list.
    with op.batch_alter_table("licence") as batch:
        batch.add_column(sa.Column("holder_subject", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("supersedes_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("superseded_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("credential", sa.Text(), nullable=True))
        batch.create_index(op.f("ix_licence_holder_subject"), ["holder_subject"])
        batch.create_foreign_key(
            op.f("fk_licence_supersedes_id_licence"), "licence", ["supersedes_id"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_licence_superseded_by_id_licence"),
            "licence",
            ["superseded_by_id"],
            ["id"],
        )
    with op.batch_alter_table("licence_event") as batch:
        batch.add_column(sa.Column("actor", sa.String(length=200), nullable=True))
    not_active = sa.text("status <> 'active'")
    op.create_index(
        "ix_licence_not_active",
        "licence",
        ["region_code", "status_index", "status"],
        postgresql_where=not_active,
        sqlite_where=not_active,
    )


def downgrade() -> None:
    op.drop_index("ix_licence_not_active", table_name="licence")
    with op.batch_alter_table("licence_event") as batch:
        batch.drop_column("actor")
    with op.batch_alter_table("licence") as batch:
        batch.drop_constraint("fk_licence_superseded_by_id_licence", type_="foreignkey")
        batch.drop_constraint("fk_licence_supersedes_id_licence", type_="foreignkey")
        batch.drop_index("ix_licence_holder_subject")
        batch.drop_column("credential")
        batch.drop_column("superseded_by_id")
        batch.drop_column("supersedes_id")
        batch.drop_column("holder_subject")
