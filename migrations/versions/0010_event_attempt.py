"""processed_events: the attempt that wrote a key, so a request recognises its own write after a lost answer

Revision ID: 0010_event_attempt
Revises: 0001
Create Date: 2026-11-24 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_event_attempt"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: existing keys and the adapters' one-time keys carry no attempt (never "ours").
    with op.batch_alter_table("processed_events") as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_events") as batch_op:
        batch_op.drop_column("attempt")
