"""The durable outbox: everything sent later than the direct reply is a row here first.

Rows are written in the caller's transaction, so a message exists exactly when the change that caused it was
committed. The unique `key` makes enqueueing idempotent: a retried event or a re-run job adds nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.codec import dump_message
from bot.model import Message
from bot.tables import OutboxMessage


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    message: Message,
    rollout_id: int | None,
    person_id: int | None = None,
    channel: tuple[str, str, str] | None = None,
    kind: str = "notification",
    group_key: str | None = None,
    not_before: dt.datetime | None = None,
    mandatory: bool = False,
) -> OutboxMessage | None:
    """Add one row (to a person, or to a (platform, workspace, channel) triple). Returns None if the key exists."""
    if (person_id is None) == (channel is None):
        raise ValueError("enqueue needs exactly one of person_id or channel")
    existing = await session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key))
    if existing is not None:
        return None
    row = OutboxMessage(
        key=key,
        rollout_id=rollout_id,
        kind=kind,
        group_key=group_key,
        person_id=person_id,
        platform=channel[0] if channel else None,
        workspace=channel[1] if channel else None,
        channel_id=channel[2] if channel else None,
        payload=dump_message(message),
        mandatory=mandatory,
        next_attempt_at=not_before or dt.datetime.now(dt.UTC),
    )
    session.add(row)
    await session.flush()
    return row
