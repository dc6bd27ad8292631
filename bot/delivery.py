"""The outbox sender: claims due rows, sends them through the platform adapters, records the outcome.

Claiming marks a row `sending` (with a lease) in its own committed transaction before any platform call, so
two workers never send the same row; on PostgreSQL the claim uses FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.codec import load_message
from bot.model import Identity
from bot.runtime import Runtime, SendError
from bot.tables import OutboxMessage, Person, PlatformIdentity
from bot.worker import part

log = logging.getLogger("uptake.outbox")

LEASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 6
BATCH = 50


async def claim(rt: Runtime, limit: int = BATCH) -> list[OutboxMessage]:
    """Mark up to `limit` due rows as `sending` and return them (committed before sending)."""
    now = rt.clock.now()
    async with rt.db.session() as session:
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if not rt.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(await session.scalars(stmt))
        claimed: list[OutboxMessage] = []
        for row in rows:
            # The status guard makes the claim safe on SQLite too (one writer at a time, re-checked here).
            res = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending")
                .values(status="sending", claimed_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
            )
            if res.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(row)
        await session.commit()
        for row in claimed:
            await session.refresh(row)
        return claimed


async def pick_identity(session: AsyncSession, rt: Runtime, person_id: int) -> PlatformIdentity | None:
    """The person's reachable identity on a platform we can send to, most recently seen first."""
    links = await session.scalars(
        select(PlatformIdentity)
        .where(PlatformIdentity.person_id == person_id, PlatformIdentity.reachable.is_(True))
        .order_by(PlatformIdentity.last_seen_at.desc().nulls_last(), PlatformIdentity.id)
    )
    for link in links:
        if link.platform in rt.senders and link.workspace != "*":
            return link
    return None


async def send_one(rt: Runtime, row: OutboxMessage) -> None:
    now = rt.clock.now()
    async with rt.db.session() as session:
        fresh = await session.get_one(OutboxMessage, row.id)
        try:
            message = load_message(fresh.payload)
            ref = f"outbox:{fresh.id}"
            if fresh.person_id is not None:
                person = await session.get(Person, fresh.person_id)
                if (
                    person is not None
                    and not fresh.mandatory
                    and fresh.kind in (person.notify_prefs or {}).get("muted", [])
                ):
                    fresh.status, fresh.error = "cancelled", "muted by the person"
                    await session.commit()
                    return
                link = await pick_identity(session, rt, fresh.person_id)
                if link is None:
                    raise SendError("no reachable identity on an enabled platform", transient=False)
                identity = Identity(link.platform, link.workspace, link.user_id)
                msg_id = await rt.senders[link.platform].send_to_person(identity, message, ref=ref)
            else:
                sender = rt.senders.get(fresh.platform or "")
                if sender is None:
                    raise SendError(f"platform {fresh.platform} is not enabled", transient=True)
                msg_id = await sender.send_to_channel(fresh.workspace or "", fresh.channel_id or "", message, ref=ref)
        except SendError as e:
            fresh.error = str(e)[:500]
            if e.unreachable and fresh.person_id is not None:
                await session.execute(
                    update(PlatformIdentity)
                    .where(PlatformIdentity.person_id == fresh.person_id)
                    .values(reachable=False)
                )
            if e.transient and fresh.attempts < MAX_ATTEMPTS:
                backoff = e.retry_after or min(600.0, 2**fresh.attempts) * (0.5 + random.random())
                fresh.status = "pending"
                fresh.next_attempt_at = now + dt.timedelta(seconds=backoff)
            else:
                fresh.status = "failed"
            log.warning("outbox row %s %s: %s", fresh.id, fresh.status, e)
        else:
            fresh.status, fresh.platform_message_id, fresh.sent_at, fresh.error = "sent", msg_id, now, None
        fresh.claimed_until = None
        await session.commit()


async def drain(rt: Runtime, *, max_rounds: int = 100) -> int:
    """Send everything due now (tests, `uptake worker --once`). Returns how many rows were handled."""
    total = 0
    for _ in range(max_rounds):
        rows = await claim(rt)
        if not rows:
            break
        for row in rows:
            await send_one(rt, row)
        total += len(rows)
    return total


@part("outbox")
async def run_sender(rt: Runtime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        handled = await drain(rt, max_rounds=1)
        if not handled:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
