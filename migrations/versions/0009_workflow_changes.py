"""broadcasts: workflow changes change leads note for the weekly update's "What changed"

Revision ID: 0009_workflow_changes
Revises: 0006_broadcasts
Create Date: 2026-11-23 22:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db

revision: str = "0009_workflow_changes"
down_revision: str | Sequence[str] | None = "0006_broadcasts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workflow_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_workflow_changes_person_id_people"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name=op.f("fk_workflow_changes_rollout_id_rollouts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["update_id"],
            ["rollout_updates.id"],
            name=op.f("fk_workflow_changes_update_id_rollout_updates"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_changes")),
    )
    with op.batch_alter_table("workflow_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflow_changes_rollout_id"), ["rollout_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_workflow_changes_update_id"), ["update_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workflow_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_changes_update_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_changes_rollout_id"))
    op.drop_table("workflow_changes")
