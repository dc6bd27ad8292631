"""Multi-workspace OAuth: install round trip with the mock's oauth.v2.access, per-workspace tokens, uninstall."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from bot.adapters.slack_install import BOTS, INSTALLATIONS
from bot.model import Message
from bot.runtime import SendError
from tests.support.slack_fixtures import SlackDriver

OAUTH = {"slack_bot_token": None, "slack_client_id": "111.222", "slack_client_secret": "client-secret"}


async def _install(slack: SlackDriver) -> None:
    async with slack.http.get(slack.url + "/slack/install", allow_redirects=False) as resp:
        assert resp.status == 200
        page = await resp.text()
        cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
    state = re.search(r"state=([\w-]+)", page)
    assert state is not None and "client_id=111.222" in page
    url = f"{slack.url}/slack/oauth_redirect?code=code-123&state={state.group(1)}"
    async with slack.http.get(url, headers={"Cookie": cookie}, allow_redirects=False) as resp:
        assert resp.status == 200, await resp.text()


async def _count(slack: SlackDriver, table) -> int:  # type: ignore[no-untyped-def]
    async with slack.rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_install_round_trip_then_send_with_that_workspaces_token(slack_with) -> None:  # type: ignore[no-untyped-def]
    async with slack_with(**OAUTH) as slack:
        slack: SlackDriver
        await _install(slack)
        access = slack.api.calls("oauth.v2.access")
        assert len(access) == 1 and access[0].params["code"] == "code-123"
        assert await _count(slack, INSTALLATIONS) == 1 and await _count(slack, BOTS) == 1
        ts = await slack.rt.senders["slack"].send_to_channel("T2", "C1", Message("hello second team"))
        post = slack.api.calls("chat.postMessage")[-1]
        assert ts and post.token == access[0].result["access_token"]


async def test_install_with_a_forged_state_is_refused(slack_with) -> None:  # type: ignore[no-untyped-def]
    async with slack_with(**OAUTH) as slack:
        url = f"{slack.url}/slack/oauth_redirect?code=code-123&state=forged"
        async with slack.http.get(url, headers={"Cookie": "slack-app-oauth-state=forged"}) as resp:
            assert resp.status >= 400
        assert slack.api.calls("oauth.v2.access") == []


async def test_uninstall_removes_the_tokens(slack_with) -> None:  # type: ignore[no-untyped-def]
    async with slack_with(**OAUTH) as slack:
        slack: SlackDriver
        await _install(slack)
        slack.team = "T2"
        resp = await slack.event({"type": "app_uninstalled", "event_ts": f"{time.time():.6f}"})
        assert resp.status == 200
        await slack.idle()
        assert await _count(slack, BOTS) == 0 and await _count(slack, INSTALLATIONS) == 0
        with pytest.raises(SendError) as caught:
            await slack.rt.senders["slack"].send_to_channel("T2", "C1", Message("x"))
        assert not caught.value.transient


async def test_an_installed_workspace_can_use_the_app(slack_with) -> None:  # type: ignore[no-untyped-def]
    async with slack_with(**OAUTH) as slack:
        slack: SlackDriver
        await _install(slack)
        slack.team = "T2"
        await slack.command("help", user="U1")
        reply = await slack.api.wait("response_url")
        assert "What I can do" in reply.text
        info = slack.api.calls("users.info")[-1]
        assert info.token == slack.api.calls("oauth.v2.access")[0].result["access_token"]


async def test_revoked_bot_token_is_removed(slack_with) -> None:  # type: ignore[no-untyped-def]
    async with slack_with(**OAUTH) as slack:
        slack: SlackDriver
        await _install(slack)
        slack.api.revoked.add(slack.api.calls("oauth.v2.access")[0].result["access_token"])
        slack.team = "T2"
        event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}, "event_ts": f"{time.time():.6f}"}
        assert (await slack.event(event)).status == 200
        await slack.idle()
        assert await _count(slack, BOTS) == 0 and await _count(slack, INSTALLATIONS) == 0
        with pytest.raises(SendError) as caught:
            await slack.rt.senders["slack"].send_to_channel("T2", "C1", Message("x"))
        assert not caught.value.transient and slack.api.calls("chat.postMessage", include_failed=True) == []


async def test_a_replica_drops_an_uninstalled_token_and_uses_the_reinstalled_one(db_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.support.slack_fixtures import slack_app
    from tests.support.slack_mock import SlackMock

    api = SlackMock()
    await api.start()
    try:
        async with (
            slack_app(db_url, clock=clock, api=api, **OAUTH) as one,
            slack_app(db_url, clock=clock, api=api, **OAUTH) as two,
        ):
            await _install(one)
            old = api.calls("oauth.v2.access")[0].result["access_token"]
            sender = two.rt.senders["slack"]
            await sender.send_to_channel("T2", "C1", Message("before"))  # replica two now holds the token
            api.revoked.add(old)  # Slack revokes the tokens, then tells one replica
            one.team = "T2"
            await one.event({"type": "app_uninstalled", "event_ts": f"{time.time():.6f}"})
            await one.idle()
            with pytest.raises(SendError) as caught:
                await sender.send_to_channel("T2", "C1", Message("after the uninstall"))
            assert not caught.value.transient and "token_revoked" in str(caught.value)
            await _install(one)
            new = api.calls("oauth.v2.access")[1].result["access_token"]
            await sender.send_to_channel("T2", "C1", Message("after the reinstall"))
            assert api.calls("chat.postMessage")[-1].token == new != old
    finally:
        await api.stop()
