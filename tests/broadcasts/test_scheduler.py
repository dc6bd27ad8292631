"""The scheduler: each occurrence claimed once across workers, grace window, coalescing, DST, config overrides."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.clock import FrozenClock
from bot.context import JobCtx
from bot.db import Database
from bot.registry import Capability, Registry
from bot.runtime import Runtime
from bot.scheduler import fire_times, run_due
from bot.tables import JobRun, Rollout
from tests.conftest import make_settings

HEL = ZoneInfo("Europe/Helsinki")


class Jobs:
    """A registry with test jobs that record each run's fire time (in the rollout's local time)."""

    def __init__(self) -> None:
        self.reg = Registry()
        self.cap = Capability("testjobs", self.reg)
        self.runs: list[tuple[str, dt.datetime]] = []

    def add(self, job_id: str, cron: str, grace: int = 3600) -> None:
        async def fn(ctx: JobCtx) -> None:
            self.runs.append((job_id, ctx.fire_time.astimezone(HEL)))

        self.cap.job(job_id, cron=cron, grace_seconds=grace)(fn)


@pytest.fixture
def jobs() -> Jobs:
    return Jobs()


async def _runtime(db_url: str, clock: FrozenClock, jobs: Jobs) -> Runtime:
    rt = Runtime(make_settings(db_url), db=Database(db_url), clock=clock, reg=jobs.reg)
    async with rt.db.session() as s:
        await rt.default_rollout(s)  # Europe/Helsinki, from content/rollout.yml
        await s.commit()
    return rt


@pytest.fixture
async def rts(db_url: str, clock: FrozenClock, jobs: Jobs) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two workers (separate engines) on one database."""
    a = await _runtime(db_url, clock, jobs)
    b = Runtime(make_settings(db_url), db=Database(db_url), clock=clock, reg=jobs.reg)
    yield a, b
    await a.close()
    await b.close()


async def test_two_schedulers_on_one_database_run_each_occurrence_once(
    rts: tuple[Runtime, Runtime], jobs: Jobs, clock: FrozenClock
) -> None:
    a, b = rts
    jobs.add("every5", "*/5 * * * *")
    clock.set(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC))
    for _ in range(12):  # an hour of ticks, both workers firing at the same moment every time
        ra, rb = await asyncio.gather(run_due(a, worker="a"), run_due(b, worker="b"))
        assert len(ra["done"]) + len(rb["done"]) == 1
        assert len(ra["taken"]) + len(rb["taken"]) <= 1
        clock.advance(minutes=5)
    assert len(jobs.runs) == 12 and len({t for _, t in jobs.runs}) == 12
    async with a.db.session() as s:
        rows = list(await s.scalars(select(JobRun)))
    assert len(rows) == 12 and {r.status for r in rows} == {"done"} and {r.worker for r in rows} <= {"a", "b"}


async def test_missed_occurrences_within_grace_run_once_and_older_are_skipped_and_logged(
    rts: tuple[Runtime, Runtime], jobs: Jobs, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = rts
    jobs.add("every5", "*/5 * * * *", grace=3600)
    clock.set(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC))
    await run_due(a)
    assert len(jobs.runs) == 1
    clock.advance(minutes=30, seconds=20)  # down for half an hour: six occurrences missed
    result = await run_due(a)
    assert len(result["done"]) == 1 and len(result["skipped"]) == 5  # coalesced into one catch-up run
    assert jobs.runs[-1][1].astimezone(dt.UTC) == dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
    clock.advance(hours=3)  # down for three hours: beyond the grace window
    with caplog.at_level(logging.WARNING, logger="uptake.scheduler"):
        result = await run_due(a)
    assert "missed beyond the 3600s grace window" in caplog.text
    assert len(result["done"]) == 1  # only the latest, inside the window
    assert len(result["skipped"]) == 24 + 11  # 24 beyond the window, then 11 coalesced inside it
    assert await run_due(a) == {"done": [], "failed": [], "taken": [], "skipped": []}


async def test_a_daily_job_missed_beyond_grace_does_not_run(
    rts: tuple[Runtime, Runtime], jobs: Jobs, clock: FrozenClock
) -> None:
    a, _ = rts
    jobs.add("daily", "0 9 * * *", grace=3600)
    clock.set(dt.datetime(2026, 11, 23, 7, 0, 5, tzinfo=dt.UTC))  # 09:00:05 Helsinki
    await run_due(a)
    clock.set(dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC))  # 11:30 next day: 09:00 is 2.5 h ago
    result = await run_due(a)
    assert result["done"] == [] and len(result["skipped"]) == 1 and len(jobs.runs) == 1
    clock.set(dt.datetime(2026, 11, 25, 7, 40, tzinfo=dt.UTC))  # 09:40: inside the grace window
    assert len((await run_due(a))["done"]) == 1 and len(jobs.runs) == 2


async def test_a_failing_job_is_recorded_and_not_rerun(rts: tuple[Runtime, Runtime], clock: FrozenClock) -> None:
    a, _ = rts
    reg = a.registry
    calls: list[int] = []

    async def boom(ctx: JobCtx) -> None:
        calls.append(1)
        raise RuntimeError("boom")

    Capability("failing", reg).job("boom", cron="0 * * * *")(boom)
    clock.set(dt.datetime(2026, 11, 23, 9, 0, 1, tzinfo=dt.UTC))
    assert len((await run_due(a))["failed"]) == 1
    assert (await run_due(a))["failed"] == [] and calls == [1]
    async with a.db.session() as s:
        run = await s.scalar(select(JobRun))
        assert run is not None and run.status == "failed" and "boom" in (run.error or "")


@pytest.mark.parametrize(
    ("start", "day"),
    [
        (dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC), dt.date(2026, 3, 29)),  # spring forward: 03:00 → 04:00
        (dt.datetime(2026, 10, 24, 12, tzinfo=dt.UTC), dt.date(2026, 10, 25)),  # fall back: 04:00 → 03:00
    ],
)
async def test_daily_job_in_the_dst_hour_runs_exactly_once_each_day(
    rts: tuple[Runtime, Runtime], jobs: Jobs, clock: FrozenClock, start: dt.datetime, day: dt.date
) -> None:
    a, b = rts
    jobs.add("night", "30 3 * * *", grace=1800)
    clock.set(start)
    while clock.now() < start + dt.timedelta(days=2):
        await asyncio.gather(run_due(a), run_due(b))
        clock.advance(minutes=10)
    days = [t.date() for _, t in jobs.runs]
    assert days == [day, day + dt.timedelta(days=1)]


def test_fire_times_across_both_transitions_terminate_and_do_not_repeat() -> None:
    spring = fire_times(
        "30 * * * *", HEL, dt.datetime(2026, 3, 28, 22, tzinfo=dt.UTC), dt.datetime(2026, 3, 29, 3, tzinfo=dt.UTC)
    )
    assert [k[-5:] for _, k in spring] == ["00:30", "01:30", "02:30", "04:30", "05:30"]  # no 03:30 that night
    fall = fire_times(
        "30 * * * *", HEL, dt.datetime(2026, 10, 24, 22, tzinfo=dt.UTC), dt.datetime(2026, 10, 25, 3, tzinfo=dt.UTC)
    )
    keys = [k for _, k in fall]
    assert keys.count("2026-10-25T03:30") == 2  # two instants share the wall time; the claim key makes it one
    assert len({t for t, _ in fall}) == len(fall)


async def test_rollout_config_overrides_or_disables_a_job(
    rts: tuple[Runtime, Runtime], jobs: Jobs, clock: FrozenClock
) -> None:
    a, _ = rts
    jobs.add("weekly", "0 9 * * mon")
    async with a.db.session() as s:
        rollout = await s.scalar(select(Rollout))
        assert rollout is not None
        rollout.config = {**rollout.config, "schedules": {"weekly": "0 10 * * mon"}}
        await s.commit()
    clock.set(dt.datetime(2026, 11, 23, 7, 0, 30, tzinfo=dt.UTC))  # Monday 09:00 Helsinki
    assert (await run_due(a))["done"] == []
    clock.set(dt.datetime(2026, 11, 23, 8, 0, 30, tzinfo=dt.UTC))  # 10:00
    assert len((await run_due(a))["done"]) == 1
    async with a.db.session() as s:
        rollout = await s.scalar(select(Rollout))
        assert rollout is not None
        rollout.config = {**rollout.config, "schedules": {"weekly": "off"}}
        await s.commit()
    clock.set(dt.datetime(2026, 11, 30, 8, 0, 30, tzinfo=dt.UTC))
    assert (await run_due(a))["done"] == []
