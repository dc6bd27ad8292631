"""The work after the ack: every answer runs once, in order; fewer at once while requests keep arriving, all of
them again once the burst stops or an answer has waited past the deadline (bot/adapters/slack_queue.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bot.adapters.slack_queue import AnswerQueue
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
    q, p = AnswerQueue(workers=4, busy_workers=1, busy_window=0.0, deadline=10), Probe()
    for n in range(20):
        q.put(p.answer, n)
    await asyncio.wait_for(q.idle(), 5)
    assert p.started == list(range(20))
    assert p.peak == 4


async def test_while_requests_keep_coming_only_the_busy_workers_answer() -> None:
    q, p = AnswerQueue(workers=6, busy_workers=2, busy_window=0.15, deadline=10), Probe()
    for n in range(30):  # a burst: a new request every 10 ms, each well inside the busy window
        q.put(p.answer, n, 0.1)
        await asyncio.sleep(0.01)
    assert p.peak == 2
    assert 2 <= len(p.started) < 20  # answers kept flowing during the burst, a few at a time
    await asyncio.wait_for(q.idle(), 5)  # the burst is over: the rest on all six
    assert p.started == list(range(30))
    assert p.peak == 6


async def test_an_answer_past_the_deadline_lifts_the_brake_during_a_burst() -> None:
    q, p = AnswerQueue(workers=6, busy_workers=1, busy_window=10, deadline=0.15), Probe()
    for n in range(40):  # requests keep "coming" for the whole test (busy window of 10 s)
        q.put(p.answer, n, 0.05)
    await asyncio.sleep(0.1)
    assert p.peak == 1
    await asyncio.wait_for(q.idle(), 5)
    assert p.started == list(range(40))
    assert p.peak == 6  # after the deadline every worker took part although the burst never ended


async def test_a_failing_answer_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    q, p = AnswerQueue(workers=2, busy_workers=1, busy_window=0.0, deadline=10), Probe()

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
