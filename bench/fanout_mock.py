"""Mock Slack Web API and Teams Bot Connector for the fan-out bench: rate limits with 429 Retry-After, 1% 5xx.

It speaks the shapes the real clients use, so the bench runs Uptake's own senders against it: Slack's
`chat.postMessage` (JSON body from slack_sdk's AsyncWebClient, the outbox ref in `metadata`, a DM addressed by
user id lands in the "D…" channel), `conversations.open` (form body) and `conversations.history` (GET, `oldest`,
`include_all_metadata`); the Bot Connector's `POST /v3/conversations/{id}/activities` (botbuilder's connector
client, answered with a ResourceResponse). Run as its own process (`python bench/fanout_mock.py slack PORT RATE`)
so it does not share a CPU budget with the sender's event loop. It counts accepted messages per recipient (Slack:
the outbox ref; Teams: the conversation, one per person in the bench), so the bench can count duplicates and
losses, and reports the monotonic time of the first and last acceptance (CLOCK_MONOTONIC is system-wide).
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
        self.messages: dict[str, list[tuple[float, str]]] = defaultdict(list)  # channel -> (ts, ref), for history
        self.throttled = 0
        self.errors = 0
        self.first: float | None = None
        self.per_second: dict[int, int] = defaultdict(int)  # accepted messages per second since the first
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

    def record(self, key: str) -> None:
        now = time.monotonic()
        self.first = self.first if self.first is not None else now
        self.last = now
        self.by_ref[key] += 1
        self.per_second[int(now - self.first)] += 1

    @staticmethod
    def dm_channel(channel: str) -> str:
        """chat.postMessage to a user id posts into the app's DM with them ("U123" -> "D123")."""
        return "D" + channel[1:] if channel.startswith(("U", "W")) else channel

    async def slack_post(self, request: web.Request) -> web.Response:
        body = await request.json()
        channel = self.dm_channel(str(body["channel"]))
        meta = body.get("metadata") or {}
        ref = str((meta.get("event_payload") or {}).get("ref", ""))
        status, retry = self.admit(channel)
        if status == 429:
            headers = {"Retry-After": str(max(1, math.ceil(retry)))}
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
        if status != 200:
            return web.json_response({"ok": False, "error": "internal_error"}, status=status)
        ts = time.time()
        self.record(ref or f"{channel}:{ts}")
        self.messages[channel].append((ts, json.dumps(meta)))
        return web.json_response({"ok": True, "channel": channel, "ts": f"{ts:.6f}"})

    async def slack_open(self, request: web.Request) -> web.Response:
        form = await request.post()
        users = str(form.get("users") or request.query.get("users", ""))
        return web.json_response({"ok": True, "channel": {"id": self.dm_channel(users.split(",")[0])}})

    async def slack_history(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel", "")
        oldest = float(request.query.get("oldest", "0") or 0)
        with_meta = request.query.get("include_all_metadata") in ("1", "true", "True")
        msgs = []
        for ts, meta in reversed(self.messages.get(channel, [])):  # newest first, like Slack
            if ts > oldest:
                msg = {"type": "message", "ts": f"{ts:.6f}", "text": ""}
                if with_meta and meta != "{}":
                    msg["metadata"] = json.loads(meta)
                msgs.append(msg)
        return web.json_response({"ok": True, "messages": msgs, "has_more": False})

    async def teams_post(self, request: web.Request) -> web.Response:
        conv = request.match_info["conv"]
        await request.json()
        status, retry = self.admit(conv)
        if status == 429:
            headers = {"Retry-After": f"{retry:.2f}"}
            return web.json_response({"error": {"code": "Throttled"}}, status=429, headers=headers)
        if status != 200:
            return web.json_response({"error": {"code": "ServiceError"}}, status=status)
        self.record(conv)
        return web.json_response({"id": f"act-{sum(self.by_ref.values())}"})

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
                "first": self.first,
                "last": self.last,
                "duplicate_refs": [r for r, n in self.by_ref.items() if n > 1][:50],
                "per_second": [self.per_second.get(i, 0) for i in range(max(self.per_second, default=-1) + 1)],
            }
        )


def app(platform: str, rate: int) -> web.Application:
    mock = Mock(platform, rate)
    a = web.Application()
    a.router.add_post("/api/chat.postMessage", mock.slack_post)
    a.router.add_post("/api/conversations.open", mock.slack_open)
    a.router.add_get("/api/conversations.history", mock.slack_history)
    a.router.add_post("/v3/conversations/{conv}/activities", mock.teams_post)
    a.router.add_get("/stats", mock.stats)
    return a


if __name__ == "__main__":
    platform, port, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps({"mock": platform, "port": port, "rate": rate}), flush=True)
    web.run_app(app(platform, rate), host="127.0.0.1", port=port, print=None, access_log=None)
