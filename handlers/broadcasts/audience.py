"""Who a broadcast reaches, and when each person gets it (quiet hours for direct messages)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import configured_workspace
from bot.model import Option, lit
from bot.runtime import Runtime
from bot.tables import Membership, Person, PlatformIdentity, Rollout

KINDS = (
    Option("Everyone in the rollout", "everyone"),
    Option("Some teams", "teams"),
    Option("Champions", "champions"),
    Option("Specific channels", "channels"),
)
DEFAULT_QUIET = "20:00-08:00"


@dataclass
class Recipients:
    people: list[Person]
    channels: list[tuple[str, str, str]]  # (platform, workspace, channel id)

    def __len__(self) -> int:
        return len(self.people) + len(self.channels)


async def rollout_people(session: AsyncSession, rt: Runtime, rollout: Rollout) -> list[Person]:
    """People in the rollout: its members; in the default rollout also everyone who has talked to Uptake."""
    members = select(Membership.person_id).where(Membership.rollout_id == rollout.id)
    stmt = select(Person).where(Person.id.in_(members))
    if rollout.slug == rt.settings.rollout:
        known = select(PlatformIdentity.person_id)
        stmt = select(Person).where(Person.id.in_(members) | Person.id.in_(known))
    return list(await session.scalars(stmt.order_by(Person.id)))


async def team_options(session: AsyncSession, rt: Runtime, rollout: Rollout) -> tuple[Option, ...]:
    teams = sorted({p.team for p in await rollout_people(session, rt, rollout) if p.team})
    return tuple(Option(lit(t), t) for t in teams)


def workspace_of(rollout: Rollout, platform: str) -> str:
    """Channel ids in rollout.yml carry no workspace; `config.workspaces` names it ("" = the only installation)."""
    return configured_workspace(rollout, platform) or ""


def channel_options(rollout: Rollout) -> tuple[Option, ...]:
    seen: dict[str, Option] = {}
    for platform, purposes in (rollout.channels or {}).items():
        for purpose, ids in (purposes or {}).items():
            for cid in ids or []:
                value = f"{platform}:{cid}"
                seen.setdefault(value, Option(f"{platform.title()} {purpose} channel {cid}", value))
    return tuple(seen.values())


async def resolve(session: AsyncSession, rt: Runtime, rollout: Rollout, audience: dict[str, Any]) -> Recipients:
    kind = audience.get("kind", "everyone")
    if kind == "channels":
        chans = []
        for value in audience.get("channels") or []:
            platform, _, cid = str(value).partition(":")
            chans.append((platform, workspace_of(rollout, platform), cid))
        return Recipients([], chans)
    people = await rollout_people(session, rt, rollout)
    if kind == "teams":
        wanted = set(audience.get("teams") or [])
        people = [p for p in people if p.team in wanted]
    elif kind == "champions":
        champions = set(
            await session.scalars(
                select(Membership.person_id).where(Membership.rollout_id == rollout.id, Membership.role == "champion")
            )
        )
        people = [p for p in people if p.id in champions]
    return Recipients(people, [])


def describe(audience: dict[str, Any]) -> str:
    kind = audience.get("kind", "everyone")
    if kind == "teams":
        return "teams " + ", ".join(lit(t) for t in audience.get("teams") or [])
    if kind == "channels":
        return "channels " + ", ".join(lit(c) for c in audience.get("channels") or [])
    return {"everyone": "everyone in the rollout", "champions": "the champions"}.get(kind, kind)


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _parse_quiet(spec: str) -> tuple[dt.time, dt.time] | None:
    try:
        start, end = (dt.time.fromisoformat(p.strip()) for p in spec.split("-", 1))
    except ValueError:
        return None
    return start, end


def deliver_at(person: Person, at: dt.datetime, rollout: Rollout) -> dt.datetime:
    """`at`, moved to the end of the person's quiet hours (their timezone) when it falls inside them."""
    spec = str((rollout.config or {}).get("quiet_hours", DEFAULT_QUIET) or "")
    window = _parse_quiet(spec) if spec else None
    if window is None:
        return at
    start, end = window
    tz = _zone(person.timezone, rollout.timezone)
    local = at.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return at
    day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=tz).astimezone(dt.UTC)
