"""Each Slack entry point reaches the right handler through the real HTTP endpoint."""

from __future__ import annotations

from tests.support.slack_fixtures import SlackDriver


async def test_slash_command_help_is_acked_then_answered_ephemerally(slack: SlackDriver) -> None:
    resp = await slack.command("help", user="U1")
    assert resp.status == 200
    reply = await slack.api.wait("response_url")
    assert "What I can do" in reply.text
    assert reply.params["response_type"] == "ephemeral"
    assert reply.params["text"]


async def test_empty_slash_command_is_help(slack: SlackDriver) -> None:
    await slack.command("")
    reply = await slack.api.wait("response_url")
    assert "What I can do" in reply.text
