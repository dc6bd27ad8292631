"""Broadcasts end to end on Slack: the real server over HTTP, a mock Slack Web API, the outbox sent for real.

A change lead types `/uptake broadcast`, fills the modal, previews, sends; `drain` delivers the DMs through the
Slack sender (chat.postMessage on the mock); a recipient clicks "👍 Got it" and `broadcasts` counts it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from bot.tables import AuditEntry, OutboxMessage
from handlers.broadcasts.tables import Broadcast, BroadcastAck
from tests.support.slack_fixtures import SlackDriver
from tests.support.slack_mock import SlackCall

LEAD = "U9"
PEOPLE = {"U1": "Eve Reader", "U2": "Finn Reader", LEAD: "Ana Lead"}
FORM: dict[str, Any] = {
    "title": "Claims assistant: week 3",
    "why": "Claims get routed in minutes instead of hours, so you spend less time on triage.",
    "changing": "From Monday the assistant proposes the routing; you confirm it.",
    "boundaries": "It never closes a claim; a human reviews every payout above 5,000.",
    "support": "Ask in #claims-ai; when it's wrong, press Report and we fix it within a week.",
    "audience": "everyone",
    "ask_ack": True,
}
LATER = "1900000000.000001"  # an action_ts far past the first click
NASTY = "Saved an hour <!channel> <@U123> [x](https://evil) <https://evil|x> & more"


async def setup(slack: SlackDriver) -> None:
    """Three named people known to Uptake (so "everyone" has them); Ana is a change lead."""
    async with slack.rt.db.session() as session:
        rollout = await slack.rt.default_rollout(session)
        for user, name in PEOPLE.items():
            slack.api.add_user(user, name=name)
            person, _ = await resolve_person(session, Identity("slack", slack.team, user, name), slack.rt.clock.now())
            if user == LEAD:
                await set_role(session, rollout, person, Role.change_lead)
        await session.commit()


async def open_form(slack: SlackDriver, user: str = LEAD) -> SlackCall:
    before = slack.api.count("views.open")
    await slack.command("broadcast", user=user)
    return await slack.api.wait("views.open", before + 1)


def with_button(slack: SlackDriver, label: str) -> SlackCall:
    """The latest message Uptake sent (any method) that carries a button like `label`."""
    for call in reversed(slack.api.calls()):
        try:
            call.button(label)
        except (LookupError, KeyError, TypeError):
            continue
        return call
    raise AssertionError(f"no message with {label!r}: {[c.method for c in slack.api.calls()]}")


def dms_to(slack: SlackDriver, user: str) -> list[SlackCall]:
    return [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") in (user, "D" + user[1:])]


async def click(
    slack: SlackDriver, call: SlackCall, label: str, *, user: str, channel: str = "C1", action_ts: str | None = None
) -> None:
    """Click a button; a later `action_ts` makes it a second click past the adapter's double-click gate."""
    button = call.button(label)
    await slack.click(button["action_id"], button.get("value", ""), user=user, channel=channel, action_ts=action_ts)
    await slack.idle()


async def count(slack: SlackDriver, table: Any) -> int:
    async with slack.rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def compose_and_preview(slack: SlackDriver, **values: Any) -> SlackCall:
    view = await open_form(slack)
    resp = await slack.submit_view(view, {**FORM, **values}, user=LEAD)
    assert resp.status == 200 and not resp.body, resp.body  # the modal closes; no inline errors
    await slack.idle()
    return with_button(slack, "Send now")


# ---------------------------------------------------------------- the whole path


async def test_lead_composes_previews_sends_and_a_reader_acknowledges(slack: SlackDriver) -> None:
    await setup(slack)
    view = await open_form(slack)
    blocks = {b.get("block_id") for b in view.params["view"]["blocks"]}
    assert blocks >= {"title", "why", "changing", "boundaries", "support", "audience", "ask_ack"}
    assert "Boundaries" in view.text and "when a human must review" in view.text  # the guidance text

    preview = await compose_and_preview(slack)
    assert "Preview" in preview.text and "3 people" in preview.text
    assert "Why" in preview.text and "routed in minutes" in preview.text
    assert "broadcasts.ack" not in str(preview.blocks)  # the preview can't be acknowledged
    assert dms_to(slack, "U1") == []  # nothing reaches readers before Send
    await click(slack, preview, "Send now", user=LEAD)
    assert "scheduled to 3 recipients" in slack.api.calls("response_url")[-1].text
    await click(slack, preview, "Send now", user=LEAD, action_ts=LATER)  # a second click: nothing new
    assert "Already scheduled" in slack.api.calls("response_url")[-1].text
    assert await count(slack, OutboxMessage) == 3

    assert await drain(slack.rt) == 3
    for user in PEOPLE:
        [dm] = dms_to(slack, user)
        assert "Claims assistant: week 3" in dm.text and "What's changing" in dm.text and "Support" in dm.text
        assert dm.button("Got it")
    await click(slack, dms_to(slack, "U1")[0], "Got it", user="U1", channel="D1")
    assert "noted that you've read" in slack.api.calls("response_url")[-1].text
    await click(slack, dms_to(slack, "U1")[0], "Got it", user="U1", channel="D1", action_ts=LATER)  # counted once
    assert "already acknowledged" in slack.api.calls("response_url")[-1].text
    assert await count(slack, BroadcastAck) == 1

    await slack.command("broadcasts", user=LEAD)
    listing = await slack.api.wait("response_url", slack.api.count("response_url") + 1)
    assert "Claims assistant: week 3" in listing.text
    assert "Delivered" in listing.text and "Acknowledged" in listing.text and "1 (33%)" in listing.text


# ---------------------------------------------------------------- bad input and permissions


async def test_an_empty_part_comes_back_inline_and_nothing_is_stored(slack: SlackDriver) -> None:
    await setup(slack)
    view = await open_form(slack)
    resp = await slack.submit_view(view, {**FORM, "boundaries": "   "}, user=LEAD)
    body = resp.json()
    assert body["response_action"] == "errors" and "boundaries" in body["errors"], body
    assert await count(slack, Broadcast) == 0 and await count(slack, OutboxMessage) == 0


async def test_an_employee_is_denied_and_audited(slack: SlackDriver) -> None:
    await setup(slack)
    await slack.command("broadcast", user="U1")
    await slack.idle()
    assert slack.api.count("views.open") == 0
    said = "\n".join(c.text for c in slack.api.calls() if c.method in ("response_url", "chat.postEphemeral"))
    assert "change lead" in said.lower() or "not allowed" in said.lower(), said
    async with slack.rt.db.session() as session:
        denied = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "denied")))
    assert denied and "broadcast" in denied[-1].summary


# ---------------------------------------------------------------- settings


async def test_a_person_who_mutes_broadcasts_gets_only_mandatory_ones(slack: SlackDriver) -> None:
    await setup(slack)
    await slack.command("settings", user="U2")
    form = await slack.api.wait("views.open")
    receive = next(b for b in form.params["view"]["blocks"] if b.get("block_id") == "receive")
    kinds = [o["value"] for o in receive["element"]["options"]]
    assert "broadcast" in kinds
    resp = await slack.submit_view(form, {"receive": [k for k in kinds if k != "broadcast"]}, user="U2")
    assert resp.status == 200
    await slack.idle()

    preview = await compose_and_preview(slack)
    await click(slack, preview, "Send now", user=LEAD)
    await drain(slack.rt)
    assert dms_to(slack, "U2") == [] and len(dms_to(slack, "U1")) == 1
    async with slack.rt.db.session() as session:
        reasons = list(await session.scalars(select(OutboxMessage.error).where(OutboxMessage.status == "cancelled")))
    assert reasons == ["muted by the person"]

    slack.rt.clock.advance(minutes=5)
    preview = await compose_and_preview(slack, title="Mandatory: new payout rule", mandatory=True)
    await click(slack, preview, "Send now", user=LEAD)
    await drain(slack.rt)
    assert [d for d in dms_to(slack, "U2") if "new payout rule" in d.text]


# ---------------------------------------------------------------- escaping


async def test_a_win_is_escaped_when_thanked_and_in_the_weekly_draft(slack: SlackDriver) -> None:
    await setup(slack)
    await slack.command("win", user="U1")  # no text: the short form, whose input arrives raw
    form = await slack.api.wait("views.open")
    resp = await slack.submit_view(form, {"kind": "win", "text": NASTY}, user="U1")
    assert resp.status == 200 and not resp.body, resp.body
    thanks = await slack.api.wait("chat.postEphemeral")
    slack.rt.clock.advance(minutes=1)
    await slack.command("updates draft weekly", user=LEAD)
    draft = await slack.api.wait("response_url")
    assert "One learning example" in draft.text and "Eve Reader" in draft.text
    for said in (thanks, draft):
        rendered = said.text
        assert "Saved an hour" in rendered
        assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered
        assert "<@U123>" not in rendered and "&lt;@U123&gt;" in rendered
        assert "<https://evil" not in rendered and "&amp; more" in rendered


async def test_a_win_typed_after_the_command_never_becomes_a_mention(slack: SlackDriver) -> None:
    await setup(slack)
    await slack.command(f"win {NASTY}", user="U1")  # Slack's escaped entities, turned into plain text
    thanks = await slack.api.wait("response_url")
    slack.rt.clock.advance(minutes=1)
    await slack.command("updates draft weekly", user=LEAD)
    draft = await slack.api.wait("response_url", 2)
    for said in (thanks, draft):
        rendered = said.text
        assert "Saved an hour" in rendered and "&amp; more" in rendered
        assert "<!channel>" not in rendered and "<@U123>" not in rendered and "<https://evil" not in rendered
