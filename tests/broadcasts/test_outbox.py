"""The outbox sender: claim, retry with backoff, permanent failure, mute, rate limits, pauses, crash recovery."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import select, update

from bot.clock import FrozenClock
from bot.delivery import OutboxSender, backoff, claim, drain
from bot.model import Message
from bot.outbox import enqueue
from bot.runtime import Runtime, SendError
from bot.tables import OutboxMessage, OutboxPause, Person, PlatformIdentity
from tests.broadcasts.senders import ReconcilingSender, RecordingSender
from tests.chat import Chat


async def _queue(rt: Runtime, n: int, chat: Chat, *, prefix: str = "p", kind: str = "notification") -> list[int]:
    ids = []
    for i in range(n):
        sp = await chat.person(f"{prefix}{i}", platform="slack")
        ids.append(sp.person_id)
    async with rt.db.session() as s:
        for pid in ids:
            await enqueue(
                s,
                key=f"t:{pid}:{kind}",
                message=Message(f"hello {pid}"),
                rollout_id=None,
                person_id=pid,
                kind=kind,
                not_before=rt.clock.now(),
            )
        await s.commit()
    return ids


async def _rows(rt: Runtime) -> list[OutboxMessage]:
    async with rt.db.session() as s:
        return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_claim_marks_rows_sending_and_a_second_claim_gets_none_of_them(
    runtime: Runtime, chat: Chat, slack: RecordingSender
) -> None:
    await _queue(runtime, 3, chat)
    first = await claim(runtime, 2)
    second = await claim(runtime, 5)
    assert len(first) == 2 and len(second) == 1
    assert {r.id for r in first}.isdisjoint({r.id for r in second})
    rows = await _rows(runtime)
    assert {r.status for r in rows} == {"sending"}
    assert all(r.claimed_until is not None and r.user_id for r in rows)


async def test_row_is_committed_as_sending_before_the_platform_call(
    runtime: Runtime, chat: Chat, slack: RecordingSender
) -> None:
    await _queue(runtime, 1, chat)

    async def status_now(ref: str | None) -> str:
        async with runtime.db.session() as s:
            row = await s.get_one(OutboxMessage, int((ref or "outbox:0").split(":")[1]))
            return row.status

    slack.probe = status_now
    await drain(runtime)
    assert slack.during_call == ["sending"]
    assert (await _rows(runtime))[0].status == "sent"


async def test_transient_error_retries_with_backoff_then_sends(
    runtime: Runtime, chat: Chat, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _queue(runtime, 1, chat)
    slack.fail(SendError("502 bad gateway", transient=True))
    await drain(runtime)
    row = (await _rows(runtime))[0]
    assert row.status == "pending" and row.attempts == 1 and "502" in (row.error or "")
    wait = (row.next_attempt_at - clock.now()).total_seconds()
    assert 1.0 <= wait <= 2.0  # attempt 1: 2 s ceiling, half of it fixed, half jitter
    assert await drain(runtime) == 0  # not due yet
    clock.advance(seconds=wait)
    await drain(runtime)
    row = (await _rows(runtime))[0]
    assert row.status == "sent" and row.attempts == 2 and row.error is None
    assert len(slack.sent) == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    assert backoff(1, lambda: 0.0) == 1.0 and backoff(1, lambda: 1.0) == 2.0
    assert backoff(4, lambda: 0.0) == 8.0 and backoff(4, lambda: 1.0) == 16.0
    assert backoff(30, lambda: 1.0) == 600.0


async def test_transient_errors_give_up_after_the_limit_with_a_reason(
    runtime: Runtime, chat: Chat, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _queue(runtime, 1, chat)
    slack.fail(*[SendError("503", transient=True)] * 10)
    for _ in range(10):
        await drain(runtime)
        clock.advance(seconds=700)
    row = (await _rows(runtime))[0]
    assert row.status == "failed" and row.attempts == 6
    assert row.error is not None and row.error.startswith("gave up after 6 attempts")


async def test_permanent_error_ends_the_row_and_marks_the_identity_unreachable(
    runtime: Runtime, chat: Chat, slack: RecordingSender
) -> None:
    await _queue(runtime, 1, chat)
    slack.fail(SendError("user_not_found", transient=False, unreachable=True))
    await drain(runtime)
    row = (await _rows(runtime))[0]
    assert (row.status, row.error, row.attempts) == ("failed", "user_not_found", 1)
    async with runtime.db.session() as s:
        link = await s.scalar(select(PlatformIdentity).where(PlatformIdentity.person_id == row.person_id))
        assert link is not None and link.reachable is False
    assert await drain(runtime) == 0


async def test_muted_kind_is_cancelled_but_mandatory_still_arrives(
    runtime: Runtime, chat: Chat, slack: RecordingSender
) -> None:
    sp = await chat.person("Muted", platform="slack")
    async with runtime.db.session() as s:
        person = await s.get_one(Person, sp.person_id)
        person.notify_prefs = {"muted": ["broadcast"]}
        await enqueue(
            s,
            key="a",
            message=Message("a"),
            rollout_id=None,
            person_id=sp.person_id,
            kind="broadcast",
            not_before=runtime.clock.now(),
        )
        await enqueue(
            s,
            key="b",
            message=Message("b"),
            rollout_id=None,
            person_id=sp.person_id,
            kind="broadcast",
            mandatory=True,
            not_before=runtime.clock.now(),
        )
        await s.commit()
    await drain(runtime)
    a, b = await _rows(runtime)
    assert (a.status, a.error) == ("cancelled", "muted by the person")
    assert b.status == "sent" and [x.text for x in slack.sent] == ["b"]


async def test_person_without_a_reachable_identity_fails_with_a_reason(
    runtime: Runtime, slack: RecordingSender
) -> None:
    async with runtime.db.session() as s:
        p = Person(display_name="Nobody")
        s.add(p)
        await s.flush()
        await enqueue(s, key="x", message=Message("x"), rollout_id=None, person_id=p.id, not_before=runtime.clock.now())
        await s.commit()
    await drain(runtime)
    row = (await _rows(runtime))[0]
    assert row.status == "failed" and "no reachable identity" in (row.error or "")


async def test_workspace_rate_limit_is_enforced_and_paced_with_the_injected_clock(
    runtime: Runtime, chat: Chat, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _queue(runtime, 20, chat)
    start = clock.now()
    for _ in range(40):
        await drain(runtime)
        clock.advance(seconds=0.0625)
    times = [(s.at - start).total_seconds() for s in slack.sent]
    assert len(times) == 20
    # Slack default: 8 chat.postMessage per second per workspace, paced (one every 1/8 s after a burst of at most 3)
    assert max(sum(1 for t in times if w <= t < w + 1) for w in times) == 8
    assert max(sum(1 for t in times if w <= t < w + 0.25) for w in times) <= 4  # a burst of 3, then 1/8 s apart
    assert times[-1] >= 2.0  # 20 messages at 8/s
    rows = await _rows(runtime)
    assert {r.status for r in rows} == {"sent"}
    assert all(r.attempts == 1 for r in rows)  # waiting for a slot is not an attempt


def test_teams_limits_hold_in_every_window_over_a_simulated_minute() -> None:
    from bot.ratelimit import DEFAULT_LIMITS, RateLimiter

    limiter = RateLimiter(DEFAULT_LIMITS)
    sent: dict[str, list[float]] = {"conv-a": [], "conv-b": []}
    tenant: list[float] = []
    t = 0.0
    while t < 60.0:  # two hot conversations plus a crowd of one-message DMs
        for conv in ("conv-a", "conv-b"):
            if limiter.reserve("teams", "T1", "send_to_channel", conv, t) == 0:
                sent[conv].append(t)
                tenant.append(t)
        for i in range(5):
            if limiter.reserve("teams", "T1", "send_to_person", f"dm-{t}-{i}", t) == 0:
                tenant.append(t)
        t = round(t + 0.01, 2)

    def most(times: list[float], window: float) -> int:
        return max((sum(1 for x in times if s <= x < s + window) for s in times), default=0)

    for times in sent.values():
        assert most(times, 1) <= 7 and most(times, 2) <= 8 and most(times, 30) <= 60
        assert len(times) >= 55  # the conversation limits are used, not starved
    assert most(tenant, 1) <= 50 and len(tenant) >= 45 * 59  # paced at one per 20 ms (10 ms clock steps)


async def test_one_message_per_second_per_channel(runtime: Runtime, slack: RecordingSender, clock: FrozenClock) -> None:
    async with runtime.db.session() as s:
        for i in range(3):
            await enqueue(
                s,
                key=f"c{i}",
                message=Message(f"c{i}"),
                rollout_id=None,
                channel=("slack", "W1", "C1"),
                not_before=runtime.clock.now(),
            )
        await enqueue(
            s,
            key="d",
            message=Message("d"),
            rollout_id=None,
            channel=("slack", "W1", "C2"),
            not_before=runtime.clock.now(),
        )
        await s.commit()
    await drain(runtime)
    clock.advance(seconds=0.125)
    await drain(runtime)
    assert sorted(x.target for x in slack.sent) == ["channel:W1:C1", "channel:W1:C2"]
    clock.advance(seconds=1)
    await drain(runtime)
    clock.advance(seconds=1)
    await drain(runtime)
    assert [x.text for x in slack.sent if x.target.endswith("C1")] == ["c0", "c1", "c2"]
    times = [x.at for x in slack.sent if x.target.endswith("C1")]
    assert all((b - a).total_seconds() >= 1 for a, b in itertools.pairwise(times))


async def test_retry_after_pauses_the_whole_bucket_for_every_worker(
    runtime: Runtime, chat: Chat, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _queue(runtime, 5, chat)
    slack.fail(None, SendError("ratelimited", transient=True, retry_after=30))
    start = clock.now()
    await drain(runtime)
    clock.advance(seconds=0.125)
    await drain(runtime)
    assert len(slack.calls) == 2 and len(slack.sent) == 1  # stopped at the 429; nothing else hammered the bucket
    async with runtime.db.session() as s:
        pause = await s.get_one(OutboxPause, "slack:W1:chat.postMessage")
        assert pause.until == start + dt.timedelta(seconds=30)
    assert all(r.next_attempt_at == pause.until for r in await _rows(runtime) if r.status == "pending")
    clock.advance(seconds=28.875)
    await _queue(runtime, 1, chat, prefix="late")  # due now, but its bucket is paused
    other = OutboxSender(runtime, worker_id="other")  # a second worker learns about the pause from the table
    assert await other.run_once() == 1 and len(slack.calls) == 2
    await other.leave()  # it stops, so the first worker has the whole rate again (bot/ratelimit.py: shares)
    clock.advance(seconds=1)
    for _ in range(6):
        await drain(runtime)
        clock.advance(seconds=0.125)
    rows = await _rows(runtime)
    assert {r.status for r in rows} == {"sent"} and len(slack.sent) == 6
    assert sum(r.throttled for r in rows) == 1 and all(r.attempts <= 1 for r in rows)


async def test_sustained_throttling_takes_a_long_pause(
    runtime: Runtime, chat: Chat, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _queue(runtime, 1, chat)
    slack.fail(*[SendError("ratelimited", transient=True, retry_after=1)] * 5)
    for _ in range(4):
        await drain(runtime)
        clock.advance(seconds=1)
    await drain(runtime)  # fifth throttle in a row: Slack's long pause (60 s)
    row = (await _rows(runtime))[0]
    assert row.status == "pending" and row.throttled == 5
    assert (row.next_attempt_at - clock.now()).total_seconds() == 60
    clock.advance(seconds=60)
    await drain(runtime)
    assert (await _rows(runtime))[0].status == "sent"


async def _crash_mid_send(rt: Runtime, sent_before_crash: bool, sender: RecordingSender) -> OutboxMessage:
    """A worker claimed the row (and maybe the platform took it) and died before recording anything."""
    rows = await claim(rt, 1)
    if sent_before_crash:
        await sender.send_to_person(  # what the dead worker managed to do
            __import__("bot.model", fromlist=["Identity"]).Identity("slack", "W1", rows[0].user_id or ""),
            Message("hello"),
            ref=f"outbox:{rows[0].id}",
        )
    async with rt.db.session() as s:
        await s.execute(update(OutboxMessage).values(claimed_by="dead-worker"))
        await s.commit()
    return rows[0]


async def test_crash_recovery_reconciles_a_delivered_row_without_resending(
    runtime: Runtime, chat: Chat, clock: FrozenClock
) -> None:
    sender = ReconcilingSender("slack", clock)
    runtime.senders["slack"] = sender
    await _queue(runtime, 1, chat)
    await _crash_mid_send(runtime, True, sender)
    assert await drain(runtime) == 0  # lease not expired: nobody touches it
    assert (await _rows(runtime))[0].status == "sending"
    clock.advance(seconds=121)
    await drain(runtime)
    row = (await _rows(runtime))[0]
    assert row.status == "sent" and row.platform_message_id == "slack-msg-1" and not row.possibly_duplicate
    assert len(sender.sent) == 1 and sender.lookups == [f"outbox:{row.id}"]


async def test_crash_recovery_resends_a_row_the_platform_never_got(
    runtime: Runtime, chat: Chat, clock: FrozenClock
) -> None:
    sender = ReconcilingSender("slack", clock)
    runtime.senders["slack"] = sender
    await _queue(runtime, 1, chat)
    await _crash_mid_send(runtime, False, sender)
    clock.advance(seconds=121)
    await drain(runtime)
    row = (await _rows(runtime))[0]
    assert row.status == "sent" and not row.possibly_duplicate and len(sender.sent) == 1


async def test_crash_recovery_without_reconciliation_resends_and_flags_a_possible_duplicate(
    runtime: Runtime, chat: Chat, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _queue(runtime, 1, chat)
    await _crash_mid_send(runtime, True, slack)
    clock.advance(seconds=121)
    await drain(runtime)
    row = (await _rows(runtime))[0]
    assert row.status == "sent" and row.possibly_duplicate and "possibly duplicated" in (row.error or "")
    assert len(slack.sent) == 2


async def test_crash_recovery_can_be_configured_not_to_resend(
    runtime: Runtime, chat: Chat, slack: RecordingSender, clock: FrozenClock
) -> None:
    runtime.settings.outbox_resend_unconfirmed = False
    await _queue(runtime, 1, chat)
    await _crash_mid_send(runtime, True, slack)
    clock.advance(seconds=121)
    await drain(runtime)
    row = (await _rows(runtime))[0]
    assert row.status == "failed" and "outcome unknown" in (row.error or "") and len(slack.sent) == 1
