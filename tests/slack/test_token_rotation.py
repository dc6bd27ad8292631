"""Token rotation (multi-workspace OAuth): an expiring bot token is refreshed through oauth.v2.access with
grant_type=refresh_token before it is used — by Bolt's authorize for requests and by the outbox sender in a
worker — and the new token is stored for every process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot.adapters.slack import register_sender
from bot.db import Database
from bot.delivery import drain
from bot.model import Identity, Message
from bot.outbox import enqueue
from bot.people import resolve_person
from bot.runtime import Runtime
from tests.slack.test_oauth import OAUTH, _install
from tests.support.slack_fixtures import SlackDriver, slack_settings
from tests.support.slack_mock import SlackCall


async def _install_rotating(slack: SlackDriver, expires_in: int) -> dict[str, Any]:
    """Install in T2 with rotation on; the install's token lives `expires_in` seconds, later ones 12 hours."""
    slack.api.oauth_rotation, slack.api.oauth_expires_in = True, expires_in
    slack.api.oauth_client = (OAUTH["slack_client_id"], OAUTH["slack_client_secret"])
    await _install(slack)
    slack.api.oauth_expires_in = 43200
    slack.team = "T2"
    return slack.api.calls("oauth.v2.access")[0].result


async def _until_expired(slack: SlackDriver, token: str) -> None:
    await asyncio.sleep(max(0.0, slack.api.expires[token] - time.time()) + 0.05)


def _refreshes(slack: SlackDriver) -> list[SlackCall]:
    return [c for c in slack.api.calls("oauth.v2.access") if c.params.get("grant_type") == "refresh_token"]


def _expired_calls(slack: SlackDriver) -> list[SlackCall]:
    return [c for c in slack.api.calls(include_failed=True) if c.result.get("error") == "token_expired"]


async def _stored(slack: SlackDriver) -> tuple[str | None, str | None, str | None]:
    store = slack.adapter.clients.installation_store
    installation = await store.async_find_installation(enterprise_id=None, team_id="T2")
    bot = await store.async_find_bot(enterprise_id=None, team_id="T2")
    return installation.bot_token, installation.bot_refresh_token, bot.bot_token


async def test_an_expired_bot_token_is_refreshed_before_the_reply(slack_with) -> None:  # type: ignore[no-untyped-def]
    async with slack_with(**OAUTH) as slack:
        slack: SlackDriver
        first = await _install_rotating(slack, expires_in=2)
        await _until_expired(slack, first["access_token"])
        await slack.dm("whoami", user="U1")
        reply = await slack.api.wait("chat.postMessage")
        [refresh] = _refreshes(slack)
        assert refresh.params["refresh_token"] == first["refresh_token"]
        new = refresh.result["access_token"]
        assert new != first["access_token"] and reply.token == new
        assert slack.api.calls("users.info")[-1].token == new
        assert _expired_calls(slack) == []
        assert await _stored(slack) == (new, refresh.result["refresh_token"], new)


async def test_a_worker_process_rotates_for_outbox_sends_and_the_server_uses_its_token(  # type: ignore[no-untyped-def]
    slack_with,
) -> None:
    async with slack_with(**OAUTH) as slack:
        slack: SlackDriver
        first = await _install_rotating(slack, expires_in=2)
        await _until_expired(slack, first["access_token"])
        # `uptake worker`: its own runtime and sender on the same database, no request anywhere.
        db_url = slack.rt.settings.db_url
        worker = Runtime(slack_settings(db_url, slack.api.api_url, **OAUTH), db=Database(db_url), clock=slack.rt.clock)
        try:
            await register_sender(worker)
            async with worker.db.session() as session:
                person, _ = await resolve_person(session, Identity("slack", "T2", "U5"), worker.clock.now())
                rollout = await worker.default_rollout(session)
                await enqueue(
                    session,
                    key="rotation-1",
                    message=Message("Your report was answered"),
                    rollout_id=rollout.id,
                    person_id=person.id,
                    not_before=worker.clock.now(),
                )
                await session.commit()
            assert await drain(worker) == 1
        finally:
            await worker.close()
        sent = await slack.api.wait("chat.postMessage")
        [refresh] = _refreshes(slack)
        new = refresh.result["access_token"]
        assert sent.params["channel"] == "U5" and sent.token == new
        assert await _stored(slack) == (new, refresh.result["refresh_token"], new)
        # The server finds the worker's fresh token in the store: no second refresh, no expired call.
        await slack.dm("whoami", user="U1")
        reply = await slack.api.wait("chat.postMessage", 2)
        assert reply.token == new and len(_refreshes(slack)) == 1 and _expired_calls(slack) == []


@pytest.mark.parametrize(("minutes_left", "refreshed"), [(119, True), (121, False)])
async def test_rotation_starts_two_hours_before_expiry(  # type: ignore[no-untyped-def]
    slack_with, minutes_left: int, refreshed: bool
) -> None:
    async with slack_with(**OAUTH) as slack:
        slack: SlackDriver
        first = await _install_rotating(slack, expires_in=minutes_left * 60)
        await slack.rt.senders["slack"].send_to_channel("T2", "C1", Message("to the channel"))
        await slack.command("help", user="U1")
        await slack.api.wait("response_url")
        assert len(_refreshes(slack)) == (1 if refreshed else 0)  # the sender and Bolt agree on one rotation
        post = slack.api.calls("chat.postMessage")[-1]
        assert (post.token != first["access_token"]) is refreshed


async def test_a_refused_refresh_is_a_permanent_send_error(slack_with) -> None:  # type: ignore[no-untyped-def]
    from bot.runtime import SendError

    async with slack_with(**OAUTH) as slack:
        slack: SlackDriver
        first = await _install_rotating(slack, expires_in=60)
        slack.api.refresh_tokens.pop(first["refresh_token"])  # revoked on Slack's side
        with pytest.raises(SendError) as caught:
            await slack.rt.senders["slack"].send_to_channel("T2", "C1", Message("x"))
        assert not caught.value.transient and "invalid_refresh_token" in str(caught.value)
        assert slack.api.calls("chat.postMessage") == []


async def test_a_burst_of_sends_to_an_expiring_workspace_rotates_once(slack_with) -> None:  # type: ignore[no-untyped-def]
    """Five sends at once (five channels) after the token expired: one oauth.v2.access call, all five use its token."""
    async with slack_with(**OAUTH) as slack:
        slack: SlackDriver
        first = await _install_rotating(slack, expires_in=2)
        await _until_expired(slack, first["access_token"])
        sender = slack.rt.senders["slack"]
        await asyncio.gather(*(sender.send_to_channel("T2", f"C{i}", Message(f"burst {i}")) for i in range(5)))
        [refresh] = _refreshes(slack)
        posts = slack.api.calls("chat.postMessage")
        assert len(posts) == 5 and {p.token for p in posts} == {refresh.result["access_token"]}
        assert _expired_calls(slack) == []
