"""Teams send budgets with an injected clock: per conversation 7/1 s, 8/2 s, 60/30 s, 1,800/h; 50/s per tenant;
in-turn replies count against the same budget as the outbox."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.teams_throttle import SendBudget
from tests.support.teams_harness import TENANT, TeamsHarness


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_one_conversation_over_a_simulated_minute_never_exceeds_its_windows() -> None:
    clock = Clock()
    budget = SendBudget(clock)
    sent: list[float] = []
    while clock.t < 1060:
        wait = budget.reserve("conv-1", "tenant-1")
        sent.append(clock.t + wait)
        clock.t += max(wait, 0.01)  # the sender sleeps `wait`, then tries the next one
    sent = [t for t in sent if t < 1060]
    assert _max_in_window(sent, 1.0) <= 7
    assert _max_in_window(sent, 2.0) <= 8
    assert _max_in_window(sent, 30.0) <= 60
    assert len(sent) >= 100  # and it does keep sending at the allowed pace


def test_tenant_wide_never_more_than_50_a_second() -> None:
    clock = Clock()
    budget = SendBudget(clock)
    sent: list[float] = []
    for i in range(3000):  # one message each to 3,000 people: no conversation limit applies
        sent.append(clock.t + budget.reserve(f"conv-{i}", "tenant-1"))
    assert _max_in_window(sent, 1.0) <= 50
    assert max(sent) - clock.t >= 59  # 3,000 sends at 50/s take a minute
    assert budget.reserve("conv-x", "tenant-2") == 0  # other tenants are not held up


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 0.5)), min_size=1, max_size=300))
def test_any_arrival_pattern_respects_every_window(events: list[tuple[int, float]]) -> None:
    clock = Clock()
    budget = SendBudget(clock)
    per_conv: dict[int, list[float]] = {}
    everything: list[float] = []
    for conv, gap in events:
        clock.t += gap
        at = clock.t + budget.reserve(f"c{conv}", "t")
        per_conv.setdefault(conv, []).append(at)
        everything.append(at)
    for times in per_conv.values():
        assert _max_in_window(times, 1.0) <= 7 and _max_in_window(times, 2.0) <= 8
        assert _max_in_window(times, 30.0) <= 60
    assert _max_in_window(everything, 1.0) <= 50


def test_429_backs_off_exponentially_with_bounded_jitter() -> None:
    clock = Clock()
    budget = SendBudget(clock, rand=lambda: 1.0)
    assert budget.throttled("conv-1") == 2.0 * 1.2
    assert budget.throttled("conv-1") == 4.0 * 1.2
    assert budget.reserve("conv-1", "t") >= 4.0  # later sends wait out the pause
    budget.succeeded("conv-1")
    assert SendBudget(clock, rand=lambda: 0.0).throttled("c", retry_after=7) == 7  # never sooner than asked
    assert budget.reserve("conv-2", "t") == 0


# ---------------------------------------------------------------- in-turn replies share the budget (real server)


def _simulated_sleep(teams: TeamsHarness) -> list[float]:
    """The sender's sleep moves the runtime's frozen clock (which the budget reads) instead of waiting."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        teams.runtime.clock.advance(seconds=seconds)

    teams.runtime.senders["teams"].sleep = sleep
    return waits


async def test_in_turn_replies_count_against_and_wait_for_the_conversation_budget(teams: TeamsHarness) -> None:
    waits = _simulated_sleep(teams)
    start = teams.runtime.clock.now()
    for i in range(9):  # nine questions in the same (frozen) instant, one card each
        await teams.says(f"echo {i}")
    assert len(teams.replies()) == 9
    assert waits == [pytest.approx(1.0), pytest.approx(1.0)]  # 7 per second, then 8 per 2 s
    assert (teams.runtime.clock.now() - start).total_seconds() == pytest.approx(2.0)
    budget = teams.runtime.senders["teams"].budget  # the outbox's sender sees the same sends:
    waits_for_outbox = [budget.reserve(teams.personal("aad-1"), TENANT) for _ in range(7)]
    assert waits_for_outbox[:6] == [0] * 6 and waits_for_outbox[6] > 0  # 6 fit the 2 s window with the last two


async def test_outbox_sends_hold_back_the_next_in_turn_reply(teams: TeamsHarness) -> None:
    waits = _simulated_sleep(teams)
    await teams.says("help")
    budget = teams.runtime.senders["teams"].budget
    for _ in range(6):  # the outbox fills the rest of this second's budget for the chat
        assert budget.reserve(teams.personal("aad-1"), TENANT) == 0
    await teams.says("echo hi")
    assert waits == [pytest.approx(1.0)] and "hi" in teams.last_reply().text


async def test_in_turn_429_retries_only_the_card_that_failed(teams: TeamsHarness) -> None:
    waits = _simulated_sleep(teams)
    teams.connector.fail(429, retry_after=2, conversation_id=teams.personal("aad-1"), after=1)
    await teams.says("long")
    cards = [json.dumps(p.activity["attachments"][0]["content"], sort_keys=True) for p in teams.replies()]
    assert len(cards) >= 3 and len(set(cards)) == len(cards)  # every card once, the first not resent
    facts = [t for p in teams.replies() for t in p.texts if t.startswith("Item ")]
    assert [int(t.split(":")[0].split()[1]) for t in facts] == list(range(500))
    assert any(2.0 <= w <= 2.4 for w in waits)  # Retry-After honoured (plus jitter) before the retry
