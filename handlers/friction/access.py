"""Who may see and change friction reports — the one place these rules live — and the queries they need.

Employees see their own reports and the ones they +1'd; champions see their team's; change leads (and admins)
see all and are the only ones who change status. Champions may also relay a reply for their team's reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import permissions
from bot.model import Role, UserError
from handlers.friction.tables import FrictionHiddenFollower, FrictionReport, FrictionVote


@dataclass(frozen=True)
class Seen:
    """A report together with how the asking person relates to it."""

    report: FrictionReport
    mine: bool = False
    voted: bool = False


def _same_team(ctx: Any, report: FrictionReport) -> bool:
    return bool(report.team) and report.team == ctx.person.team


@permissions.rule("friction.view")
def may_view(ctx: Any, seen: Seen) -> bool:
    if ctx.role >= Role.change_lead or seen.mine or seen.voted:
        return True
    return bool(ctx.role >= Role.champion and _same_team(ctx, seen.report))


@permissions.rule("friction.triage")
def may_triage(ctx: Any, report: FrictionReport) -> bool:
    return bool(ctx.role >= Role.change_lead)


@permissions.rule("friction.reply")
def may_reply(ctx: Any, report: FrictionReport) -> bool:
    return bool(ctx.role >= Role.change_lead or (ctx.role >= Role.champion and _same_team(ctx, report)))


async def relation(session: AsyncSession, report: FrictionReport, person_id: int) -> Seen:
    mine = report.reporter_id == person_id or (
        await session.scalar(
            select(FrictionHiddenFollower.id).where(
                FrictionHiddenFollower.report_id == report.id, FrictionHiddenFollower.person_id == person_id
            )
        )
        is not None
    )
    voted = (
        await session.scalar(
            select(FrictionVote.id).where(FrictionVote.report_id == report.id, FrictionVote.person_id == person_id)
        )
        is not None
    )
    return Seen(report, mine=mine, voted=voted)


async def get_report(session: AsyncSession, rollout_id: int, number: int) -> FrictionReport:
    report = await session.get(FrictionReport, number)
    if report is None or report.rollout_id != rollout_id:
        raise UserError(f"There is no friction report #{number} in this rollout.")
    return report


async def visible(ctx: Any, number: int) -> Seen:
    """Load report #number and check the person may see it (Denied is audited by the router)."""
    seen = await relation(ctx.session, await get_report(ctx.session, ctx.rollout.id, number), ctx.person.id)
    permissions.ensure("friction.view", ctx, seen, what=f"see friction report #{number}", needed=Role.change_lead)
    return seen


async def subscribers(session: AsyncSession, report_id: int) -> list[int]:
    """Everyone who gets updates: the named reporter, every +1 and every hidden follower, each once."""
    report = await session.get_one(FrictionReport, report_id)
    ids = [report.reporter_id] if report.reporter_id else []
    ids += list(await session.scalars(select(FrictionVote.person_id).where(FrictionVote.report_id == report_id)))
    ids += list(
        await session.scalars(
            select(FrictionHiddenFollower.person_id).where(FrictionHiddenFollower.report_id == report_id)
        )
    )
    return list(dict.fromkeys(ids))


async def hidden_followers(session: AsyncSession, report_id: int) -> set[int]:
    """People who follow a report without being shown (its anonymous reporter): their messages are private."""
    stmt = select(FrictionHiddenFollower.person_id).where(FrictionHiddenFollower.report_id == report_id)
    return set(await session.scalars(stmt))


async def vote_counts(session: AsyncSession, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = await session.execute(
        select(FrictionVote.report_id, func.count())
        .where(FrictionVote.report_id.in_(ids))
        .group_by(FrictionVote.report_id)
    )
    return {rid: n for rid, n in rows.all()}


async def mine(session: AsyncSession, rollout_id: int, person_id: int, limit: int = 20) -> list[FrictionReport]:
    """The person's own reports (named or anonymous while open) and the ones they +1'd, newest first."""
    hidden = select(FrictionHiddenFollower.report_id).where(FrictionHiddenFollower.person_id == person_id)
    voted = select(FrictionVote.report_id).where(FrictionVote.person_id == person_id)
    stmt = (
        select(FrictionReport)
        .where(
            FrictionReport.rollout_id == rollout_id,
            or_(
                FrictionReport.reporter_id == person_id,
                FrictionReport.id.in_(hidden),
                FrictionReport.id.in_(voted),
            ),
        )
        .order_by(FrictionReport.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(stmt))
