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


async def test_dm_reaches_the_router_as_text_and_is_answered_in_the_dm(slack: SlackDriver) -> None:
    slack.api.add_user("U7", name="Ana Silva")
    resp = await slack.dm("whoami", user="U7")
    assert resp.status == 200
    msg = await slack.api.wait("chat.postMessage")
    assert msg.params["channel"] == "D7"
    assert "Ana Silva" in msg.text


async def test_mention_is_stripped_and_answered_ephemerally_in_the_thread(slack: SlackDriver) -> None:
    await slack.mention("whoami", user="U2", channel="C9")
    msg = await slack.api.wait("chat.postEphemeral")
    assert msg.params["channel"] == "C9" and msg.params["user"] == "U2"
    assert msg.params["thread_ts"]
    assert "You are" in msg.text


async def test_own_and_other_bots_messages_and_edits_are_ignored(slack: SlackDriver) -> None:
    await slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "user": "UBOT",
            "bot_id": "BBOT",
            "text": "help",
            "ts": "1.1",
        }
    )
    await slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "user": "U5",
            "bot_id": "BOTHER",
            "subtype": "bot_message",
            "text": "help",
            "ts": "1.2",
        }
    )
    await slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "subtype": "message_changed",
            "message": {"text": "help"},
            "ts": "1.3",
        }
    )
    await slack.event(
        {"type": "message", "channel_type": "channel", "channel": "C1", "user": "U5", "text": "help", "ts": "1.4"}
    )
    await slack.idle()
    assert slack.api.calls("chat.postMessage") == []


async def test_url_verification_and_unsubscribed_events_answer_200(slack: SlackDriver) -> None:
    import json

    body = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"})
    resp = await slack.post(body, "application/json")
    assert resp.status == 200 and "abc123" in resp.body
    resp = await slack.event({"type": "reaction_added", "user": "U1", "reaction": "+1", "event_ts": "1.0"})
    assert resp.status == 200
