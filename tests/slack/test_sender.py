"""The outbox's Slack sender against the mock Web API: DMs by user id, metadata refs, error classes, 429 retry;
response_url posts retried the same way."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from bot.adapters.slack_send import SlackSender
from bot.model import Identity, Message, Section, lit
from bot.runtime import SendError
from tests.support.slack_fixtures import SlackDriver

ANA = Identity("slack", "T1", "U42", "Ana")


def sender(slack: SlackDriver) -> SlackSender:
    s = slack.rt.senders["slack"]
    assert isinstance(s, SlackSender)
    return s


async def test_send_to_person_posts_to_the_user_id_with_the_ref_in_metadata(slack: SlackDriver) -> None:
    ts = await sender(slack).send_to_person(
        ANA, Message(f"Hi {lit('<!here>')}", (Section(text="*News*"),)), ref="outbox:7"
    )
    call = slack.api.calls("chat.postMessage")[0]
    assert ts == call.result["ts"]
    assert call.params["channel"] == "U42"
    assert call.params["metadata"] == {"event_type": "uptake_outbox", "event_payload": {"ref": "outbox:7"}}
    assert call.params["text"] == "Hi &lt;!here&gt;" and call.blocks
    assert slack.api.calls("conversations.open") == []


async def test_send_to_channel_returns_the_ts(slack: SlackDriver) -> None:
    ts = await sender(slack).send_to_channel("T1", "C77", Message("Weekly update"))
    assert ts and slack.api.calls("chat.postMessage")[0].params["channel"] == "C77"


@pytest.mark.parametrize(
    ("error", "transient", "unreachable"),
    [
        ("channel_not_found", False, False),
        ("not_in_channel", False, False),
        ("is_archived", False, False),
        ("invalid_blocks", False, False),
        ("account_inactive", False, True),
        ("user_not_found", False, True),
        ("fatal_error", True, False),
    ],
)
async def test_slack_errors_are_classified(slack: SlackDriver, error: str, transient: bool, unreachable: bool) -> None:
    slack.api.fail("chat.postMessage", error=error)
    with pytest.raises(SendError) as caught:
        await sender(slack).send_to_person(ANA, Message("x"))
    assert caught.value.transient is transient and caught.value.unreachable is unreachable
    assert error in str(caught.value)


async def test_429_is_retried_by_the_client_and_delivered_once(slack: SlackDriver) -> None:
    slack.api.fail("chat.postMessage", status=429, retry_after=0, times=1)
    ts = await sender(slack).send_to_person(ANA, Message("after a pause"))
    attempts = slack.api.calls("chat.postMessage", include_failed=True)
    assert [c.status for c in attempts] == [429, 200]
    assert ts == attempts[1].result["ts"]


async def test_persistent_429_and_5xx_are_transient_with_retry_after(slack: SlackDriver) -> None:
    slack.api.fail("chat.postMessage", status=429, retry_after=0, times=3)
    with pytest.raises(SendError) as caught:
        await sender(slack).send_to_person(ANA, Message("x"))
    assert caught.value.transient and caught.value.retry_after == 0
    assert len(slack.api.calls("chat.postMessage", include_failed=True)) == 3  # first try + 2 retries
    slack.api.fail("chat.postMessage", status=503, times=3)
    with pytest.raises(SendError) as caught:
        await sender(slack).send_to_channel("T1", "C1", Message("x"))
    assert caught.value.transient


async def test_connection_failure_is_transient(slack: SlackDriver) -> None:
    await slack.api.stop()
    with pytest.raises(SendError) as caught:
        await sender(slack).send_to_person(ANA, Message("x"))
    assert caught.value.transient


async def test_find_sent_reconciles_by_metadata_ref(slack: SlackDriver) -> None:
    since = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    s = sender(slack)
    ts = await s.send_to_person(ANA, Message("once"), ref="outbox:9")
    await s.send_to_person(ANA, Message("other"), ref="outbox:10")
    assert await s.find_sent(ANA, "T1", None, "outbox:9", since) == ts
    assert await s.find_sent(ANA, "T1", None, "outbox:11", since) is None
    ch_ts = await s.send_to_channel("T1", "C5", Message("c"), ref="outbox:12")
    assert await s.find_sent(None, "T1", "C5", "outbox:12", since) == ch_ts


async def test_outbox_row_reaches_slack_through_the_worker(slack: SlackDriver) -> None:
    from sqlalchemy import select

    from bot.delivery import drain
    from bot.outbox import enqueue
    from bot.people import resolve_person
    from bot.tables import OutboxMessage

    async with slack.rt.db.session() as session:
        person, _ = await resolve_person(session, ANA, slack.rt.clock.now())
        rollout = await slack.rt.default_rollout(session)
        await enqueue(
            session,
            key="k1",
            message=Message("Your report was answered"),
            rollout_id=rollout.id,
            person_id=person.id,
            not_before=slack.rt.clock.now(),
        )
        await session.commit()
    assert await drain(slack.rt) == 1
    call = await slack.api.wait("chat.postMessage")
    async with slack.rt.db.session() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row is not None and row.status == "sent" and row.platform_message_id == call.result["ts"]
    assert call.params["metadata"]["event_payload"]["ref"] == f"outbox:{row.id}"


@pytest.mark.parametrize("statuses", [[429, 200], [503, 500, 200]])
async def test_response_url_429_and_5xx_are_retried_and_the_answer_arrives_once(
    slack: SlackDriver, statuses: list[int]
) -> None:
    for status in statuses[:-1]:
        slack.api.fail("response_url", status=status, retry_after=0)
    resp = await slack.command("help", user="U1")
    assert resp.status == 200
    reply = await slack.api.wait("response_url")
    await slack.idle()
    assert [c.status for c in slack.api.calls("response_url", include_failed=True)] == statuses
    assert "What I can do" in reply.text and reply.params["response_type"] == "ephemeral"


async def test_response_url_refusal_is_not_retried_and_is_logged(
    slack: SlackDriver, caplog: pytest.LogCaptureFixture
) -> None:
    slack.api.fail("response_url", status=404)  # e.g. a response_url past its 30 minutes
    with caplog.at_level(logging.WARNING, logger="uptake.slack"):
        await slack.command("help", user="U1")
        await slack.idle()
    assert [c.status for c in slack.api.calls("response_url", include_failed=True)] == [404]
    assert "response_url answered 404" in caplog.text
