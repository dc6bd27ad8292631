"""Mock Slack Web API and Teams Bot Connector for the fan-out bench: rate limits with 429 Retry-After, 1% 5xx.

Run as its own process (`python bench/fanout_mock.py slack PORT RATE`) so it does not share a CPU budget with the
sender's event loop. It counts every accepted message per outbox ref, so the bench can count duplicates and losses.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections import defaultdict, deque

from aiohttp import web


class Window:
    """At most `n` in any `seconds` (sliding log), like the platform's own limiter."""

    def __init__(self, n: int, seconds: float) -> None:
        self.n, self.seconds = n, seconds
        self.log: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self.log and self.log[0] <= now - self.seconds:
            self.log.popleft()
        return 0.0 if len(self.log) < self.n else self.log[0] + self.seconds - now

    def add(self, now: float) -> None:
        self.log.append(now)


class Mock:
    def __init__(self, platform: str, rate: int, error_rate: float = 0.01, seed: int = 7) -> None:
        self.platform = platform
        self.workspace = Window(rate, 1.0)
        if platform == "slack":
            self.per_conv = lambda: [Window(1, 1.0)]
        else:
            self.per_conv = lambda: [Window(7, 1.0), Window(8, 2.0), Window(60, 30.0), Window(1800, 3600.0)]
        self.convs: dict[str, list[Window]] = {}
        self.error_rate = error_rate
        self.rand = random.Random(seed)
        self.by_ref: dict[str, int] = defaultdict(int)
        self.messages: dict[str, list[str]] = defaultdict(list)  # conversation -> refs (for history lookups)
        self.throttled = 0
        self.errors = 0
        self.first: float | None = None
        self.last: float | None = None

    def admit(self, conv: str) -> tuple[int, float]:
        """(HTTP status, retry-after) for one send."""
        now = time.monotonic()
        windows = [self.workspace, *self.convs.setdefault(conv, self.per_conv())]
        wait = max(w.wait(now) for w in windows)
        if wait > 0:
            self.throttled += 1
            return 429, wait
        for w in windows:
            w.add(now)  # a request the platform saw counts against the limit, even if it then fails
        if self.rand.random() < self.error_rate:
            self.errors += 1
            return 500 if self.platform == "slack" else 502, 0.0
        return 200, 0.0

    def record(self, conv: str, ref: str) -> None:
        now = time.monotonic()
        self.first = self.first if self.first is not None else now
        self.last = now
        self.by_ref[ref] += 1
        self.messages[conv].append(ref)

    async def slack_post(self, request: web.Request) -> web.Response:
        body = await request.json()
        conv, ref = body["channel"], body.get("metadata", {}).get("event_payload", {}).get("outbox_ref", "")
        status, retry = self.admit(conv)
        if status == 429:
            headers = {"Retry-After": str(max(1, math.ceil(retry)))}
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
        if status != 200:
            return web.json_response({"ok": False, "error": "internal_error"}, status=status)
        self.record(conv, ref)
        return web.json_response({"ok": True, "channel": conv, "ts": f"{time.time():.6f}"})

    async def slack_history(self, request: web.Request) -> web.Response:
        conv = request.query.get("channel", "")
        msgs = [
            {"ts": f"{i}.0", "metadata": {"event_payload": {"outbox_ref": r}}}
            for i, r in enumerate(self.messages.get(conv, []))
        ]
        return web.json_response({"ok": True, "messages": msgs})

    async def teams_post(self, request: web.Request) -> web.Response:
        conv = request.match_info["conv"]
        body = await request.json()
        ref = body.get("channelData", {}).get("outboxRef", "")
        status, retry = self.admit(conv)
        if status == 429:
            headers = {"Retry-After": f"{retry:.2f}"}
            return web.json_response({"error": {"code": "Throttled"}}, status=429, headers=headers)
        if status != 200:
            return web.json_response({"error": {"code": "ServiceError"}}, status=status)
        self.record(conv, ref)
        return web.json_response({"id": f"act-{len(self.by_ref)}"})

    async def stats(self, request: web.Request) -> web.Response:
        total = sum(self.by_ref.values())
        return web.json_response(
            {
                "accepted": total,
                "unique": len(self.by_ref),
                "duplicates": total - len(self.by_ref),
                "throttled": self.throttled,
                "errors": self.errors,
                "span": (self.last - self.first) if self.first is not None and self.last is not None else 0.0,
                "duplicate_refs": [r for r, n in self.by_ref.items() if n > 1][:50],
            }
        )


def app(platform: str, rate: int) -> web.Application:
    mock = Mock(platform, rate)
    a = web.Application()
    a.router.add_post("/api/chat.postMessage", mock.slack_post)
    a.router.add_get("/api/conversations.history", mock.slack_history)
    a.router.add_post("/v3/conversations/{conv}/activities", mock.teams_post)
    a.router.add_get("/stats", mock.stats)
    return a


if __name__ == "__main__":
    platform, port, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps({"mock": platform, "port": port, "rate": rate}), flush=True)
    web.run_app(app(platform, rate), host="127.0.0.1", port=port, print=None, access_log=None)
