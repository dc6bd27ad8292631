"""Friction figures for the weekly update and the monthly review (the digest contract in bot/digest.py).

Counts and medians only; report text appears as `lit()` excerpts, and no section ever names a reporter.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.digest import DigestSection, Period
from bot.model import Fact, lit
from bot.tables import Rollout
from handlers.friction.access import vote_counts
from handlers.friction.aging import aging_reports
from handlers.friction.tables import OPEN, FrictionEvent, FrictionReport
from handlers.friction.taxonomy import taxonomy
from handlers.friction.views import excerpt


def _in(value: Any, period: Period) -> bool:
    return value is not None and period.start <= value < period.end


def _median_hours(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


async def figures(session: AsyncSession, rollout: Rollout, period: Period) -> dict[str, Any]:
    reports = list(await session.scalars(select(FrictionReport).where(FrictionReport.rollout_id == rollout.id)))
    ids = [r.id for r in reports]
    events = (
        list(
            await session.scalars(
                select(FrictionEvent).where(
                    FrictionEvent.report_id.in_(ids),
                    FrictionEvent.kind == "status",
                    FrictionEvent.at >= period.start,
                    FrictionEvent.at < period.end,
                )
            )
        )
        if ids
        else []
    )
    moved = {(e.report_id, e.to_status) for e in events}
    first = [
        (r.first_response_at - r.created_at).total_seconds() / 3600 for r in reports if _in(r.first_response_at, period)
    ]
    resolution = [
        (r.closed_at - r.created_at).total_seconds() / 3600
        for r in reports
        if r.status == "resolved" and _in(r.closed_at, period)
    ]
    open_now = [r for r in reports if r.status in OPEN and r.created_at < period.end]
    votes = await vote_counts(session, [r.id for r in open_now])
    return {
        "opened": sum(1 for r in reports if _in(r.created_at, period)),
        "triaged": sum(1 for _, to in moved if to == "triaged"),
        "resolved": sum(1 for _, to in moved if to == "resolved"),
        "median_first_response_hours": _median_hours(first),
        "median_resolution_hours": _median_hours(resolution),
        "open": len(open_now),
        "open_by_category": dict(Counter(r.category for r in open_now)),
        "open_by_impact": dict(Counter(r.impact for r in open_now)),
        "top_voted": sorted(open_now, key=lambda r: (-votes.get(r.id, 0), r.id))[:3],
        "votes": votes,
        "resolved_items": sorted(
            (r for r in reports if r.status == "resolved" and _in(r.closed_at, period)), key=lambda r: r.id
        ),
        "aging": len(await aging_reports(session, rollout, period.end)),
    }


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} h" if value < 48 else f"{value / 24:.1f} days"


async def friction_progress(session: AsyncSession, rollout: Rollout, period: Period, rt: Any) -> DigestSection | None:
    """Opened / triaged / resolved, response times, what is open and what most people share."""
    tax = taxonomy(rt)
    f = await figures(session, rollout, period)
    if not (f["opened"] or f["open"] or f["resolved"]):
        return None
    lines = [
        f"{f['opened']} reported, {f['triaged']} triaged, {f['resolved']} resolved this {period.kind}; "
        f"{f['open']} open ({f['aging']} waiting too long)."
    ]
    if f["open_by_category"]:
        parts = [
            f"{tax.label('categories', k)} {n}" for k, n in sorted(f["open_by_category"].items(), key=lambda kv: -kv[1])
        ]
        lines.append("Open by category: " + ", ".join(parts) + ".")
    if f["open_by_impact"]:
        parts = [
            f"{tax.label('impacts', k)} {n}" for k, n in sorted(f["open_by_impact"].items(), key=lambda kv: -kv[1])
        ]
        lines.append("Open by impact: " + ", ".join(parts) + ".")
    for r in f["top_voted"]:
        lines.append(f"• #{r.id} ({f['votes'].get(r.id, 0)} +1): {lit(excerpt(r.text, 100))}")
    facts = [
        Fact("Median time to first response", _hours(f["median_first_response_hours"])),
        Fact("Median time to resolution", _hours(f["median_resolution_hours"])),
    ]
    metrics: dict[str, float | int | None] = {
        k: f[k]
        for k in (
            "opened",
            "triaged",
            "resolved",
            "open",
            "aging",
            "median_first_response_hours",
            "median_resolution_hours",
        )
    }
    for k, n in f["open_by_category"].items():
        metrics[f"open_category_{k}"] = n
    for k, n in f["open_by_impact"].items():
        metrics[f"open_impact_{k}"] = n
    return DigestSection(title="Friction", kind="top_friction", lines=lines, facts=facts, metrics=metrics)


async def friction_changes(session: AsyncSession, rollout: Rollout, period: Period, rt: Any) -> DigestSection | None:
    """What changed because people told us: resolved reports with their "what we changed"."""
    f = await figures(session, rollout, period)
    items = f["resolved_items"]
    if not items:
        return None
    lines = [
        f"• You said “{lit(excerpt(r.text, 100))}” (#{r.id}) — we changed: {lit(excerpt(r.resolution or '', 160))}"
        for r in items
    ]
    return DigestSection(
        title="What changed because you told us", kind="what_changed", lines=lines, metrics={"resolved": len(items)}
    )
