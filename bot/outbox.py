"""The durable outbox: everything sent later than the direct reply is a row here first.

Rows are written in the caller's transaction, so a message exists exactly when the change that caused it was
committed. The unique `key` makes enqueueing idempotent: a retried event or a re-run job adds nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String, insert, select, update
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
    private: bool = False,
) -> OutboxMessage | None:
    """Add one row (to a person, or to a (platform, workspace, channel) triple). Returns None if the key exists.

    `private`: the recipient must stay unlinkable to what the message is about (an anonymous reporter); the row's
    payload, key and recipient are scrubbed once it has ended (`scrub_private`)."""
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
        private=private,
        next_attempt_at=not_before or dt.datetime.now(dt.UTC),
    )
    session.add(row)
    await session.flush()
    return row


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]], chunk: int = 500) -> int:
    """Add many rows in the caller's transaction (a broadcast's fan-out); keys that exist are left alone.

    Each dict has the keyword arguments of `enqueue`. Returns how many rows were new.
    """
    added = 0
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        keys = [r["key"] for r in part]
        existing = set(await session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(keys))))
        values = []
        for r in part:
            if r["key"] in existing:
                continue
            existing.add(r["key"])
            channel = r.get("channel")
            if (r.get("person_id") is None) == (channel is None):
                raise ValueError("enqueue needs exactly one of person_id or channel")
            values.append(
                {
                    "key": r["key"],
                    "rollout_id": r.get("rollout_id"),
                    "kind": r.get("kind", "notification"),
                    "group_key": r.get("group_key"),
                    "person_id": r.get("person_id"),
                    "platform": channel[0] if channel else None,
                    "workspace": channel[1] if channel else None,
                    "channel_id": channel[2] if channel else None,
                    "payload": r["payload"] if "payload" in r else dump_message(r["message"]),
                    "mandatory": bool(r.get("mandatory", False)),
                    "private": bool(r.get("private", False)),
                    "next_attempt_at": r.get("not_before") or dt.datetime.now(dt.UTC),
                    "status": "pending",
                    "attempts": 0,
                    "throttled": 0,
                    "possibly_duplicate": False,
                    "created_at": dt.datetime.now(dt.UTC),
                }
            )
        if values:
            await session.execute(insert(OutboxMessage), values)
            added += len(values)
    return added


# Kinds of messages people can choose not to receive (`settings`). Capabilities add theirs with message_kind();
# a row enqueued with `mandatory=True` arrives whatever the person chose.
MESSAGE_KINDS: dict[str, str] = {"notification": "Notifications about things you asked or reported"}


def message_kind(name: str, label: str) -> str:
    """Declare a kind of message people may mute in `settings`; returns the name for use in `enqueue(kind=…)`."""
    MESSAGE_KINDS.setdefault(name, label)
    return name


ENDED = ("sent", "failed", "cancelled")


async def scrub_private(session: AsyncSession, rollout_id: int | None = None) -> int:
    """Forget who got each private row that has ended: recipient, platform ids, key and text. Returns how many.

    While a row is pending it must name its recipient (the sender needs them); afterwards nothing in the outbox may
    link an anonymous report (named in the key and the text) to the person it was sent to.
    """
    stmt = update(OutboxMessage).where(OutboxMessage.private.is_(True), OutboxMessage.status.in_(ENDED))
    stmt = stmt.where(OutboxMessage.person_id.is_not(None) | OutboxMessage.user_id.is_not(None))
    if rollout_id is not None:
        stmt = stmt.where(OutboxMessage.rollout_id == rollout_id)
    result = await session.execute(
        stmt.values(
            person_id=None,
            user_id=None,
            platform_message_id=None,
            group_key=None,
            key="scrubbed:" + OutboxMessage.id.cast(String),  # still unique; the send's effect is long committed
            payload=dump_message(Message("(private message, removed after delivery)")),
        ).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
