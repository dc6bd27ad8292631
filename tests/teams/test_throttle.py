"""Teams send budgets with an injected clock: per conversation 7/1 s, 8/2 s, 60/30 s, 1,800/h; 50/s per tenant."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.teams_throttle import SendBudget


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
