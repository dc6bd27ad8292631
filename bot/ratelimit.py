"""Outbound rate limits: one configuration per platform, method, workspace/tenant and conversation.

Limits are sliding windows ("at most N calls in any W seconds") kept in memory by each worker; pauses
(Retry-After, sustained throttling) are shared between workers through the `outbox_pauses` table by the sender.
The configured limits are for the whole deployment: with K live workers (counted from the `outbox_workers`
heartbeats, see bot/delivery.py) worker number i (0…K-1, by worker id) allows N // K calls per window, plus one
when i < N mod K, so the K shares add up to exactly N in any window of W seconds, without a database round trip
per message. A window with fewer calls than workers (Slack: 1 per second per channel) is stretched instead: each
worker allows N calls in K × W seconds, which keeps the rate (not every single window) within the limit.
Sources: Slack "special" tier for chat.postMessage (~1/s per channel plus an unpublished workspace-wide limit),
Teams 7/1 s · 8/2 s · 60/30 s · 1,800/h per conversation and 50 requests/s per tenant
(see ../shared/reference/platform-rules.md R14, R15, R17, R18).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

Windows = tuple[tuple[int, float], ...]  # ((count, seconds), …)


@dataclass(frozen=True)
class PlatformLimits:
    """How one platform is throttled: which method each outbox call uses and that method's windows per scope."""

    methods: dict[str, str]  # "send_to_person" / "send_to_channel" -> platform method name
    rules: dict[str, dict[str, Windows]]  # method -> {"workspace": windows, "conversation": windows}
    strikes_for_long_pause: int = 5  # consecutive throttles before the bucket takes a long pause
    long_pause: float = 60.0  # seconds (Company Communicator uses 660 s for Teams)
    default_retry_after: float = 1.0  # when a throttle comes without Retry-After


DEFAULT_LIMITS: dict[str, PlatformLimits] = {
    # Slack publishes ~1 message per second per channel for chat.postMessage and an unpublished workspace-wide
    # ceiling; 8/s (480/min) stays under the 525/min that Moveworks uses as its own ceiling.
    "slack": PlatformLimits(
        methods={"send_to_person": "chat.postMessage", "send_to_channel": "chat.postMessage"},
        rules={"chat.postMessage": {"workspace": ((8, 1.0),), "conversation": ((1, 1.0),)}},
        long_pause=60.0,
    ),
    "teams": PlatformLimits(
        methods={"send_to_person": "send", "send_to_channel": "send"},
        rules={"send": {"workspace": ((50, 1.0),), "conversation": ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))}},
        long_pause=660.0,
    ),
    "console": PlatformLimits(methods={}, rules={}),
}


def load_limits(override: str | dict[str, Any] | None = None) -> dict[str, PlatformLimits]:
    """The defaults, with a JSON override (`UPTAKE_RATE_LIMITS`) merged per platform and method.

    Example: {"slack": {"rules": {"chat.postMessage": {"workspace": [[20, 1]]}}, "long_pause": 30}}
    """
    limits = dict(DEFAULT_LIMITS)
    data = json.loads(override) if isinstance(override, str) and override.strip() else (override or {})
    if not isinstance(data, dict):
        raise ValueError("rate limits must be a JSON object keyed by platform")
    for platform, spec in data.items():
        base = limits.get(platform, PlatformLimits(methods={}, rules={}))
        rules = {m: dict(scopes) for m, scopes in base.rules.items()}
        for method, scopes in (spec.get("rules") or {}).items():
            for scope, windows in scopes.items():
                if scope not in ("workspace", "conversation"):
                    raise ValueError(f"{platform}.{method}: scope must be workspace or conversation, not {scope!r}")
                rules.setdefault(method, {})[scope] = tuple((int(n), float(w)) for n, w in windows)
        limits[platform] = PlatformLimits(
            methods={**base.methods, **(spec.get("methods") or {})},
            rules=rules,
            strikes_for_long_pause=int(spec.get("strikes_for_long_pause", base.strikes_for_long_pause)),
            long_pause=float(spec.get("long_pause", base.long_pause)),
            default_retry_after=float(spec.get("default_retry_after", base.default_retry_after)),
        )
    return limits


def workspace_bucket(platform: str, workspace: str, method: str) -> str:
    return f"{platform}:{workspace}:{method}"


def stretched(windows: Windows, share: int, rank: int = 0) -> Windows:
    """This worker's part of `windows` when `share` workers send at once (this one being number `rank`)."""
    if share <= 1:
        return windows
    return tuple(
        (n // share + (1 if rank % share < n % share else 0), w) if n >= share else (n, w * share) for n, w in windows
    )


@dataclass
class _Bucket:
    base: Windows  # the configured windows (the whole deployment's)
    pace: bool = False  # spread calls evenly instead of bursting a whole window at once
    share: int = 1
    rank: int = 0
    logs: list[deque[float]] = field(default_factory=list)

    tat: float = 0.0  # theoretical arrival time of the next paced call
    interval: float = 0.0
    windows: Windows = ()

    def __post_init__(self) -> None:
        self.set_share(self.share, self.rank)

    def set_share(self, share: int, rank: int = 0) -> None:
        self.share = max(1, share)
        self.windows = stretched(self.base, self.share, rank)
        old = self.logs or [deque() for _ in self.windows]
        self.logs = [deque(log, maxlen=n) for (n, _), log in zip(self.windows, old, strict=True)]
        self.interval = min((w / n for n, w in self.windows), default=0.0)

    def wait(self, now: float) -> float:
        """Seconds until one more call fits every window (0 = now)."""
        longest = 0.0
        if self.pace:
            # A burst of a whole window arrives at the platform with jitter and spills into its next window
            # (429s); calls spaced on a theoretical schedule (GCRA) avoid that, and the small tolerance lets a
            # sender that fell behind (a slow database write) catch up instead of losing the slot for good.
            longest = self.tat - 2 * self.interval - now
        for (n, w), log in zip(self.windows, self.logs, strict=True):
            if len(log) >= n:
                longest = max(longest, log[0] + w - now)
        return max(0.0, longest)

    def earliest(self, at: float) -> float:
        """The first moment at or after `at` when one more call fits every window."""
        t = at
        if self.pace:
            t = max(t, self.tat - 2 * self.interval)
        for (n, w), log in zip(self.windows, self.logs, strict=True):
            if len(log) >= n:
                t = max(t, log[0] + w)
        return t

    def record(self, now: float) -> None:
        for log in self.logs:
            log.append(now)
        if self.pace:
            self.tat = max(self.tat, now) + self.interval

    def idle(self, now: float) -> bool:
        horizon = max((w for _, w in self.windows), default=0.0)
        return all(not log or log[-1] + horizon < now for log in self.logs)


class RateLimiter:
    """Decides when the next call in a (platform, workspace, method, conversation) may go out.

    `reserve` is synchronous so that concurrent send tasks in one event loop never double-book a slot.
    """

    def __init__(self, limits: dict[str, PlatformLimits]) -> None:
        self.limits = limits
        self.buckets: dict[str, _Bucket] = {}
        self.paused: dict[str, float] = {}  # bucket -> until (epoch seconds)
        self.strikes: dict[str, int] = {}
        self.episodes: dict[str, float] = {}  # bucket -> when its current throttle episode began
        self.share = 1  # live workers sharing the configured limits
        self.rank = 0  # this worker's number among them
        self._calls = 0

    def set_share(self, workers: int, rank: int = 0) -> None:
        """`workers` senders now share the configured limits; this one is number `rank` (0-based)."""
        workers = max(1, workers)
        if (workers, rank) != (self.share, self.rank):
            self.share, self.rank = workers, rank
            for bucket in self.buckets.values():
                bucket.set_share(workers, rank)

    def rate(self, platform: str) -> float | None:
        """This worker's fastest workspace-wide rate (calls per second) on `platform`; None if unlimited."""
        spec = self.limits.get(platform)
        rates = [
            min(n / w for n, w in stretched(scopes["workspace"], self.share, self.rank))
            for scopes in (spec.rules.values() if spec else ())
            if scopes.get("workspace")
        ]
        return max(rates) if rates else None

    def method(self, platform: str, call: str) -> str:
        spec = self.limits.get(platform)
        return (spec.methods.get(call) if spec else None) or call

    def keys(
        self, platform: str, workspace: str, call: str, conversation: str | None
    ) -> list[tuple[str, Windows, bool]]:
        """(bucket key, windows, paced): the workspace bucket is paced, a conversation may burst within its windows."""
        spec = self.limits.get(platform)
        method = self.method(platform, call)
        rules = spec.rules.get(method, {}) if spec else {}
        base = workspace_bucket(platform, workspace, method)
        out: list[tuple[str, Windows, bool]] = []
        if rules.get("workspace"):
            out.append((base, rules["workspace"], True))
        if conversation and rules.get("conversation"):
            out.append((f"{base}:{conversation}", rules["conversation"], False))
        return out

    def _buckets(
        self, platform: str, workspace: str, call: str, conversation: str | None, now: float
    ) -> tuple[float, list[_Bucket]]:
        """(seconds the workspace bucket is still paused, the buckets a call takes a slot in) for reserve/book."""
        self._calls += 1
        if self._calls % 2000 == 0:
            self._prune(now)
        base = workspace_bucket(platform, workspace, self.method(platform, call))
        paused = self.paused.get(base, 0.0) - now
        if paused > 0:
            return paused, []
        buckets = [
            self.buckets.get(k) or self.buckets.setdefault(k, _Bucket(w, pace, self.share, self.rank))
            for k, w, pace in self.keys(platform, workspace, call, conversation)
        ]
        return 0.0, buckets

    def reserve(self, platform: str, workspace: str, call: str, conversation: str | None, now: float) -> float:
        """0.0 and the slot is taken; otherwise how many seconds to wait before asking again."""
        paused, buckets = self._buckets(platform, workspace, call, conversation, now)
        if paused > 0:
            return paused
        wait = max((b.wait(now) for b in buckets), default=0.0)
        if wait > 0:
            return wait
        for b in buckets:
            b.record(now)
        return 0.0

    def book(
        self, platform: str, workspace: str, call: str, conversation: str | None, now: float, max_wait: float
    ) -> tuple[float, bool]:
        """Book the earliest slot within `max_wait` seconds: (delay, True), the caller sends after `delay`.

        Otherwise (wait, False) and nothing is booked. Unlike polling `reserve`, each waiting send wakes once,
        at its own slot, instead of every waiting send waking at every slot and all but one going back to sleep.
        """
        paused, buckets = self._buckets(platform, workspace, call, conversation, now)
        if paused > 0:
            return paused, False
        at = max((b.earliest(now) for b in buckets), default=now)
        if at - now > max_wait:
            return at - now, False
        for b in buckets:
            b.record(at)
        return at - now, True

    def throttled(self, platform: str, workspace: str, call: str, retry_after: float | None, now: float) -> float:
        """The platform said "too many": pause the whole (workspace, method) bucket; returns the pause end."""
        spec = self.limits.get(platform) or PlatformLimits(methods={}, rules={})
        base = workspace_bucket(platform, workspace, self.method(platform, call))
        # Answers to calls already in flight count once: a 429 while paused, or within a second of the episode's
        # first one (a short Retry-After ends the pause before the answers to calls booked ahead come back; under
        # load they arrive in a row and would otherwise add up to the long pause in a fraction of a second).
        same_episode = self.paused.get(base, 0.0) > now or now - self.episodes.get(base, float("-inf")) < 1.0
        if not same_episode:
            self.episodes[base] = now
        strikes = self.strikes.get(base, 1) if same_episode else self.strikes.get(base, 0) + 1
        self.strikes[base] = strikes
        pause = retry_after if retry_after is not None else spec.default_retry_after
        if strikes >= spec.strikes_for_long_pause:
            pause = max(pause, spec.long_pause)  # sustained throttling: stop hammering the platform
        until = max(self.paused.get(base, 0.0), now + pause)
        self.paused[base] = until
        return until

    def succeeded(self, platform: str, workspace: str, call: str) -> None:
        self.strikes.pop(workspace_bucket(platform, workspace, self.method(platform, call)), None)

    def bucket_of(self, platform: str, workspace: str, call: str) -> str:
        return workspace_bucket(platform, workspace, self.method(platform, call))

    def _prune(self, now: float) -> None:
        """Forget idle buckets so memory stays flat over a 10,000-recipient fan-out."""
        for key in [k for k, b in self.buckets.items() if b.idle(now)]:
            del self.buckets[key]
        for key in [k for k, until in self.paused.items() if until < now]:
            del self.paused[key]
