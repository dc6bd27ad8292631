"""Teams send budgets: sliding windows per conversation and per tenant, plus backoff after a 429.

Limits from msteams-docs `bots/how-to/rate-limit.md` (see ../shared/reference/platform-rules.md R17): per bot and
conversation 7 sends/1 s, 8/2 s, 60/30 s, 1,800/h; per app and tenant 50 requests/s. `reserve` hands out the
earliest slot that keeps every window within its limit, so a burst is spread out instead of provoking 429s.
The clock is injected (a monotonic `() -> float`), which makes the windows testable without sleeping.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable

CONVERSATION_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
TENANT_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 50),)


class SlidingWindows:
    """Reservation log for one key: the times of granted sends within the longest window."""

    def __init__(self, windows: tuple[tuple[float, int], ...]) -> None:
        self.windows = windows
        self.horizon = max(w for w, _ in windows)
        self.granted: deque[float] = deque()
        self.blocked_until = 0.0

    def earliest(self, now: float) -> float:
        while self.granted and self.granted[0] <= now - self.horizon:
            self.granted.popleft()
        t = max(now, self.blocked_until, self.granted[-1] if self.granted else now)
        for window, limit in self.windows:
            if len(self.granted) >= limit:
                # The send `limit` places back must have left the window before another one fits in.
                t = max(t, self.granted[-limit] + window)
        return t

    def take(self, at: float) -> None:
        self.granted.append(at)


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
        at = max(conv.earliest(now), ten.earliest(now))
        # The tenant slot may push past a conversation window edge and vice versa; settle on a slot both accept.
        for _ in range(8):
            nxt = max(conv.earliest(at), ten.earliest(at))
            if nxt <= at:
                break
            at = nxt
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
