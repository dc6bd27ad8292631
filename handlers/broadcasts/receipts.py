"""After sending: delivery receipts, "👍 Got it" acknowledgements, one reminder, the author's progress."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.codec import dump_message, load_message
from bot.context import Ctx, JobCtx
from bot.model import Actions, Button, Context, Fact, Message, Reply, Request, Section, lit
from bot.outbox import enqueue, enqueue_many
from bot.tables import OutboxMessage, Rollout
from handlers.broadcasts import compose
from handlers.broadcasts.tables import Broadcast, BroadcastAck

REMINDER_KIND = "broadcast_reminder"
DEFAULT_REMINDER_HOURS = 48
DEFAULT_APPROVAL_WAIT_HOURS = 24


@dataclass
class Receipt:
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    cancelled: int = 0
    possibly_duplicated: int = 0
    acks: int = 0
    delivered_people: int = 0  # the acknowledgement rate's base: a channel post can be acknowledged by many
    first_sent: dt.datetime | None = None

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.pending + self.cancelled


async def receipt(session: AsyncSession, b: Broadcast) -> Receipt:
    group = f"broadcast:{b.id}:r{b.revision}"
    r = Receipt()
    rows = await session.execute(
        select(OutboxMessage.status, func.count(), func.min(OutboxMessage.sent_at))
        .where(OutboxMessage.group_key == group)
        .group_by(OutboxMessage.status)
    )
    for status, count, first in rows:
        if status == "sent":
            r.delivered, r.first_sent = count, first
        elif status == "failed":
            r.failed = count
        elif status == "cancelled":
            r.cancelled = count
        else:
            r.pending += count
    r.possibly_duplicated = (
        await session.scalar(
            select(func.count()).where(OutboxMessage.group_key == group, OutboxMessage.possibly_duplicate.is_(True))
        )
        or 0
    )
    r.delivered_people = (
        await session.scalar(
            select(func.count()).where(
                OutboxMessage.group_key == group, OutboxMessage.status == "sent", OutboxMessage.person_id.is_not(None)
            )
        )
        or 0
    )
    r.acks = (
        await session.scalar(select(func.count()).select_from(BroadcastAck).where(BroadcastAck.broadcast_id == b.id))
        or 0
    )
    return r


def state_label(b: Broadcast, r: Receipt, now: dt.datetime, rollout_tz: str) -> str:
    if b.status == "scheduled":
        if r.pending and (b.send_at is None or b.send_at <= now or r.delivered or r.failed):
            done = r.delivered + r.failed + r.cancelled
            return f"sending: {done} of {r.total} done"
        if r.pending:
            return "scheduled"
        if r.delivered:
            return "sent"
        # Nothing reached anyone: saying "sent" would hide that from the author.
        if r.failed:
            return "failed"
        return "not sent: every recipient muted broadcasts" if r.cancelled else "sent"
    return {"draft": "draft", "awaiting_approval": "awaiting approval", "cancelled": "cancelled"}.get(
        b.status, b.status
    )


def receipt_facts(b: Broadcast, r: Receipt) -> tuple[Fact, ...]:
    facts = [Fact("Delivered", str(r.delivered)), Fact("Failed", str(r.failed)), Fact("Pending", str(r.pending))]
    if r.cancelled:
        facts.append(Fact("Not sent (muted)", str(r.cancelled)))
    if r.possibly_duplicated:
        facts.append(Fact("Possibly duplicated after a crash", str(r.possibly_duplicated)))
    if b.ask_ack:
        rate = f" ({100 * r.acks / r.delivered_people:.0f}%)" if r.delivered_people else ""
        facts.append(Fact("Acknowledged", f"{r.acks}{rate}"))
    return tuple(facts)


async def acknowledge(request: Request, ctx: Ctx) -> Reply:
    b = await compose.load(ctx, compose.broadcast_id(request))
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(BroadcastAck(broadcast_id=b.id, person_id=ctx.person.id, at=ctx.now()))
    except IntegrityError:
        return Reply.say("You had already acknowledged it. Thanks!")
    return Reply.say(f"Thanks, noted that you've read “{lit(b.title)}”.")


async def list_broadcasts(request: Request, ctx: Ctx) -> Reply:
    """`broadcasts`: drafts, scheduled and sent broadcasts with delivery and acknowledgement figures."""
    items = list(
        await ctx.session.scalars(
            select(Broadcast)
            .where(Broadcast.rollout_id == ctx.rollout.id)
            .order_by(Broadcast.created_at.desc(), Broadcast.id.desc())
            .limit(15)
        )
    )
    if not items:
        return Reply.say("No broadcasts yet. Type `broadcast` to write the first one.", home_actions())
    blocks: list[Section | Context] = []
    now = ctx.now()
    for b in items:
        r = await receipt(ctx.session, b)
        label = state_label(b, r, now, ctx.rollout.timezone)
        when = compose.local_time(b.send_at or b.scheduled_at, ctx.rollout) if (b.send_at or b.scheduled_at) else ""
        buttons: list[Button] = []
        if b.status in ("draft", "awaiting_approval") or (b.status == "scheduled" and label == "scheduled"):
            buttons = [Button("Edit", f"broadcasts.edit:{b.id}"), Button("Cancel", f"broadcasts.cancel:{b.id}")]
        facts = receipt_facts(b, r) if b.status == "scheduled" else ()
        blocks.append(
            Section(
                heading=f"#{b.id} {lit(b.title)}",
                text=f"*{label}*" + (f" · {when}" if when else "") + f" · {compose.audience.describe(b.audience)}",
                facts=facts,
                buttons=tuple(buttons),
            )
        )
    return Reply.say(f"Broadcasts in {lit(ctx.rollout.name)}", *blocks, home_actions())


def home_actions() -> Actions:
    """What a change lead starts from the broadcasts list: a new broadcast, or a note for the weekly update."""
    return Actions(
        (Button("New broadcast", "broadcasts.new"), Button("Note a workflow change", "broadcasts.workflow_new"))
    )


async def follow_up(ctx: JobCtx) -> None:
    """Job: one reminder to those who have not acknowledged after the delay; the author's final receipt."""
    session, rollout, now = ctx.session, ctx.rollout, ctx.now()
    hours = float((rollout.config or {}).get("ack_reminder_hours", DEFAULT_REMINDER_HOURS))
    scheduled = list(
        await session.scalars(
            select(Broadcast).where(
                Broadcast.rollout_id == rollout.id,
                Broadcast.status == "scheduled",
                (Broadcast.reported_at.is_(None)) | (Broadcast.ask_ack & Broadcast.reminded_at.is_(None)),
            )
        )
    )
    await chase_approvals(session, rollout, now)
    for b in scheduled:
        r = await receipt(session, b)
        if b.ask_ack and b.reminded_at is None and r.first_sent and r.first_sent + dt.timedelta(hours=hours) <= now:
            await remind(session, b, rollout, now)
            b.reminded_at = now
        if b.reported_at is None and r.total and not r.pending and b.author_id:
            done = (
                f"“{lit(b.title)}” has finished sending."
                if r.delivered
                else f"“{lit(b.title)}” reached nobody ({state_label(b, r, now, rollout.timezone)})."
            )
            await enqueue(
                session,
                key=f"broadcast:{b.id}:r{b.revision}:report",
                message=Message(
                    done,
                    (Section(text=done, facts=receipt_facts(b, r)),),
                ),
                rollout_id=rollout.id,
                person_id=b.author_id,
                kind="broadcast_report",
                not_before=now,
            )
            b.reported_at = now


async def remind(session: AsyncSession, b: Broadcast, rollout: Rollout, now: dt.datetime) -> int:
    """Queue one reminder to every delivered person who has not acknowledged (keys make it once per person)."""
    group = f"broadcast:{b.id}:r{b.revision}"
    acked = select(BroadcastAck.person_id).where(BroadcastAck.broadcast_id == b.id)
    people = list(
        await session.scalars(
            select(OutboxMessage.person_id).where(
                OutboxMessage.group_key == group,
                OutboxMessage.status == "sent",
                OutboxMessage.person_id.is_not(None),
                OutboxMessage.person_id.not_in(acked),
            )
        )
    )
    msg = compose.broadcast_message(b, await compose.author_name(session, b), rollout, reminder=True)
    payload = dump_message(msg)
    rows = [
        {
            "key": f"broadcast:{b.id}:reminder:p{pid}",
            "rollout_id": b.rollout_id,
            "person_id": pid,
            "kind": REMINDER_KIND,
            "group_key": f"broadcast:{b.id}:reminder",
            "payload": payload,
            "mandatory": b.mandatory,
            "not_before": now,
        }
        for pid in people
    ]
    return await enqueue_many(session, rows)


def progress_button(b: Broadcast) -> Actions:
    return Actions((Button("Progress", f"broadcasts.progress:{b.id}"),))


async def progress(request: Request, ctx: Ctx) -> Reply:
    b = await compose.load(ctx, compose.broadcast_id(request))
    r = await receipt(ctx.session, b)
    label = state_label(b, r, ctx.now(), ctx.rollout.timezone)
    return Reply.say(f"“{lit(b.title)}”: {label}.", Section(facts=receipt_facts(b, r)), progress_button(b))


async def chase_approvals(session: AsyncSession, rollout: Rollout, now: dt.datetime) -> None:
    """A broadcast waiting for approval must not wait silently: if no approver could be reached, the author hears
    it at once; if nobody decided within `config.approval_wait_hours` (default 24) of the request arriving, the
    approvers get one reminder and the author a note. Outbox keys make each message once per revision."""
    hours = float((rollout.config or {}).get("approval_wait_hours", DEFAULT_APPROVAL_WAIT_HOURS))
    waiting = list(
        await session.scalars(
            select(Broadcast).where(Broadcast.rollout_id == rollout.id, Broadcast.status == "awaiting_approval")
        )
    )

    async def tell(person_id: int, key: str, message: Message) -> None:
        await enqueue(
            session,
            key=key,
            message=message,
            rollout_id=rollout.id,
            person_id=person_id,
            kind="approval",
            mandatory=True,
            not_before=now,
        )

    for b in waiting:
        prefix = f"broadcast:{b.id}:r{b.revision}:approve:"
        asks = list(
            await session.execute(
                select(OutboxMessage.person_id, OutboxMessage.status, OutboxMessage.sent_at, OutboxMessage.payload)
                .where(OutboxMessage.key.startswith(prefix, autoescape=True), OutboxMessage.kind == "approval")
                .order_by(OutboxMessage.id)
            )
        )
        if not asks or not b.author_id:
            continue

        title = lit(b.title)
        if all(status == "failed" for _, status, _, _ in asks):
            await tell(
                b.author_id,
                f"broadcast:{b.id}:r{b.revision}:approval_unreachable",
                Message(
                    f"I couldn't reach any change lead to approve “{title}”. It is still waiting; ask them "
                    "directly, or Edit it to send it to fewer people."
                ),
            )
            continue
        arrived = [sent for _, status, sent, _ in asks if status == "sent" and sent is not None]
        if not arrived or min(arrived) + dt.timedelta(hours=hours) > now:
            continue
        for person_id, status, _, payload in asks:
            if status == "sent" and person_id is not None:  # the same card again: its buttons act on this revision
                await tell(person_id, f"{prefix}{person_id}:again", load_message(payload))
        await tell(
            b.author_id,
            f"broadcast:{b.id}:r{b.revision}:approval_waiting",
            Message(
                f"Nobody has approved “{title}” yet after {hours:g} h; I've reminded the change leads once. "
                "You can Edit it to send it to fewer people."
            ),
        )
