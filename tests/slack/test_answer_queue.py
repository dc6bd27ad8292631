"""The work after the ack: every answer runs once, in order; while acks wait, answers keep to their share of the
event loop but never stop; otherwise all workers run (bot/adapters/slack_queue.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from bot.adapters.slack_queue import BURST, AnswerQueue
from tests.support.slack_fixtures import SlackDriver


class Probe:
    """Answers that record when they start and how many run at once."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.now = 0
        self.peak = 0
        self.peaks: list[int] = []  # concurrency seen by each answer as it starts

    async def answer(self, n: int, seconds: float = 0.02) -> None:
        self.started.append(n)
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.peaks.append(self.now)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now -= 1


async def test_quiet_queue_runs_every_answer_once_in_order_on_all_workers() -> None:
    q, p = AnswerQueue(workers=4), Probe()
    for n in range(20):
        q.put(p.answer, n)
    await asyncio.wait_for(q.idle(), 5)
    assert p.started == list(range(20))
    assert p.peak == 4


def burn(seconds: float) -> None:
    """One answer step that keeps the event loop busy (what the router and rendering do)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_while_acks_wait_answers_keep_to_their_share_and_all_still_run() -> None:
    """Requests "keep coming" for the whole test and the loop counts as behind from the start and at every look
    (lag < 0), so the pressure never ends: answers must still all run, in order, and their measured time stays
    within the share of the elapsed time (plus the bankable burst and one answer per worker started on an
    estimate)."""
    share, step, workers = 0.25, 0.004, 3
    q, p = AnswerQueue(workers=workers, share=share, busy_window=1e9, lag=-1.0), Probe()
    q.behind_until = float("inf")
    loop = asyncio.get_running_loop()

    async def answer(n: int) -> None:
        burn(step)
        await p.answer(n, 0.0)
        burn(step)

    start = loop.time()
    for n in range(40):
        q.put(answer, n)
    await asyncio.wait_for(q.idle(), 30)
    elapsed = loop.time() - start
    assert p.started == list(range(40))
    assert q.held == q.spent >= 40 * 2 * step  # every step was charged, all under pressure
    assert q.held <= share * elapsed + BURST + workers * 2 * step * 1.5
    assert p.peak < workers or q.spent < elapsed  # answers did not simply take the whole loop


async def test_answers_use_every_worker_when_the_loop_keeps_up() -> None:
    """Requests keep coming, but the loop is never found behind (lag is huge): no ack waits for an answer, so
    nothing is held back, whatever the answers cost (an idle CPU is not left idle)."""
    q, p = AnswerQueue(workers=5, share=0.01, busy_window=1e9, lag=1e9), Probe()

    async def answer(n: int) -> None:
        burn(0.002)
        await p.answer(n, 0.01)

    for n in range(30):
        q.put(answer, n)
    await asyncio.wait_for(q.idle(), 5)
    assert p.started == list(range(30))
    assert p.peak == 5
    assert q.held == 0 and q.spent > 0


async def test_answers_use_every_worker_once_requests_stop() -> None:
    """The loop counts as behind (by the answers themselves), but no request came within the busy window."""
    q, p = AnswerQueue(workers=5, share=0.01, busy_window=0.0, lag=-1.0), Probe()
    q.behind_until = float("inf")
    for n in range(30):
        q.put(p.answer, n, 0.01)
    await asyncio.wait_for(q.idle(), 5)
    assert p.started == list(range(30))
    assert p.peak == 5


async def test_a_late_look_at_the_loop_during_requests_puts_answers_on_their_share() -> None:
    """Requests keep arriving and acks hold the loop (6 ms between awaits): the queue's timer fires
    late, the answers go on their budget — and still all run, in order, while the acks go on."""
    share, step, workers = 0.1, 0.002, 4
    q, p = AnswerQueue(workers=workers, share=share, probe=0.001), Probe()
    loop = asyncio.get_running_loop()

    async def answer(n: int) -> None:
        burn(step)
        await p.answer(n, 0.0)

    async def requests() -> None:
        while len(p.started) < 30:
            q.arrived()
            burn(0.006)  # acks' work, well over LAG + PROBE
            await asyncio.sleep(0)

    start = loop.time()
    for n in range(30):
        q.put(answer, n)
    await asyncio.wait_for(asyncio.gather(requests(), q.idle()), 20)
    elapsed = loop.time() - start
    assert p.started == list(range(30))
    assert q.held > 0  # answers ran while acks were waiting, and were charged for it
    assert q.held <= share * elapsed + BURST + workers * step * 1.5


def test_the_budget_admits_one_answer_per_estimate_and_refills_at_the_share() -> None:
    """The admission arithmetic with explicit clock values (no event loop timing involved)."""
    q = AnswerQueue(workers=8, share=0.5, busy_window=1e9)
    q.behind_until, q.last_request, q.budget, q.budget_at, q.cost = 1e9, 100.0, 0.0, 100.0, 0.002
    assert q.admit(100.0) is None  # no budget left
    assert q.admit(100.001) == 0.002  # 0.5 ms of budget came back: one answer starts, reserving 2 ms
    assert q.budget == pytest.approx(-0.0015)
    assert q.admit(100.001) is None  # the second waits although workers are free
    assert q.admit(100.003) is None  # 1 ms later it is still 0.5 ms short
    assert q.admit(100.005) == 0.002  # … and then above it
    q.budget = 0.0
    assert q.admit(200.0) == 0.002  # refills are capped at BURST however long the wait
    assert q.budget == pytest.approx(BURST - 0.002)
    q.behind_until = 150.0  # the loop has kept up since: no limit
    assert q.admit(200.0) == 0.0 and q.budget == BURST


async def test_a_failing_answer_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    q, p = AnswerQueue(workers=2), Probe()

    async def boom() -> None:
        raise RuntimeError("slack said no")

    q.put(p.answer, 0)
    q.put(boom)
    q.put(p.answer, 2)
    with caplog.at_level(logging.ERROR, logger="uptake.slack"):
        await asyncio.wait_for(q.idle(), 5)
    assert p.started == [0, 2]
    assert "answering after the ack failed" in caplog.text


async def test_a_burst_through_http_is_acked_and_every_request_answered_once(slack: SlackDriver) -> None:
    for n in range(6):
        slack.api.add_user(f"U{n}")
    acks = await asyncio.gather(*(slack.command("help", user=f"U{n % 6}") for n in range(60)))
    assert [r.status for r in acks] == [200] * 60
    await slack.idle()
    answers = slack.api.calls("response_url")
    assert len(answers) == 60 and len({c.params["_token"] for c in answers}) == 60  # each response_url once
    assert all("What I can do" in c.text for c in answers)


class Recording:
    """Our own AnswerQueue with a record of what each queued answer holds (the queue still runs them)."""

    def __init__(self, queue: AnswerQueue) -> None:
        self.queue = queue
        self.held: list[tuple[Any, ...]] = []

    def put(self, job: Any, *args: Any) -> None:
        assert callable(job) and not asyncio.iscoroutine(job)  # a coroutine would hold its frame until it runs
        self.held.append(args)
        self.queue.put(job, *args)

    def arrived(self) -> None:
        self.queue.arrived()

    async def idle(self) -> None:
        await self.queue.idle()


def plain(value: Any) -> bool:
    """Strings, numbers, None, and lists/dicts of them: data the request carried, no objects built for it."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    return False


async def test_a_queued_command_or_dm_holds_only_the_request_data(slack: SlackDriver) -> None:
    """While thousands wait in a burst, every object a queued answer holds is work for the garbage collector
    (slack_queue): commands and DMs keep the body and two strings, not a coroutine, Turn or Web API client."""
    recording = Recording(slack.adapter.answers)
    slack.adapter.answers = recording
    slack.api.add_user("U1")
    assert (await slack.command("help")).status == 200
    assert (await slack.dm("help")).status == 200
    await slack.idle()
    assert len(recording.held) == 2
    assert all(plain(arg) for args in recording.held for arg in args), recording.held
    assert slack.api.calls("response_url") and slack.api.calls("chat.postMessage")


async def test_the_answer_calls_slack_as_bolts_client_for_the_request_would(slack: SlackDriver) -> None:
    """The client an answer uses is rebuilt from the token and team Bolt's per-request client had: same token,
    same team_id sent with each call."""
    slack.api.add_user("U1")
    assert (await slack.dm("help")).status == 200
    await slack.idle()
    posted = slack.api.calls("chat.postMessage")[-1]
    info = slack.api.calls("users.info")[-1]
    assert posted.token == info.token == "xoxb-test-T1"
    assert posted.params.get("team_id") == info.params.get("team_id") == "T1"
