"""Rate limits hold for the whole deployment: K live workers (heartbeats in one database) each take 1/K."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from bot.clock import FrozenClock
from bot.db import Database
from bot.delivery import HEARTBEAT_LIVE, OutboxSender
from bot.model import Message
from bot.outbox import enqueue
from bot.runtime import Runtime
from bot.tables import OutboxMessage, OutboxWorker
from tests.broadcasts.senders import RecordingSender
from tests.chat import Chat


async def _queue(rt: Runtime, chat: Chat, n: int) -> None:
    ids = [(await chat.person(f"r{i}", platform="slack")).person_id for i in range(n)]
    async with rt.db.session() as s:
        for pid in ids:
            await enqueue(
                s, key=f"k{pid}", message=Message(f"m{pid}"), rollout_id=None, person_id=pid, not_before=rt.clock.now()
            )
        await s.commit()


def _most_in_a_second(times: list[float]) -> int:
    return max((sum(1 for t in times if s <= t < s + 1.0) for s in times), default=0)


async def _pending(rt: Runtime) -> int:
    async with rt.db.session() as s:
        return int(await s.scalar(select(func.count()).where(OutboxMessage.status != "sent")) or 0)


async def test_two_workers_on_one_database_stay_within_the_configured_workspace_rate(
    runtime: Runtime, chat: Chat, slack: RecordingSender, clock: FrozenClock, db_url: str
) -> None:
    other_rt = Runtime(runtime.settings, db=Database(db_url), clock=clock)  # a second worker process's runtime
    other_rt.senders["slack"] = slack  # the same platform on the wire, so every send is counted once
    try:
        await _queue(runtime, chat, 48)
        a, b = OutboxSender(runtime, worker_id="worker-a"), OutboxSender(other_rt, worker_id="worker-b")
        assert await a.heartbeat() == 1  # alone so far
        assert await b.heartbeat() == 2 and await a.heartbeat() == 2
        a.batch = b.batch = 4  # small claims, as a worker sized to its rate would take; rows not passed to and fro
        start = clock.now()
        by_worker: dict[str, int] = {"a": 0, "b": 0}
        for _ in range(300):
            for name, sender in (("a", a), ("b", b)):
                before = len(slack.sent)
                await sender.run_once()
                by_worker[name] += len(slack.sent) - before
            if not await _pending(runtime):
                break
            clock.advance(seconds=1 / 16)
        times = [(s.at - start).total_seconds() for s in slack.sent]
        assert len(times) == 48
        # Slack's default is 8 chat.postMessage per second per workspace: together, not each.
        assert _most_in_a_second(times) <= 8
        assert times[-1] >= 48 / 8 - 1.5  # both workers were paced to half of it
        assert by_worker["a"] >= 16 and by_worker["b"] >= 16  # and both did send
    finally:
        await other_rt.db.close()


async def test_a_stopped_or_silent_worker_gives_its_share_back(
    runtime: Runtime, chat: Chat, slack: RecordingSender, clock: FrozenClock
) -> None:
    a, b, c = (OutboxSender(runtime, worker_id=w) for w in ("a", "b", "c"))
    for sender in (a, b, c):
        await sender.heartbeat()
    assert await a.heartbeat() == 3 and a.limiter.share == 3
    await b.leave()  # a clean stop
    assert await a.heartbeat() == 2
    clock.advance(seconds=HEARTBEAT_LIVE.total_seconds() / 2)
    await a.heartbeat()  # c crashed: no heartbeat since
    clock.advance(seconds=HEARTBEAT_LIVE.total_seconds() / 2 + 1)
    assert await a.heartbeat() == 1 and a.limiter.share == 1
    async with runtime.db.session() as s:  # the silent worker's row is forgotten after an hour
        await s.execute(update(OutboxWorker).values(seen_at=clock.now() - dt.timedelta(hours=2)))
        await s.commit()
    a._heartbeats = 600  # the next heartbeat is a cleaning one
    await a.heartbeat()
    async with runtime.db.session() as s:
        assert list(await s.scalars(select(OutboxWorker.worker_id))) == ["a"]


def test_the_share_stretches_every_window_and_the_claim_follows_the_rate() -> None:
    from bot.ratelimit import DEFAULT_LIMITS, RateLimiter, stretched

    # 8 per second among 3 workers: 3 + 3 + 2, so the shares add up to the limit in every window, not on average
    assert [stretched(((8, 1.0),), 3, rank) for rank in range(3)] == [((3, 1.0),), ((3, 1.0),), ((2, 1.0),)]
    assert stretched(((1, 1.0),), 3, 2) == ((1, 3.0),)  # fewer calls than workers: the window is stretched
    limiter = RateLimiter(DEFAULT_LIMITS)
    assert limiter.rate("slack") == 8.0 and limiter.rate("teams") == 50.0
    sent = [t / 100 for t in range(1000) if limiter.reserve("teams", "T", "send_to_person", f"c{t}", t / 100) == 0]
    assert 48 <= len(sent) / 10 <= 51
    limiter.set_share(2)
    assert limiter.rate("teams") == 25.0
    later = [
        t / 100 for t in range(1000, 2000) if limiter.reserve("teams", "T", "send_to_person", f"d{t}", t / 100) == 0
    ]
    assert 23 <= len(later) / 10 <= 26  # existing buckets were stretched too, not only new ones


def test_a_row_of_429s_within_a_second_is_one_throttle_episode() -> None:
    from bot.ratelimit import DEFAULT_LIMITS, RateLimiter

    limiter = RateLimiter(DEFAULT_LIMITS)
    for i in range(8):  # answers to sends booked ahead, each after the previous short pause ended
        limiter.throttled("teams", "T", "send_to_person", 0.02, 100.0 + i * 0.05)
    assert limiter.strikes["teams:T:send"] == 1 and limiter.paused["teams:T:send"] < 101.0  # no long pause
    for second in range(1, 5):  # sustained: four more episodes, a second or more apart
        until = limiter.throttled("teams", "T", "send_to_person", 0.02, 101.0 + second)
    assert limiter.strikes["teams:T:send"] == 5 and until >= 105.0 + 660.0
