"""Status lines, the manifest command and the worker's sender-only registration."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from bot.adapters import slack
from bot.clock import FrozenClock
from bot.db import Database
from bot.runtime import Runtime
from tests.support.slack_fixtures import slack_settings


def test_manifest_fills_in_the_urls_and_declares_least_privilege() -> None:
    result = CliRunner().invoke(slack.cli, ["manifest", "--url", "https://uptake.example.com/"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.output)
    assert data["settings"]["event_subscriptions"]["request_url"] == "https://uptake.example.com/slack/events"
    assert data["settings"]["interactivity"]["request_url"] == "https://uptake.example.com/slack/events"
    assert data["features"]["slash_commands"][0]["url"] == "https://uptake.example.com/slack/events"
    assert data["oauth_config"]["redirect_urls"] == ["https://uptake.example.com/slack/oauth_redirect"]
    assert data["features"]["shortcuts"][0]["callback_id"] == "friction.report_message"
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    assert sorted(data["oauth_config"]["scopes"]["bot"]) == sorted(slack.SCOPES)
    assert set(slack.SCOPES) <= {"commands", "chat:write", "im:write", "users:read", "im:history", "app_mentions:read"}


def test_manifest_refuses_a_non_https_url() -> None:
    result = CliRunner().invoke(slack.cli, ["manifest", "--url", "http://x"])
    assert result.exit_code == 2


async def test_status_lines(db_url: str) -> None:
    from aiohttp import web

    off = Runtime(
        slack_settings(db_url, "http://127.0.0.1:1/api/", slack_bot_token=None),
        db=Database(db_url),
        clock=FrozenClock(),
    )
    assert (await slack.mount(web.Application(), off)).startswith("slack: off — set SLACK_BOT_TOKEN")
    assert "slack" not in off.senders
    await off.close()
    no_secret = Runtime(
        slack_settings(db_url, "http://127.0.0.1:1/api/", slack_signing_secret=None),
        db=Database(db_url),
        clock=FrozenClock(),
    )
    assert "SLACK_SIGNING_SECRET is missing" in await slack.mount(web.Application(), no_secret)
    await no_secret.close()
    worker = Runtime(slack_settings(db_url, "http://127.0.0.1:1/api/"), db=Database(db_url), clock=FrozenClock())
    assert (await slack.register_sender(worker)).startswith("slack: sender on")
    assert worker.senders["slack"].platform == "slack"
    await worker.close()
