"""Aging with an injected clock: not triaged within the first-response target, or not updated for 7 days."""

from __future__ import annotations

import datetime as dt

from bot.clock import FrozenClock
from bot.context import JobCtx
from bot.model import Role
from bot.runtime import Runtime
from handlers.friction.aging import add_business_days, flag_aging
from tests.chat import Chat
from tests.friction.conftest import Cast, file_by_form

MON = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


async def run_job(rt: Runtime) -> None:
    async with rt.db.session() as session:
        rollout = await rt.default_rollout(session)
        await flag_aging(JobCtx(runtime=rt, session=session, rollout=rollout, fire_time=rt.clock.now()))
        await session.commit()


def test_business_days_skip_the_weekend() -> None:
    fri = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
    assert add_business_days(fri, 2, "UTC") == dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
    sat = dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.UTC)
    assert add_business_days(sat, 1, "UTC").date() == dt.date(2026, 12, 1)
    assert add_business_days(MON, 2, "Europe/Helsinki") == MON + dt.timedelta(days=2)


async def test_untriaged_report_is_flagged_to_change_leads_after_the_target(chat: Chat, cast: Cast) -> None:
    clock = chat.rt.clock
    assert isinstance(clock, FrozenClock)
    number = await file_by_form(cast.eve)
    clock.set(MON + dt.timedelta(days=1, hours=23))  # Wednesday 08:00: still within two business days
    await run_job(chat.rt)
    assert [r for r in await chat.outbox(kind="friction") if "needs attention" in str(r.payload)] == []
    clock.set(MON + dt.timedelta(days=2, hours=1))  # Wednesday 10:00
    await run_job(chat.rt)
    await run_job(chat.rt)  # the same day again adds nothing
    flagged = [r for r in await chat.outbox(kind="friction") if "needs attention" in str(r.payload)]
    assert [r.person_id for r in flagged] == [cast.ana.person_id]
    assert f"#{number}" in str(flagged[0].payload) and "first-response target" in str(flagged[0].payload)


async def test_stale_report_is_flagged_to_its_owner(chat: Chat, cast: Cast) -> None:
    clock = chat.rt.clock
    assert isinstance(clock, FrozenClock)
    number = await file_by_form(cast.eve)
    await cast.cleo.acts("friction.vote", str(number))
    ben = await chat.person("Ben", role=Role.change_lead)
    await ben.acts("friction.take", f"{number}:1")
    clock.set(MON + dt.timedelta(days=6, hours=23))
    await run_job(chat.rt)
    assert [r for r in await chat.outbox(kind="friction") if "needs attention" in str(r.payload)] == []
    clock.set(MON + dt.timedelta(days=7, hours=1))
    await run_job(chat.rt)
    flagged = [r for r in await chat.outbox(kind="friction") if "needs attention" in str(r.payload)]
    assert [r.person_id for r in flagged] == [ben.person_id]
    assert "not updated for 7 days" in str(flagged[0].payload)


async def test_targets_are_configurable_per_rollout(chat: Chat, cast: Cast) -> None:
    from tests.friction.conftest import set_channels

    await set_channels(chat.rt, {}, first_response_business_days=5)
    clock = chat.rt.clock
    assert isinstance(clock, FrozenClock)
    await file_by_form(cast.eve)
    assert "Mon 30 Nov" in cast.eve.last_reply.text
    clock.set(MON + dt.timedelta(days=4))
    await run_job(chat.rt)
    assert [r for r in await chat.outbox(kind="friction") if "needs attention" in str(r.payload)] == []


async def test_unconfirmed_drafts_are_dropped_after_a_week(chat: Chat, cast: Cast) -> None:
    from sqlalchemy import func, select

    from handlers.friction.tables import FrictionDraft

    await cast.eve.says("report the export button does nothing")
    clock = chat.rt.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(days=6)
    await run_job(chat.rt)
    async with chat.rt.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(FrictionDraft)) == 1
    clock.advance(days=2)
    await run_job(chat.rt)
    async with chat.rt.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(FrictionDraft)) == 0
    expired = await cast.eve.clicks("File it", on=cast.eve.replies[0])
    assert "draft has expired" in expired.text
