"""Scheduled jobs: APScheduler 3 says when, the database says who.

APScheduler 3 cannot share a job store between processes (its FAQ), so every worker builds the same in-memory
schedule from the registry (`registry.jobs`) and the rollouts' config, and each occurrence is claimed by inserting
a unique (job, rollout, local fire time) row before it runs: with K workers it runs exactly once. After downtime
the latest missed occurrence within the job's grace window runs once (coalesced); older ones are recorded as
skipped and logged. Cron is evaluated in the rollout's timezone with zoneinfo; keying on local wall time means the
repeated hour of a DST fall-back cannot run a job twice, and a time inside the spring-forward gap runs once, an
hour later in wall time (APScheduler's rule).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.context import JobCtx
from bot.registry import JobSpec
from bot.runtime import Runtime
from bot.tables import JobRun, Rollout
from bot.worker import part

log = logging.getLogger("uptake.scheduler")

MAX_LOOKBACK = 200  # occurrences recorded as skipped per job after a long downtime (the rest only logged)


@dataclass(frozen=True)
class Occurrence:
    job_id: str
    rollout_id: int
    fire_time: dt.datetime  # UTC
    fire_key: str  # local wall-clock time, e.g. "2026-10-25T03:30"


def rollout_zone(rollout: Rollout) -> ZoneInfo:
    try:
        return ZoneInfo(rollout.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("rollout %s has an unknown timezone %r; using UTC", rollout.slug, rollout.timezone)
        return ZoneInfo("UTC")


def job_cron(spec: JobSpec, rollout: Rollout) -> str | None:
    """The job's cron for this rollout: `config.schedules[job_id]` overrides the code; "off" disables it."""
    override = ((rollout.config or {}).get("schedules") or {}).get(spec.job_id)
    cron = spec.cron if override is None else str(override)
    return None if cron.strip().lower() in ("", "off", "none") else cron


def fire_times(cron: str, tz: ZoneInfo, after: dt.datetime, until: dt.datetime) -> list[tuple[dt.datetime, str]]:
    """Fire times in (after, until] as (UTC time, local wall-clock key), iterating in UTC so DST cannot loop."""
    trigger = CronTrigger.from_crontab(cron, timezone=tz)
    out: list[tuple[dt.datetime, str]] = []
    # Start a few hours early: a time inside a spring-forward gap is only found from a cursor before the gap.
    cursor = after - dt.timedelta(hours=3) + dt.timedelta(seconds=1)
    while len(out) < 100_000:
        nxt = trigger.get_next_fire_time(None, cursor.astimezone(tz))
        if nxt is None:
            break
        utc = nxt.astimezone(dt.UTC)
        if utc > until:
            break
        if utc > after:
            out.append((utc, nxt.replace(tzinfo=None).isoformat(timespec="minutes")))
        cursor = utc.replace(microsecond=0) + dt.timedelta(seconds=1)
    return out


def worker_name() -> str:
    return f"{os.getpid()}-{secrets.token_hex(2)}"


async def _record(rt: Runtime, occ: Occurrence, status: str, worker: str, error: str | None = None) -> bool:
    """Insert the occurrence's row; False when another worker (or an earlier run) already has it."""
    async with rt.db.session() as session:
        session.add(
            JobRun(
                job_id=occ.job_id,
                rollout_id=occ.rollout_id,
                fire_key=occ.fire_key,
                fire_time=occ.fire_time,
                status=status,
                worker=worker,
                started_at=rt.clock.now(),
                finished_at=rt.clock.now() if status == "skipped" else None,
                error=error,
            )
        )
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            return False
    return True


async def run_occurrence(rt: Runtime, spec: JobSpec, occ: Occurrence, worker: str) -> str:
    """Claim and run one occurrence. Returns "done", "failed" or "taken" (someone else claimed it)."""
    if not await _record(rt, occ, "running", worker):
        return "taken"
    status, error = "done", None
    async with rt.db.session() as session:
        rollout = await session.get_one(Rollout, occ.rollout_id)
        try:
            await spec.fn(JobCtx(runtime=rt, session=session, rollout=rollout, fire_time=occ.fire_time))
            await session.commit()
        except Exception as e:
            await session.rollback()
            status, error = "failed", f"{type(e).__name__}: {e}"[:500]
            log.exception("job %s for rollout %s at %s failed", spec.job_id, occ.rollout_id, occ.fire_key)
    async with rt.db.session() as session:
        run = await session.scalar(
            select(JobRun).where(
                JobRun.job_id == occ.job_id, JobRun.rollout_id == occ.rollout_id, JobRun.fire_key == occ.fire_key
            )
        )
        if run is not None:
            run.status, run.error, run.finished_at = status, error, rt.clock.now()
        await session.commit()
    return status


async def run_due(
    rt: Runtime,
    now: dt.datetime | None = None,
    *,
    worker: str | None = None,
    only: set[tuple[str, int]] | None = None,
) -> dict[str, list[str]]:
    """Run every occurrence due at `now` (the injected clock by default) that nobody has claimed yet.

    Returns {"done"|"failed"|"taken"|"skipped": ["job@rollout local-time", …]} for logs and tests.
    """
    now = now or rt.clock.now()
    worker = worker or worker_name()
    result: dict[str, list[str]] = {"done": [], "failed": [], "taken": [], "skipped": []}
    async with rt.db.session() as session:
        rollouts = list(await session.scalars(select(Rollout).order_by(Rollout.id)))
    for rollout in rollouts:
        tz = rollout_zone(rollout)
        for spec in rt.registry.jobs.values():
            if only is not None and (spec.job_id, rollout.id) not in only:
                continue
            cron = job_cron(spec, rollout)
            if cron is None:
                continue
            grace = dt.timedelta(seconds=spec.grace_seconds)
            async with rt.db.session() as session:
                last = (
                    await session.execute(
                        select(JobRun.fire_time, JobRun.fire_key)
                        .where(JobRun.job_id == spec.job_id, JobRun.rollout_id == rollout.id)
                        .order_by(JobRun.fire_time.desc())
                        .limit(1)
                    )
                ).first()
            start = now - grace if last is None else last[0]
            # Only what came after the last recorded occurrence (and not its DST twin with the same wall time).
            due = [(at, key) for at, key in fire_times(cron, tz, start, now) if last is None or key != last[1]]
            old = [(at, key) for at, key in due if at <= now - grace][-MAX_LOOKBACK:]
            recent = [(at, key) for at, key in due if at > now - grace]
            skipped_old = 0
            for at, key in old:
                if await _record(rt, Occurrence(spec.job_id, rollout.id, at, key), "skipped", worker, "missed"):
                    skipped_old += 1
                    result["skipped"].append(f"{spec.job_id}@{rollout.slug} {key}")
            if skipped_old:
                log.warning(
                    "job %s for rollout %s: %d occurrence(s) missed beyond the %ss grace window, skipped (%s … %s)",
                    spec.job_id, rollout.slug, skipped_old, spec.grace_seconds, old[0][1], old[-1][1],
                )  # fmt: skip
            for i, (at, key) in enumerate(recent):
                occ = Occurrence(spec.job_id, rollout.id, at, key)
                label = f"{spec.job_id}@{rollout.slug} {key}"
                if i < len(recent) - 1:
                    if last is not None and await _record(rt, occ, "skipped", worker, "coalesced into a later run"):
                        result["skipped"].append(label)
                    continue
                result[await run_occurrence(rt, spec, occ, worker)].append(label)
    return result


# ---------------------------------------------------------------- APScheduler in the worker


def _job_key(spec: JobSpec, rollout: Rollout) -> str:
    return f"{spec.job_id}@{rollout.id}"


async def sync_jobs(sched: AsyncIOScheduler, rt: Runtime, worker: str) -> None:
    """Bring APScheduler's in-memory jobs in line with the registry and the rollouts (timezones, overrides)."""
    async with rt.db.session() as session:
        rollouts = list(await session.scalars(select(Rollout)))
    wanted: set[str] = set()
    for rollout in rollouts:
        for spec in rt.registry.jobs.values():
            cron = job_cron(spec, rollout)
            if cron is None:
                continue
            key = _job_key(spec, rollout)
            wanted.add(key)
            sched.add_job(
                run_due,
                CronTrigger.from_crontab(cron, timezone=rollout_zone(rollout)),
                kwargs={"rt": rt, "worker": worker, "only": {(spec.job_id, rollout.id)}},
                id=key,
                replace_existing=True,
                misfire_grace_time=spec.grace_seconds,
                coalesce=True,
                max_instances=1,
            )
    for job in sched.get_jobs():
        if job.id != "scheduler.sync" and job.id not in wanted:
            job.remove()


@part("scheduler")
async def run_scheduler(rt: Runtime, stop: asyncio.Event) -> None:
    worker = worker_name()
    await run_due(rt, worker=worker)  # catch up on what was missed while no worker ran
    sched = AsyncIOScheduler(timezone=dt.UTC)
    await sync_jobs(sched, rt, worker)
    sched.add_job(sync_jobs, IntervalTrigger(minutes=5), args=[sched, rt, worker], id="scheduler.sync")
    sched.start()
    log.info("scheduler started with %d job(s)", len(sched.get_jobs()) - 1)
    try:
        await stop.wait()
    finally:
        sched.shutdown(wait=False)
