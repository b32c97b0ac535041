"""seal status history, and at most one active seal per department

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import ca.orm

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE_ONLY = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        "seal_status_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", ca.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["seal_id"], ["seal.id"], name=op.f("fk_seal_status_change_seal_id_seal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_status_change")),
    )
    with op.batch_alter_table("seal_status_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_seal_status_change_seal_id"), ["seal_id"], unique=False
        )
    _record_existing_seals()
    with op.batch_alter_table("seal", schema=None) as batch_op:
        batch_op.create_index(
            "uq_seal_active_department",
            ["department_id"],
            unique=True,
            sqlite_where=_ACTIVE_ONLY,
            postgresql_where=_ACTIVE_ONLY,
        )


def _record_existing_seals() -> None:
    """Give every seal its history so far, and leave one active seal per department.

    Before 0006 nothing changed a seal's status, so each was made active at created_at. Where
    a department had several active seals only the newest was ever used for sealing; the
    older ones are suspended (not retired: retiring revokes the certificate, which is the CA's
    act, not a migration's) and the history says why.
    """
    seal = sa.table(
        "seal",
        sa.column("id", sa.Integer()),
        sa.column("department_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("created_at", ca.orm.UtcDateTime()),
    )
    change = sa.table(
        "seal_status_change",
        sa.column("seal_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("at", ca.orm.UtcDateTime()),
        sa.column("reason", sa.Text()),
    )
    connection = op.get_bind()
    now = datetime.now(UTC)
    rows = connection.execute(
        sa.select(seal.c.id, seal.c.department_id, seal.c.status, seal.c.created_at).order_by(
            seal.c.department_id, seal.c.created_at.desc(), seal.c.id.desc()
        )
    ).all()
    history: list[dict[str, object]] = []
    newest_active: set[int] = set()
    for seal_id, department_id, status, created_at in rows:
        history.append({"seal_id": seal_id, "status": "active", "at": created_at, "reason": "made"})
        if status == "active" and department_id in newest_active:
            connection.execute(
                sa.update(seal).where(seal.c.id == seal_id).values(status="suspended")
            )
            status = "suspended"
            reason = "migration 0006: another seal of the department is the active one"
            history.append({"seal_id": seal_id, "status": status, "at": now, "reason": reason})
        elif status == "active":
            newest_active.add(department_id)
        else:
            reason = "status found by migration 0006"
            history.append({"seal_id": seal_id, "status": status, "at": now, "reason": reason})
    if history:
        op.bulk_insert(change, history)


def downgrade() -> None:
    with op.batch_alter_table("seal", schema=None) as batch_op:
        batch_op.drop_index("uq_seal_active_department")
    with op.batch_alter_table("seal_status_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seal_status_change_seal_id"))
    op.drop_table("seal_status_change")
