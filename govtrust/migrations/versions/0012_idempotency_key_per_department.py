"""idempotency keys are per department

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 20:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A key unique across all departments let one department's key answer another's
    # request with its licence; keys are now the department's own.
    with op.batch_alter_table("licence") as batch:
        batch.drop_constraint("uq_licence_idempotency_key", type_="unique")
        batch.create_unique_constraint(
            "uq_licence_department_id", ["department_id", "idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("licence") as batch:
        batch.drop_constraint("uq_licence_department_id", type_="unique")
        batch.create_unique_constraint("uq_licence_idempotency_key", ["idempotency_key"])
