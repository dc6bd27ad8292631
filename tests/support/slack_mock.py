"""A local mock of the Slack Web API (aiohttp on 127.0.0.1) that answers like Slack and records every call.

    api = SlackMock(); await api.start()          # api.api_url → SLACK_API_URL
    api.fail("chat.postMessage", error="channel_not_found")           # next call answers ok:false
    api.fail("chat.postMessage", status=429, retry_after=1, times=2)  # two 429s, then normal answers
    api.rate_limit("chat.postMessage", per_channel=1.0, per_workspace_per_minute=600)
    call = await api.wait("chat.postMessage")     # the first such call (waits, no sleeping)
    api.calls("chat.postMessage")[-1].text        # text + every block's text, flattened

Also serves response_url posts (recorded as method "response_url") at `api.response_url()`, Socket Mode
(`api.socket`, see tests/support/slack_socket.py) and OAuth with token rotation: with `api.oauth_rotation` on,
oauth.v2.access hands out tokens that expire after `api.oauth_expires_in` seconds (calls with an expired token
answer `token_expired`) and a refresh token for `grant_type=refresh_token`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.slack_socket import SocketModeServer


@dataclass
class SlackCall:
    method: str
    params: dict[str, Any]
    token: str | None
    team: str
    status: int = 200
    result: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.result.get("ok"))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        view = self.params.get("view")
        if isinstance(view, dict):
            return list(view.get("blocks") or [])
        return list(self.params.get("blocks") or [])

    @property
    def text(self) -> str:
        """The fallback text and every text in the blocks, one per line (what a person would read)."""
        parts = [str(self.params.get("text") or "")]
        stack: list[Any] = list(self.blocks)
        while stack:
            item = stack.pop(0)
            if isinstance(item, dict):
                for k, v in item.items():
                    if k == "text" and isinstance(v, str):
                        parts.append(v)
                    elif isinstance(v, dict | list):
                        stack.append(v)
            elif isinstance(item, list):
                stack.extend(item)
        return "\n".join(p for p in parts if p)

    def action_ids(self) -> list[str]:
        found: list[str] = []
        for block in self.blocks:
            for el in block.get("elements") or []:
                if isinstance(el, dict) and el.get("action_id"):
                    found.append(el["action_id"])
            acc = block.get("accessory") or {}
            if acc.get("action_id"):
                found.append(acc["action_id"])
        return found

    def button(self, label: str) -> dict[str, Any]:
        for block in self.blocks:
            for el in block.get("elements") or []:
                if isinstance(el, dict) and el.get("type") == "button" and label.lower() in el["text"]["text"].lower():
                    return el
        raise LookupError(f"no button like {label!r} in {self.method}")


@dataclass
class _Fault:
    status: int = 200
    error: str | None = None
    retry_after: float | None = None
    times: int = 1


class _Bucket:
    def __init__(self, rate_per_sec: float, burst: float) -> None:
        self.rate, self.capacity, self.tokens, self.t = rate_per_sec, burst, burst, time.monotonic()

    def take(self) -> float:
        """0 when allowed, else seconds until a token is free."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class SlackMock:
    def __init__(self, *, team: str = "T1", bot_user_id: str = "UBOT") -> None:
        self.team = team
        self.bot_user_id = bot_user_id
        self.records: list[SlackCall] = []
        self.ok_counts: dict[str, int] = {}  # successful calls by method, kept as they come (for /_stats)
        self.users: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}  # token -> team
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.faults: dict[str, list[_Fault]] = {}
        self.limits: dict[str, tuple[float | None, float | None, float]] = {}
        self.buckets: dict[tuple[str, ...], _Bucket] = {}
        self.oauth_team = "T2"
        self.oauth_rotation = False
        self.oauth_expires_in = 43200  # Slack's 12 hours
        self.oauth_client: tuple[str, str] | None = None  # (client id, secret) oauth.v2.access insists on, if set
        self.expires: dict[str, float] = {}  # rotating access token -> epoch seconds it expires at
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> team
        self.revoked: set[str] = set()  # tokens answered with `token_revoked` (an uninstall)
        self.socket = SocketModeServer()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{token}", self._response_url)
        app.router.add_get("/_stats", self._stats)
        app.router.add_get("/link/", self.socket.link)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.socket.base_ws = f"ws://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        await self.socket.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, token: str = "") -> str:
        return f"{self.url}/response/{token or next(self._ts)}"

    # ------------------------------------------------------------ test controls

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        team: str | None = None,
        tz: str = "Europe/Berlin",
        locale: str = "en-GB",
        profile: dict[str, Any] | None = None,
        is_bot: bool = False,
    ) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": team or self.team,
            "name": (name or user_id).lower(),
            "real_name": name or f"User {user_id}",
            "tz": tz,
            "locale": locale,
            "is_bot": is_bot,
            "profile": {"real_name": name or f"User {user_id}", "display_name": name or "", **(profile or {})},
        }

    def fail(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` answer with HTTP `status` (429 gets Retry-After) or ok:false."""
        self.faults.setdefault(method, []).append(_Fault(status, error, retry_after, times))

    def rate_limit(
        self,
        method: str = "chat.postMessage",
        *,
        per_channel: float | None = 1.0,
        per_workspace_per_minute: float | None = None,
        burst: float = 3.0,
    ) -> None:
        """Answer 429 (with Retry-After) above `per_channel` posts/s per channel or the workspace-wide rate."""
        self.limits[method] = (per_channel, per_workspace_per_minute, burst)

    def calls(self, method: str | None = None, *, include_failed: bool = False) -> list[SlackCall]:
        return [c for c in self.records if (method is None or c.method == method) and (include_failed or c.ok)]

    def count(self, method: str) -> int:
        return len(self.calls(method))

    async def wait(self, method: str, count: int = 1, timeout: float = 10.0) -> SlackCall:
        """The `count`-th successful call of `method`, waiting for it if needed."""

        def ready() -> bool:
            return len(self.calls(method)) >= count

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(ready)
        return self.calls(method)[count - 1]

    def reset(self) -> None:
        self.records.clear()
        self.ok_counts.clear()
        self.faults.clear()

    # ------------------------------------------------------------ serving

    async def _record(self, call: SlackCall) -> None:
        self.records.append(call)
        if call.ok:
            self.ok_counts[call.method] = self.ok_counts.get(call.method, 0) + 1
        async with self._changed:
            self._changed.notify_all()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                params.update(json.loads(raw))
            else:
                params.update(dict(parse_qsl(raw.decode())))
        for key in ("blocks", "view", "metadata", "attachments"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        return params

    async def _stats(self, request: web.Request) -> web.Response:
        """Call counts by method (for benchmarks that run the mock in another process and poll it: O(1), not a
        walk over every record, so the polling takes no CPU from the server under test)."""
        return web.json_response(self.ok_counts)

    async def _response_url(self, request: web.Request) -> web.Response:
        """A response_url post; `fail("response_url", status=…)` answers the next ones with that HTTP status."""
        params = await self._params(request)
        params["_token"] = request.match_info["token"]
        call = SlackCall("response_url", params, None, self.team, result={"ok": True})
        fault = self._fault("response_url")
        if fault is not None and fault.status != 200:
            call.status, call.result = fault.status, {"ok": False}
            await self._record(call)
            retry = {"Retry-After": str(int(fault.retry_after or 1))} if fault.status == 429 else {}
            return web.Response(status=fault.status, text="rate_limited" if retry else "error", headers=retry)
        await self._record(call)
        return web.json_response({"ok": True})

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else params.get("token")
        team = self.tokens.get(token or "", self.team)
        call = SlackCall(method, params, token, team)
        headers: dict[str, str] = {}
        fault = self._fault(method)
        wait = 0.0 if fault else self._limited(method, team, str(params.get("channel", "")))
        if token in self.revoked:
            call.result = {"ok": False, "error": "token_revoked"}
        elif token in self.expires and self.expires[token] <= time.time() and method != "oauth.v2.access":
            call.result = {"ok": False, "error": "token_expired"}
        elif fault is not None:
            call.status = fault.status
            if fault.status == 429:
                headers["Retry-After"] = str(int(fault.retry_after if fault.retry_after is not None else 1))
                call.result = {"ok": False, "error": "ratelimited"}
            elif fault.status >= 500:
                call.result = {"ok": False, "error": "internal_error"}
            else:
                call.result = {"ok": False, "error": fault.error or "unknown_error"}
        elif wait > 0:
            call.status = 429
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
            call.result = {"ok": False, "error": "ratelimited"}
        else:
            call.result = self._answer(method, params, team, token, _basic_auth(auth))
        await self._record(call)
        if call.status >= 500:
            return web.Response(status=call.status, text="upstream trouble")
        return web.json_response(call.result, status=call.status, headers=headers)

    def _fault(self, method: str) -> _Fault | None:
        queue = self.faults.get(method) or []
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def _limited(self, method: str, team: str, channel: str) -> float:
        limit = self.limits.get(method)
        if limit is None:
            return 0.0
        per_channel, per_minute, burst = limit
        waits = []
        if per_channel:
            b = self.buckets.setdefault((method, team, channel), _Bucket(per_channel, burst))
            waits.append(b.take())
        if per_minute:
            b = self.buckets.setdefault((method, team), _Bucket(per_minute / 60.0, max(burst, per_minute / 60.0)))
            waits.append(b.take())
        return max(waits) if waits else 0.0

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def _user(self, user_id: str) -> dict[str, Any]:
        if user_id not in self.users:
            self.add_user(user_id)
        return self.users[user_id]

    def _answer(
        self, method: str, p: dict[str, Any], team: str, token: str | None = None, basic: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        if method == "apps.connections.open":
            return self.socket.open_url(token)
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test",
                "user": "uptake",
                "team_id": team,
                "user_id": self.bot_user_id,
                "bot_id": "BBOT",
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            channel = str(p.get("channel", ""))
            if channel.startswith("U") or channel.startswith("W"):
                channel = "D" + channel[1:]
            msg = {
                "type": "message",
                "ts": self._next_ts(),
                "text": p.get("text", ""),
                "blocks": p.get("blocks"),
                "user": self.bot_user_id,
                "bot_id": "BBOT",
                "metadata": p.get("metadata"),
            }
            self.history.setdefault(channel, []).append(msg)
            return {"ok": True, "channel": channel, "ts": msg["ts"], "message": msg}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "chat.update":
            return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts"), "text": p.get("text", "")}
        if method == "chat.getPermalink":
            ts = str(p.get("message_ts", "")).replace(".", "")
            return {
                "ok": True,
                "channel": p.get("channel"),
                "permalink": f"https://test.slack.com/archives/{p.get('channel')}/p{ts}",
            }
        if method in ("views.open", "views.push", "views.update", "views.publish"):
            view = dict(p.get("view") or {})
            view.update(id=p.get("view_id") or f"V{next(self._views):06d}", hash=f"h{next(self._ts)}", team_id=team)
            return {"ok": True, "view": view}
        if method == "users.info":
            return {"ok": True, "user": self._user(str(p.get("user", "")))}
        if method == "conversations.open":
            user = str(p.get("users", "")).split(",")[0]
            return {"ok": True, "channel": {"id": "D" + user[1:]}}
        if method == "conversations.history":
            oldest = float(p.get("oldest") or 0)
            keep_meta = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
            found = [dict(m) for m in self.history.get(str(p.get("channel", "")), []) if float(m["ts"]) > oldest]
            for m in found:
                if not keep_meta:
                    m.pop("metadata", None)
            return {"ok": True, "messages": list(reversed(found)), "has_more": False}
        if method == "oauth.v2.access":
            return self._oauth(p, basic)
        return {"ok": True}

    def _oauth(self, p: dict[str, Any], basic: tuple[str, str] | None) -> dict[str, Any]:
        """An install (`code`) or, with rotation, a refresh (`grant_type=refresh_token`): a new access token."""
        if self.oauth_client is not None:
            given = basic or (str(p.get("client_id", "")), str(p.get("client_secret", "")))
            if given[0] != self.oauth_client[0]:
                return {"ok": False, "error": "invalid_client_id"}
            if given[1] != self.oauth_client[1]:
                return {"ok": False, "error": "bad_client_secret"}
        n = next(self._ts)
        refreshing = p.get("grant_type") == "refresh_token"
        team = self.oauth_team
        if refreshing:
            known = self.refresh_tokens.get(str(p.get("refresh_token")))
            if known is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            team = known
        # Slack's rotating tokens carry the `xoxe.` prefix.
        token = f"xoxe.xoxb-{team}-{n}" if refreshing or self.oauth_rotation else f"xoxb-{team}-{n}"
        self.tokens[token] = team
        body: dict[str, Any] = {
            "ok": True,
            "app_id": "A1",
            "scope": "chat:write,commands",
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": self.bot_user_id,
            "team": {"id": team, "name": "Second team"},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if not refreshing:
            body["authed_user"] = {"id": "U1"}
        if self.oauth_rotation or refreshing:
            refresh = f"xoxe-1-{team}-{n}"
            self.refresh_tokens[refresh] = team
            self.expires[token] = time.time() + self.oauth_expires_in
            body.update(refresh_token=refresh, expires_in=self.oauth_expires_in)
        return body


def _basic_auth(header: str) -> tuple[str, str] | None:
    """(client id, secret) from an HTTP Basic Authorization header (how slack_sdk sends oauth.v2.access's)."""
    if not header.startswith("Basic "):
        return None
    try:
        user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, secret
