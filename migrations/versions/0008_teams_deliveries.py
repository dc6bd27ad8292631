"""teams: cards of an outbox message already delivered (partial-failure retries, crash reconciliation)

Revision ID: 0008_teams_deliveries
Revises: 0003_teams
Create Date: 2026-11-23 22:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db

revision: str = "0008_teams_deliveries"
down_revision: str | Sequence[str] | None = "0003_teams"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teams_deliveries",
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.String(length=256), nullable=False),
        sa.Column("at", bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ref", "part", name=op.f("pk_teams_deliveries")),
    )
    with op.batch_alter_table("teams_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teams_deliveries_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("teams_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_deliveries_at"))
    op.drop_table("teams_deliveries")
