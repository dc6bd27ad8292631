"""Socket Mode (SLACK_APP_TOKEN set): the real server connects through slack_sdk's Socket Mode client to the mock's
WebSocket, and behaves as over HTTP — the HTTP scenarios imported below run again here, with every payload sent
as an envelope and every answer read from the app's ack."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
import pytest
import typer
from aiohttp import web

from bot.db import Database
from bot.runtime import Runtime
from bot.web import build_app
from tests.slack.probe import Probe, make_probe
from tests.slack.test_entry_points import (  # noqa: F401  (collected again here, over Socket Mode)
    test_dm_reaches_the_router_as_text_and_is_answered_in_the_dm,
    test_empty_slash_command_is_help,
    test_mention_is_stripped_and_answered_ephemerally_in_the_thread,
    test_own_and_other_bots_messages_and_edits_are_ignored,
    test_slash_command_help_is_acked_then_answered_ephemerally,
)
from tests.slack.test_interactivity import (  # noqa: F401
    test_app_home_is_published_with_capability_sections,
    test_button_click_reaches_the_action_and_replace_updates_the_message,
    test_dm_form_without_trigger_is_offered_behind_a_button,
    test_invalid_submission_answers_errors_inline_and_stores_nothing,
    test_message_shortcut_prefills_from_the_message_and_its_permalink,
    test_select_routes_the_chosen_value,
    test_slash_command_opens_a_modal_with_the_trigger_id,
    test_the_same_submission_twice_has_one_effect,
    test_unknown_action_says_expired_as_an_ephemeral,
    test_valid_submission_is_coerced_closes_the_modal_and_answers_where_it_started,
)
from tests.support.slack_fixtures import SlackDriver, SocketDriver, slack_settings
from tests.support.slack_mock import SlackMock

APP_TOKEN = "xapp-1-A1-1234-socketmodetoken"
SOCKET = {"slack_app_token": APP_TOKEN, "slack_signing_secret": None}


@pytest.fixture
async def slack(
    slack_with: Callable[..., AbstractAsyncContextManager[SlackDriver]],
) -> AsyncIterator[SlackDriver]:
    async with slack_with(**SOCKET) as driver:
        yield driver


@pytest.fixture
def probe() -> Probe:
    return make_probe()


@pytest.fixture
async def pslack(
    slack_with: Callable[..., AbstractAsyncContextManager[SlackDriver]], probe: Probe
) -> AsyncIterator[SlackDriver]:
    async with slack_with(reg=probe.reg, **SOCKET) as driver:
        yield driver


def _dm_event(slack: SlackDriver, text: str, user: str = "U1") -> dict[str, Any]:
    ts = f"{time.time():.6f}"
    return {
        "type": "message",
        "channel_type": "im",
        "channel": "D" + user[1:],
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "team": slack.team,
    }


async def test_connects_with_the_app_token_and_has_no_http_endpoint(slack: SlackDriver) -> None:
    assert isinstance(slack, SocketDriver)
    opened = slack.api.calls("apps.connections.open")
    assert len(opened) == 1 and opened[0].token == APP_TOKEN
    async with slack.http.post(slack.url + "/slack/events", data=b"{}") as resp:
        assert resp.status == 404  # nothing listens for Slack over HTTP: the install can stay behind a firewall
    async with slack.http.get(slack.url + "/healthz") as resp:
        assert "slack" in (await resp.json())["platforms"]


async def test_slash_command_ack_is_empty_and_help_comes_through_the_response_url(slack: SlackDriver) -> None:
    resp = await slack.command("help", user="U1")
    envelope = slack.api.socket.envelopes[resp.headers["envelope_id"]]
    assert envelope.accepts_response_payload and envelope.ack == {"envelope_id": envelope.envelope_id}
    reply = await slack.api.wait("response_url")
    assert "What I can do" in reply.text and reply.params["response_type"] == "ephemeral"


async def test_view_submission_errors_travel_in_the_ack_payload(pslack: SlackDriver, probe: Probe) -> None:
    await pslack.command("file")
    view = await pslack.api.wait("views.open")
    resp = await pslack.submit_view(view, {"title": "bad", "severity": "low", "count": "3"})
    envelope = pslack.api.socket.envelopes[resp.headers["envelope_id"]]
    assert envelope.accepts_response_payload
    assert envelope.ack == {
        "envelope_id": envelope.envelope_id,
        "payload": {"response_action": "errors", "errors": {"title": "Too vague: say what is slow."}},
    }
    assert probe.filed == []


async def test_retried_envelope_of_one_event_has_one_effect(slack: SlackDriver) -> None:
    body = slack.event_body(_dm_event(slack, "help"), event_id="Ev0SOCKETRETRY")
    for attempt in (0, 1, 2, 3):
        # Slack re-sends an unacknowledged event as a new envelope carrying the same event_id.
        retry = {"retry_attempt": attempt, "retry_reason": "timeout"} if attempt else {}
        envelope = await slack.api.socket.send("events_api", body, **retry)
        assert envelope.ack == {"envelope_id": envelope.envelope_id}
    await slack.idle()
    assert slack.api.count("chat.postMessage") == 1
    assert len({e.envelope_id for e in slack.api.socket.envelopes.values()}) == 4


async def test_double_click_over_the_socket_has_one_effect(pslack: SlackDriver, probe: Probe) -> None:
    t0 = time.time()
    await pslack.click("probe.ok", "go", action_ts=f"{t0:.6f}")
    await pslack.click("probe.ok", "go", action_ts=f"{t0 + 0.2:.6f}")
    await pslack.idle()
    assert probe.clicks == ["go"]


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
async def test_reconnects_after_slack_asks_and_keeps_answering(slack: SlackDriver, reason: str) -> None:
    await slack.dm("help", user="U1")
    await slack.api.wait("chat.postMessage")
    first = slack.api.socket.sockets[0]
    await slack.api.socket.disconnect(reason)
    second = await slack.api.socket.connected(2)
    assert first.closed and not second.closed
    assert slack.api.count("apps.connections.open") == 2  # a fresh URL: a ticket is good for one connection
    resp = await slack.dm("whoami", user="U1")
    assert slack.api.socket.envelopes[resp.headers["envelope_id"]].connection == 2
    msg = await slack.api.wait("chat.postMessage", 2)
    assert "You are" in msg.text
    assert slack.api.socket.stray == [] and slack.api.socket.refused == 0


async def test_reconnects_after_the_connection_drops_without_a_word(slack: SlackDriver) -> None:
    await slack.api.socket.drop()
    await slack.api.socket.connected(2)
    await slack.command("help")
    reply = await slack.api.wait("response_url")
    assert "What I can do" in reply.text


async def test_envelopes_stay_out_of_the_logs_even_at_debug(
    pslack: SlackDriver, caplog: pytest.LogCaptureFixture
) -> None:
    levels = {name: logging.getLogger(name).level for name in ("slack_bolt", "slack_sdk")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)  # an operator turning Slack logs all the way up
    try:
        caplog.set_level(logging.DEBUG)
        await pslack.dm("echo anonymous answer 4711", user="U1")
        await pslack.api.wait("chat.postMessage")
        await pslack.command("file")
        view = await pslack.api.wait("views.open")
        await pslack.submit_view(view, {"title": "bad", "body": "anonymous body 4712", "severity": "low", "count": "3"})
        await pslack.idle()
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    slack_lines = [r.getMessage() for r in caplog.records if r.name.startswith(("slack_bolt", "slack_sdk"))]
    assert any("[redacted]" in line for line in slack_lines)  # the socket client did log the envelopes
    assert "4711" not in caplog.text and "4712" not in caplog.text


async def test_many_workspaces_install_over_http_and_talk_over_the_socket(slack_with: Any) -> None:
    from tests.slack.test_oauth import OAUTH, _install

    async with slack_with(**OAUTH, **SOCKET) as slack:
        slack: SlackDriver
        await _install(slack)
        slack.team = "T2"
        await slack.dm("whoami", user="U1")
        reply = await slack.api.wait("chat.postMessage")
        assert reply.token == slack.api.calls("oauth.v2.access")[0].result["access_token"]


async def test_two_replicas_on_one_app_token_share_the_work_with_one_effect(db_url: str, clock: Any) -> None:
    """Slack spreads an app's envelopes over all its connections: a retry or the second click of a double click
    can reach another replica, which sees the first one's key in the shared database."""
    from tests.support.slack_fixtures import slack_app

    probe = make_probe()
    api = SlackMock()
    await api.start()
    try:
        async with (
            slack_app(db_url, clock=clock, reg=probe.reg, api=api, **SOCKET) as one,
            slack_app(db_url, clock=clock, reg=probe.reg, api=api, **SOCKET) as two,
        ):
            body = one.event_body(_dm_event(one, "help"), event_id="Ev0TWOREPLICAS")
            await api.socket.send("events_api", body, connection=1)
            await one.idle()
            await api.socket.send("events_api", body, connection=2, retry_attempt=1, retry_reason="timeout")
            await two.idle()
            assert api.count("chat.postMessage") == 1
            t0 = time.time()
            for n, at in ((1, t0), (2, t0 + 0.3)):
                payload = one.click_payload("probe.ok", "go", action_ts=f"{at:.6f}")
                await api.socket.send("interactive", payload, connection=n)
            await one.idle()
            await two.idle()
            assert probe.clicks == ["go"]
    finally:
        await api.stop()


@asynccontextmanager
async def _starting(db_url: str, api: SlackMock, **settings: Any) -> AsyncIterator[web.AppRunner]:
    """The real app, started by hand (the `slack` fixture waits for the connection; these tests must not)."""
    rt = Runtime(slack_settings(db_url, api.api_url, **settings), db=Database(db_url))
    rt.load_content()
    runner = web.AppRunner(await build_app(rt))
    try:
        yield runner
    finally:
        await runner.cleanup()
        await rt.close()
        await api.stop()


async def test_a_refused_app_token_stops_the_start_with_slacks_code(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    api = SlackMock()
    await api.start()
    async with _starting(db_url, api, slack_app_token="xoxb-a-bot-token-by-mistake") as runner:
        with pytest.raises(typer.Exit):
            await runner.setup()
        assert "not_allowed_token_type" in caplog.text and "xoxb-a-bot-token" not in caplog.text
        assert api.socket.sockets == []


async def test_slack_unreachable_at_the_start_does_not_hold_the_server_back(db_url: str) -> None:
    api = SlackMock()
    await api.start()
    # Our first ask and slack_sdk's first connect attempt fail (each with the client's two retries); the client
    # then waits its ping interval (10 s) and tries again.
    api.fail("apps.connections.open", status=503, times=6)
    async with _starting(db_url, api, **SOCKET) as runner:
        async with asyncio.timeout(8):  # slack_sdk alone would wait 10 s before its second try
            await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
        assert api.socket.sockets == []
        await api.socket.connected(1, timeout=30)
        assert len(api.calls("apps.connections.open", include_failed=True)) == 7
