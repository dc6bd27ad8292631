"""Teams send budgets: sliding windows per conversation and per tenant, plus backoff after a 429.

Limits from msteams-docs `bots/how-to/rate-limit.md` (see ../shared/reference/platform-rules.md R17): per bot and
conversation 7 sends/1 s, 8/2 s, 60/30 s, 1,800/h; per app and tenant 50 requests/s. `reserve` hands out the
earliest slot that keeps every window within its limit, so a burst is spread out instead of provoking 429s.
The clock is injected (a monotonic `() -> float`), which makes the windows testable without sleeping.
"""

from __future__ import annotations

import bisect
import random
import time
from collections.abc import Callable

CONVERSATION_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
TENANT_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 50),)


class SlidingWindows:
    """Granted send times for one key (sorted; may include slots booked slightly in the future)."""

    def __init__(self, windows: tuple[tuple[float, int], ...]) -> None:
        self.windows = windows
        self.horizon = max(w for w, _ in windows)
        self.granted: list[float] = []
        self.blocked_until = 0.0

    def prune(self, now: float) -> None:
        cut = bisect.bisect_right(self.granted, now - self.horizon)
        if cut:
            del self.granted[:cut]

    def fits(self, t: float) -> bool:
        """Would one more send at `t` keep every window of every length at or under its limit?"""
        ev = self.granted
        for window, limit in self.windows:
            lo, hi = bisect.bisect_right(ev, t - window), bisect.bisect_left(ev, t + window)
            if hi - lo < limit:
                continue  # not even the widest span around t holds `limit` sends
            # Windows [s, s + window) that contain t start just after t - window or at a send in (t - window, t].
            mid = bisect.bisect_right(ev, t)
            if mid - lo >= limit:
                return False
            for i in range(lo, mid):
                if bisect.bisect_left(ev, ev[i] + window) - i >= limit:
                    return False
        return True

    def next_candidate(self, t: float) -> float:
        """The next moment after `t` when some send leaves some window."""
        best = float("inf")
        for window, _ in self.windows:
            i = bisect.bisect_right(self.granted, t - window)
            if i < len(self.granted):
                best = min(best, self.granted[i] + window)
        return best

    def take(self, at: float) -> None:
        bisect.insort(self.granted, at)


class SendBudget:
    """Process-wide send budget for the Teams sender (one per process, like the connector clients)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        conversation_windows: tuple[tuple[float, int], ...] = CONVERSATION_WINDOWS,
        tenant_windows: tuple[tuple[float, int], ...] = TENANT_WINDOWS,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.clock = clock
        self.rand = rand
        self._conv_windows = conversation_windows
        self._tenant_windows = tenant_windows
        self._conversations: dict[str, SlidingWindows] = {}
        self._tenants: dict[str, SlidingWindows] = {}
        self._strikes: dict[str, int] = {}

    def _conv(self, key: str) -> SlidingWindows:
        return self._conversations.setdefault(key, SlidingWindows(self._conv_windows))

    def _tenant(self, key: str) -> SlidingWindows:
        return self._tenants.setdefault(key, SlidingWindows(self._tenant_windows))

    def reserve(self, conversation: str, tenant: str) -> float:
        """Book the next send to `conversation`; returns how many seconds to wait before sending it."""
        now = self.clock()
        conv, ten = self._conv(conversation), self._tenant(tenant)
        conv.prune(now)
        ten.prune(now)
        at = max(now, conv.blocked_until)
        while not (conv.fits(at) and ten.fits(at)):
            at = max(at, min(conv.next_candidate(at), ten.next_candidate(at)))
        conv.take(at)
        ten.take(at)
        return at - now

    def throttled(self, conversation: str, retry_after: float | None = None) -> float:
        """Record a 429 for `conversation`: exponential backoff with jitter (or Retry-After), returns the pause."""
        strikes = self._strikes.get(conversation, 0) + 1
        self._strikes[conversation] = strikes
        base = retry_after if retry_after is not None else min(60.0, 2.0**strikes)
        pause = base * (1.0 + 0.2 * self.rand())  # +0–20 % jitter, never shorter than the service asked for
        conv = self._conv(conversation)
        conv.blocked_until = max(conv.blocked_until, self.clock() + pause)
        return pause

    def succeeded(self, conversation: str) -> None:
        self._strikes.pop(conversation, None)
