"""Aging: reports not triaged within the first-response target, or not updated for a while, are flagged.

Targets come from the rollout's config (`first_response_business_days`, default 2; `stale_after_days`,
default 7). The job is a plain function of a JobCtx, so tests call it directly with a frozen clock.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from bot.context import JobCtx
from bot.model import Message, Role
from bot.outbox import enqueue
from bot.people import people_with_role
from bot.tables import Rollout
from handlers.friction.tables import OPEN, STATUS_LABELS, FrictionDraft, FrictionReport

log = logging.getLogger("uptake.friction")
DRAFT_TTL = dt.timedelta(days=7)


def targets(rollout: Rollout) -> tuple[int, int]:
    cfg: dict[str, Any] = rollout.config or {}
    return int(cfg.get("first_response_business_days", 2)), int(cfg.get("stale_after_days", 7))


def add_business_days(start: dt.datetime, days: int, tz: str) -> dt.datetime:
    """`start` plus `days` working days (Mon–Fri) in the rollout's timezone; a weekend start counts from Monday."""
    zone = ZoneInfo(tz or "UTC")
    local = start.astimezone(zone)
    while local.weekday() >= 5:
        local = (local + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    added = 0
    while added < days:
        local += dt.timedelta(days=1)
        if local.weekday() < 5:
            added += 1
    return local.astimezone(dt.UTC)


def first_answer_due(report: FrictionReport, rollout: Rollout) -> dt.datetime:
    return add_business_days(report.created_at, targets(rollout)[0], rollout.timezone)


def aging_reason(report: FrictionReport, rollout: Rollout, now: dt.datetime) -> str | None:
    """Why an open report needs attention now, or None."""
    if report.status not in OPEN:
        return None
    _, stale_days = targets(rollout)
    if report.status == "new" and now >= first_answer_due(report, rollout):
        return "not triaged within the first-response target"
    if now - report.updated_at >= dt.timedelta(days=stale_days):
        return f"not updated for {stale_days} days"
    return None


async def aging_reports(session: Any, rollout: Rollout, now: dt.datetime) -> list[tuple[FrictionReport, str]]:
    rows = await session.scalars(
        select(FrictionReport)
        .where(FrictionReport.rollout_id == rollout.id, FrictionReport.status.in_(OPEN))
        .order_by(FrictionReport.id)
    )
    return [(r, why) for r in rows if (why := aging_reason(r, rollout, now))]


async def flag_aging(ctx: JobCtx) -> None:
    """Tell each aging report's owner (change leads when nobody owns it yet), once per report version."""
    now = ctx.now()
    leads = [p.id for p in await people_with_role(ctx.session, ctx.rollout, Role.change_lead)]
    flagged = 0
    for report, why in await aging_reports(ctx.session, ctx.rollout, now):
        recipients = [report.owner_id] if report.owner_id else leads
        msg = Message(
            text=(
                f"Friction report #{report.id} needs attention: {why}. It is {STATUS_LABELS[report.status]}, "
                f"filed {(now - report.created_at).days} days ago. Type `report #{report.id}` to act on it."
            )
        )
        for pid in recipients:
            key = f"friction:{report.id}:aging:v{report.version}:p{pid}"
            if await enqueue(
                ctx.session,
                key=key,
                message=msg,
                rollout_id=ctx.rollout.id,
                person_id=pid,
                kind="friction",
                not_before=now,
            ):
                flagged += 1
        log.info("friction aging report=%s reason=%s", report.id, why)
    # Drafts nobody confirmed (one-step reports, duplicate suggestions) hold person text: keep them a week at most.
    await ctx.session.execute(
        delete(FrictionDraft).where(
            FrictionDraft.rollout_id == ctx.rollout.id, FrictionDraft.created_at < now - DRAFT_TTL
        )
    )
    log.info("friction aging flagged=%s", flagged)
