"""Drive the REAL Uptake server through its Slack endpoint, with a mock Slack Web API behind it.

    async def test_help(slack):
        resp = await slack.command("help", user="U1")          # a signed /uptake slash command
        assert resp.status == 200
        reply = await slack.api.wait("response_url")            # Uptake answers after the ack
        assert "What I can do" in reply.text

`slack.dm(...)`, `slack.mention(...)`, `slack.click(...)`, `slack.select(...)`, `slack.shortcut(...)`,
`slack.home_opened(...)` and `slack.submit_view(view_call, {...})` send Slack's exact payload shapes, signed
with the test signing secret. `await slack.idle()` waits until every answer Uptake started was sent.
For a custom registry or settings: `async with slack_app(db_url, reg=my_registry, **settings) as slack: …`
(or the `slack_with` fixture).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web

from bot.clock import Clock, FrozenClock
from bot.config import ROOT, Settings
from bot.db import Database
from bot.registry import Registry
from bot.runtime import Runtime
from tests.support.slack_mock import SlackCall, SlackMock

SIGNING_SECRET = "test-signing-secret-8f742231b10e"
BOT_TOKEN = "xoxb-test-T1"
TEAM = "T1"

_ids = itertools.count(1)


@dataclass
class SlackResponse:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackDriver:
    """A Slack workspace talking to Uptake: signed inbound requests, and the mock Web API for what comes back."""

    def __init__(self, url: str, api: SlackMock, rt: Runtime, http: aiohttp.ClientSession, team: str = TEAM) -> None:
        self.url = url
        self.api = api
        self.rt = rt
        self.http = http
        self.team = team
        self.command_name = rt.settings.slack_command

    @property
    def adapter(self) -> Any:
        return self.rt.extras["slack"]

    async def idle(self) -> None:
        """Wait until Uptake has sent every answer to the requests made so far."""
        await self.adapter.idle()

    # ------------------------------------------------------------ raw

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/slack/events",
    ) -> SlackResponse:
        ts = int(time.time()) if timestamp is None else timestamp
        hdrs = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature if signature is not None else sign(body, ts),
            **(headers or {}),
        }
        async with self.http.post(self.url + path, data=body.encode(), headers=hdrs) as resp:
            return SlackResponse(resp.status, await resp.text(), dict(resp.headers))

    async def form(self, fields: dict[str, str], **kw: Any) -> SlackResponse:
        return await self.post(urlencode(fields), "application/x-www-form-urlencoded", **kw)

    async def interactive(self, payload: dict[str, Any], **kw: Any) -> SlackResponse:
        return await self.form({"payload": json.dumps(payload)}, **kw)

    # ------------------------------------------------------------ slash commands and events

    async def command(
        self, text: str, *, user: str = "U1", channel: str = "C1", trigger_id: str | None = None, **kw: Any
    ) -> SlackResponse:
        fields = {
            "token": "legacy-unused",
            "team_id": self.team,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": self.command_name,
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": self.api.response_url(),
            "trigger_id": trigger_id or f"trig.{next(_ids)}.{uuid.uuid4().hex[:8]}",
        }
        return await self.form(fields, **kw)

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        return {
            "token": "legacy-unused",
            "team_id": self.team,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team, "user_id": self.api.bot_user_id, "is_bot": True}],
        }

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None, **kw: Any
    ) -> SlackResponse:
        return await self.deliver_event(self.event_body(event, event_id=event_id), retry_num=retry_num, **kw)

    async def deliver_event(self, body: dict[str, Any], *, retry_num: int | None = None, **kw: Any) -> SlackResponse:
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return await self.post(json.dumps(body), "application/json", headers=headers, **kw)

    async def dm(self, text: str, *, user: str = "U1", channel: str | None = None, **kw: Any) -> SlackResponse:
        ts = f"{time.time():.6f}"
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": channel or "D" + user[1:],
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "team": self.team,
            "client_msg_id": str(uuid.uuid4()),
        }
        return await self.event(event, **kw)

    async def mention(self, text: str, *, user: str = "U1", channel: str = "C1", **kw: Any) -> SlackResponse:
        ts = f"{time.time():.6f}"
        event = {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "ts": ts,
            "event_ts": ts,
            "text": f"<@{self.api.bot_user_id}> {text}",
            "team": self.team,
        }
        return await self.event(event, **kw)

    async def home_opened(self, *, user: str = "U1", **kw: Any) -> SlackResponse:
        event = {
            "type": "app_home_opened",
            "user": user,
            "channel": "D" + user[1:],
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        return await self.event(event, **kw)

    # ------------------------------------------------------------ interactivity

    async def click(
        self,
        action_id: str,
        value: str = "",
        *,
        user: str = "U1",
        channel: str = "C1",
        message_ts: str = "1700000000.000100",
        action_ts: str | None = None,
        view: dict[str, Any] | None = None,
        element: dict[str, Any] | None = None,
        **kw: Any,
    ) -> SlackResponse:
        """A block_actions payload for a button (or `element` for other kinds) on a message, or in `view`."""
        payload = self.click_payload(
            action_id,
            value,
            user=user,
            channel=channel,
            message_ts=message_ts,
            action_ts=action_ts,
            view=view,
            element=element,
        )
        return await self.interactive(payload, **kw)

    def click_payload(
        self,
        action_id: str,
        value: str = "",
        *,
        user: str = "U1",
        channel: str = "C1",
        message_ts: str = "1700000000.000100",
        action_ts: str | None = None,
        view: dict[str, Any] | None = None,
        element: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        action = element or {
            "type": "button",
            "action_id": action_id,
            "block_id": "b1",
            "value": value,
            "text": {"type": "plain_text", "text": "x"},
        }
        action = {"action_id": action_id, "block_id": "b1", **action, "action_ts": action_ts or f"{time.time():.6f}"}
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": self.team},
            "api_app_id": "A1",
            "token": "legacy-unused",
            "team": {"id": self.team, "domain": "test"},
            "trigger_id": f"trig.{next(_ids)}",
            "actions": [action],
            "is_enterprise_install": False,
        }
        if view is not None:
            payload.update(container={"type": "view", "view_id": view.get("id")}, view=view)
        else:
            payload.update(
                container={"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
                channel={"id": channel, "name": "general"},
                message={"type": "message", "ts": message_ts, "text": "…", "user": self.api.bot_user_id},
                response_url=self.api.response_url(),
            )
        return payload

    async def select(self, action_id: str, value: str, **kw: Any) -> SlackResponse:
        element = {
            "type": "static_select",
            "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
        }
        return await self.click(action_id, element=element, **kw)

    async def shortcut(
        self,
        callback_id: str,
        *,
        message_text: str = "",
        user: str = "U1",
        channel: str = "C1",
        message_ts: str = "1700000123.000200",
        **kw: Any,
    ) -> SlackResponse:
        payload = {
            "type": "message_action",
            "callback_id": callback_id,
            "trigger_id": f"trig.{next(_ids)}",
            "user": {"id": user, "username": user.lower(), "team_id": self.team},
            "team": {"id": self.team},
            "channel": {"id": channel, "name": "general"},
            "response_url": self.api.response_url(),
            "message_ts": message_ts,
            "token": "legacy-unused",
            "api_app_id": "A1",
            "message": {"type": "message", "user": "U9", "ts": message_ts, "text": message_text},
        }
        return await self.interactive(payload, **kw)

    async def submit_view(
        self, view: SlackCall | dict[str, Any], values: dict[str, Any], *, user: str = "U1", **kw: Any
    ) -> SlackResponse:
        """Submit a modal as Slack would: `view` is the views.open/push call (or the view dict with its id)."""
        if isinstance(view, SlackCall):
            view = view.result["view"]
        state: dict[str, Any] = {}
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                continue
            element = block["element"]
            state[block["block_id"]] = {element["action_id"]: _state(element, values.get(block["block_id"]))}
        submitted = {**view, "state": {"values": state}}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team, "domain": "test"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team},
            "api_app_id": "A1",
            "token": "legacy-unused",
            "trigger_id": f"trig.{next(_ids)}",
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
        }
        return await self.interactive(payload, **kw)


class SocketDriver(SlackDriver):
    """The same workspace over Socket Mode: every payload travels as an envelope on the mock's WebSocket, and
    the answer is the app's ack (its `payload`, e.g. `response_action: errors`, becomes the response body)."""

    async def post(self, body: str, content_type: str, **kw: Any) -> SlackResponse:
        raise AssertionError("Socket Mode has no HTTP endpoint; send envelopes")

    async def envelope(self, kind: str, payload: dict[str, Any], **kw: Any) -> SlackResponse:
        sent = await self.api.socket.send(kind, payload, **kw)
        assert sent.ack is not None
        answer = sent.ack.get("payload")
        return SlackResponse(200, json.dumps(answer) if answer else "", {"envelope_id": sent.envelope_id})

    async def form(self, fields: dict[str, str], **kw: Any) -> SlackResponse:
        if "payload" in fields:
            return await self.envelope("interactive", json.loads(fields["payload"]))
        return await self.envelope("slash_commands", fields)

    async def deliver_event(self, body: dict[str, Any], *, retry_num: int | None = None, **kw: Any) -> SlackResponse:
        retry = {"retry_attempt": retry_num, "retry_reason": "timeout"} if retry_num else {}
        return await self.envelope("events_api", body, **retry)


def _state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    kind = element["type"]
    if kind in ("static_select", "radio_buttons"):
        return {"type": kind, "selected_option": {"value": value} if value is not None else None}
    if kind in ("multi_static_select",):
        return {"type": kind, "selected_options": [{"value": v} for v in value or []]}
    if kind == "checkboxes":
        return {"type": kind, "selected_options": [{"value": "yes"}] if value else []}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "timepicker":
        return {"type": kind, "selected_time": value}
    return {"type": kind, "value": None if value is None else str(value)}


def slack_settings(db_url: str, api_url: str, content_dir: Path = ROOT / "content", **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "content_dir": content_dir,
        "admins": "console:local:root",
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": api_url,
        "slack_app_token": None,
        "slack_client_id": None,
        "slack_client_secret": None,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def slack_app(
    db_url: str,
    *,
    clock: Clock | None = None,
    reg: Registry | None = None,
    api: SlackMock | None = None,
    **settings: Any,
) -> AsyncIterator[SlackDriver]:
    """The real Uptake server (bot.web.build_app) on a free port, with SLACK_API_URL at a mock Slack.

    Pass a started `api` to run several servers (replicas) against one mock Slack; its owner stops it."""
    from bot.web import build_app

    own_api = api is None
    api = api or SlackMock()
    if own_api:
        await api.start()
    rt = Runtime(
        slack_settings(db_url, api.api_url, **settings), db=Database(db_url), clock=clock or FrozenClock(), reg=reg
    )
    rt.load_content()
    connections = len(api.socket.sockets)
    app = await build_app(rt)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as http:
        driver = SocketDriver if rt.settings.slack_app_token is not None else SlackDriver
        try:
            if driver is SocketDriver:
                await api.socket.connected(connections + 1)
            yield driver(f"http://127.0.0.1:{port}", api, rt, http)
        finally:
            await runner.cleanup()
            await rt.close()
            if own_api:
                await api.stop()


@pytest.fixture
async def slack(db_url: str, clock: FrozenClock) -> AsyncIterator[SlackDriver]:
    async with slack_app(db_url, clock=clock) as driver:
        yield driver


@pytest.fixture
def slack_with(db_url: str, clock: FrozenClock) -> Callable[..., AbstractAsyncContextManager[SlackDriver]]:
    """`async with slack_with(reg=registry, slack_command="/x") as slack:` — the server with your own setup."""

    def make(**kw: Any) -> AbstractAsyncContextManager[SlackDriver]:
        return slack_app(db_url, clock=kw.pop("clock", clock), **kw)

    return make
