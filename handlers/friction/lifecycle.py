"""The lifecycle: new → triaged → in progress → resolved | won't fix | duplicate of #N, and back when not fixed.

Every change goes through `transition()`: an optimistic version check (two triagers at once: one wins, the
other is told it changed), a stored event with who and when, and an outbox notification to the reporter and
every +1. Closing a report deletes the links to hidden (anonymous) followers after their last update is queued.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.orm.attributes import set_committed_value

from bot import permissions
from bot.context import Ctx
from bot.model import Button, Message, Role, Style, UserError, lit
from handlers.friction.access import hidden_followers, relation, subscribers
from handlers.friction.tables import (
    CLOSED,
    OPEN,
    STATUS_LABELS,
    FrictionEvent,
    FrictionFeedbackToken,
    FrictionHiddenFollower,
    FrictionReport,
    FrictionVote,
)
from handlers.friction.views import name_of, update_message

NEEDS_NOTE = {"resolved": "what we changed", "wont_fix": "the reason"}


async def changed_text(ctx: Ctx, report: FrictionReport) -> str:
    owner = await name_of(ctx.session, report.owner_id)
    who = f", owner {lit(owner)}" if owner else ""
    return (
        f"Report #{report.id} changed while you were looking at it: it is now *{STATUS_LABELS[report.status]}*"
        f"{who}. Nothing was changed by you; type `report #{report.id}` to see it and try again."
    )


async def bump(ctx: Ctx, report: FrictionReport, seen_version: int | None) -> None:
    """Claim the next version, or raise if someone else changed the report since `seen_version`.

    A conditional UPDATE is the guard: on PostgreSQL the loser waits for the winner's row lock, then matches
    nothing; on SQLite writers are serialised, so the loser reads the new version.
    """
    seen = report.version if seen_version is None else seen_version
    res = await ctx.session.execute(
        update(FrictionReport)
        .where(FrictionReport.id == report.id, FrictionReport.version == seen)
        .values(version=seen + 1, updated_at=ctx.now())
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        await ctx.session.refresh(report)
        raise UserError(await changed_text(ctx, report))
    set_committed_value(report, "version", seen + 1)
    set_committed_value(report, "updated_at", ctx.now())


def record(
    ctx: Ctx,
    report: FrictionReport,
    kind: str,
    *,
    before: str | None = None,
    after: str | None = None,
    note: str | None = None,
    actor_id: int | None = None,
) -> FrictionEvent:
    event = FrictionEvent(
        report_id=report.id, kind=kind, from_status=before, to_status=after, actor_id=actor_id, note=note, at=ctx.now()
    )
    ctx.session.add(event)
    return event


async def notify_followers(
    ctx: Ctx, report: FrictionReport, event: FrictionEvent, kind: str, note: str | None = None
) -> int:
    """Queue "You said … — we did …" for the reporter and every +1 (not the person who acted). Returns count."""
    await ctx.session.flush()
    owner = await name_of(ctx.session, report.owner_id)
    sent = 0
    hidden = await hidden_followers(ctx.session, report.id)
    for pid in await subscribers(ctx.session, report.id):
        if pid == ctx.person.id:
            continue
        buttons: tuple[Button, ...] = ()
        if kind == "resolved":
            token = secrets.token_hex(12)
            ctx.session.add(FrictionFeedbackToken(token=token, report_id=report.id, created_at=ctx.now()))
            buttons = (
                Button("Yes", "friction.fixed", f"{report.id}:{token}:yes", Style.primary),
                Button("Not yet", "friction.fixed", f"{report.id}:{token}:no"),
            )
        msg = update_message(report, kind, owner=owner, note=note, buttons=buttons)
        key = f"friction:{report.id}:ev{event.id}:p{pid}"
        if await ctx.notify(key, msg, person_id=pid, kind="friction", private=pid in hidden):
            sent += 1
    return sent


async def close_hidden_links(ctx: Ctx, report: FrictionReport) -> None:
    """Anonymity: once closed, nothing links the report to the people behind it any more."""
    await ctx.session.execute(delete(FrictionHiddenFollower).where(FrictionHiddenFollower.report_id == report.id))


async def transition(
    ctx: Ctx,
    report: FrictionReport,
    seen_version: int | None,
    to: str,
    *,
    note: str | None = None,
    owner_id: int | None = None,
    duplicate_of: FrictionReport | None = None,
) -> FrictionReport:
    """Move a report to status `to` as a triager (change lead or admin)."""
    permissions.ensure(
        "friction.triage", ctx, report, what="change the status of a friction report", needed=Role.change_lead
    )
    if to not in STATUS_LABELS or to == "new":
        raise UserError(f"I can't set a report to {lit(to)}.")
    if to in NEEDS_NOTE and not (note or "").strip():
        raise UserError(f"To mark #{report.id} {STATUS_LABELS[to]}, tell me {NEEDS_NOTE[to]}.")
    if to == "duplicate" and duplicate_of is None:
        raise UserError("Tell me which report it duplicates.")
    if to == report.status and to != "triaged":
        raise UserError(f"#{report.id} is already {STATUS_LABELS[to]}.")
    await bump(ctx, report, seen_version)
    before = report.status
    now = ctx.now()
    report.status = to
    if owner_id is not None:
        report.owner_id = owner_id
    elif to in OPEN and report.owner_id is None:
        report.owner_id = ctx.person.id
    if to == "triaged":
        report.category_confirmed = True
    if report.first_response_at is None:
        report.first_response_at = now
    if to in CLOSED:
        report.closed_at = now
        if to in NEEDS_NOTE:
            report.resolution = (note or "").strip()
    else:
        report.closed_at = None
    if duplicate_of is not None:
        report.duplicate_of_id = duplicate_of.id
    event = record(ctx, report, "status", before=before, after=to, note=note, actor_id=ctx.person.id)
    ctx.audit("friction.status", "friction_report", report.id, f"{before} -> {to}")
    await notify_followers(ctx, report, event, to, note if to in NEEDS_NOTE else None)
    if duplicate_of is not None:
        await move_followers(ctx, report, duplicate_of)
    if to in CLOSED:
        await close_hidden_links(ctx, report)
    return report


async def move_followers(ctx: Ctx, dup: FrictionReport, target: FrictionReport) -> None:
    """Subscribers of a duplicate follow the report it duplicates: named people as +1s, hidden ones stay hidden."""
    await ctx.session.flush()
    hidden = list(
        await ctx.session.scalars(select(FrictionHiddenFollower).where(FrictionHiddenFollower.report_id == dup.id))
    )
    named = [dup.reporter_id] if dup.reporter_id else []
    named += list(await ctx.session.scalars(select(FrictionVote.person_id).where(FrictionVote.report_id == dup.id)))
    for pid in dict.fromkeys(named):
        seen = await relation(ctx.session, target, pid)
        if not (seen.mine or seen.voted):
            ctx.session.add(FrictionVote(report_id=target.id, person_id=pid, at=ctx.now()))
    for h in hidden:
        seen = await relation(ctx.session, target, h.person_id)
        if not (seen.mine or seen.voted):
            ctx.session.add(FrictionHiddenFollower(report_id=target.id, person_id=h.person_id, reporter=False))
    await ctx.session.flush()


async def resolve_duplicate_target(ctx: Ctx, report: FrictionReport, raw: str) -> FrictionReport:
    from handlers.friction.access import get_report

    text = raw.strip().lstrip("#")
    if not text.isdigit():
        raise UserError("Give the number of the report it duplicates, e.g. 12.")
    target = await get_report(ctx.session, ctx.rollout.id, int(text))
    for _ in range(20):  # follow a chain of duplicates to the report that is still tracked
        if target.duplicate_of_id is None:
            break
        target = await get_report(ctx.session, ctx.rollout.id, target.duplicate_of_id)
    if target.id == report.id:
        raise UserError("A report can't be a duplicate of itself.")
    return target


async def answer_fixed(ctx: Ctx, report: FrictionReport, token: str, fixed: bool) -> str:
    """ "Is it fixed for you?" — Yes is recorded; Not yet reopens a resolved report and tells its owner."""
    res = await ctx.session.execute(
        update(FrictionFeedbackToken)
        .where(
            FrictionFeedbackToken.token == token,
            FrictionFeedbackToken.report_id == report.id,
            FrictionFeedbackToken.used_at.is_(None),
        )
        .values(used_at=ctx.now())
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return "Thanks, I already have your answer for this one."
    if fixed:
        record(ctx, report, "fixed", note="confirmed fixed")
        return f"Great — thanks for telling us that #{report.id} is fixed for you."
    seen = await relation(ctx.session, report, ctx.person.id)
    if not (seen.mine or seen.voted):
        # An anonymous reporter whose link was deleted at close: follow again, still hidden.
        ctx.session.add(FrictionHiddenFollower(report_id=report.id, person_id=ctx.person.id, reporter=False))
    if report.status != "resolved":
        return f"#{report.id} is already open again; you'll hear from us when it changes."
    await bump(ctx, report, report.version)
    report.status, report.closed_at = "in_progress", None
    event = record(ctx, report, "reopened", before="resolved", after="in_progress", note="not fixed yet")
    await notify_followers(ctx, report, event, "reopened")
    if report.owner_id is not None:
        msg = Message(text=f"#{report.id} was reopened: someone it affects says it isn't fixed yet.")
        await ctx.notify(f"friction:{report.id}:ev{event.id}:owner", msg, person_id=report.owner_id, kind="friction")
    return f"Thanks — I've reopened #{report.id} and told the change team it isn't fixed for you yet."


async def assign(ctx: Ctx, report: FrictionReport, seen_version: int | None, owner_id: int) -> FrictionReport:
    """Give the report an owner; a new report becomes triaged."""
    if report.status == "new":
        report = await transition(ctx, report, seen_version, "triaged", owner_id=owner_id)
    else:
        permissions.ensure("friction.triage", ctx, report, what="assign a friction report", needed=Role.change_lead)
        if not report.is_open:
            raise UserError(f"#{report.id} is closed; reopen it with Set status… first.")
        await bump(ctx, report, seen_version)
        report.owner_id = owner_id
        event = record(ctx, report, "assigned", note=None, actor_id=ctx.person.id)
        ctx.audit("friction.assign", "friction_report", report.id, f"owner {owner_id}")
        await ctx.session.flush()
        if owner_id != ctx.person.id:
            msg = Message(text=f"Friction report #{report.id} is now yours. Type `report #{report.id}` to see it.")
            await ctx.notify(f"friction:{report.id}:ev{event.id}:owner", msg, person_id=owner_id, kind="friction")
        return report
    if owner_id != ctx.person.id:
        msg = Message(text=f"Friction report #{report.id} is now yours. Type `report #{report.id}` to see it.")
        await ctx.notify(f"friction:{report.id}:v{report.version}:owner", msg, person_id=owner_id, kind="friction")
    return report
