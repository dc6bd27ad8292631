"""Broadcast flows end to end on Slack beyond the basic path: scheduling, editing and cancelling; a second change
lead's approval; acknowledgements with the one reminder and the author's receipts; channel audiences; the weekly
update's approval. Signed requests to /slack/events, the mock Web API, the outbox sent by `drain`, jobs by `run_due`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select

from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from bot.scheduler import run_due
from bot.tables import OutboxMessage
from handlers.broadcasts.tables import Broadcast
from tests.e2e.test_broadcasts_slack import FORM, LATER, LEAD, NASTY, PEOPLE, dms_to, setup, with_button
from tests.support.slack_fixtures import SlackDriver
from tests.support.slack_mock import SlackCall

SECOND_LEAD = "U8"
TOMORROW_10 = {"date": "2026-11-24", "time": "10:00"}  # Helsinki; the clock is Mon 2026-11-23 11:00 there
TOMORROW_10_UTC = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
MONDAY_9 = dt.datetime(2026, 11, 30, 7, 0, 10, tzinfo=dt.UTC)  # the weekly update job, 09:00 Helsinki
ANNOUNCE = "C0ANNOUNCE"


async def rollout_config(slack: SlackDriver, channels: dict[str, Any] | None = None, **config: Any) -> None:
    async with slack.rt.db.session() as session:
        rollout = await slack.rt.default_rollout(session)
        if channels is not None:
            rollout.channels = channels
        rollout.config = {**(rollout.config or {}), **config}
        await session.commit()


async def add_second_lead(slack: SlackDriver) -> None:
    slack.api.add_user(SECOND_LEAD, name="Carl Lead")
    async with slack.rt.db.session() as session:
        rollout = await slack.rt.default_rollout(session)
        carl, _ = await resolve_person(
            session, Identity("slack", slack.team, SECOND_LEAD, "Carl Lead"), slack.rt.clock.now()
        )
        await set_role(session, rollout, carl, Role.change_lead)
        await session.commit()


async def click(
    slack: SlackDriver, call: SlackCall, label: str, *, user: str, channel: str = "C1", action_ts: str | None = None
) -> None:
    """Click a button on the message `call` sent: each message has its own ts (the double-click gate keys on it)."""
    button = call.button(label)
    ts = str(call.result.get("ts") or f"1700000000.{slack.api.records.index(call):06d}")
    await slack.click(
        button["action_id"], button.get("value", ""), user=user, channel=channel, message_ts=ts, action_ts=action_ts
    )
    await slack.idle()


async def say(slack: SlackDriver, text: str, user: str = LEAD) -> SlackCall:
    """A slash command, and Uptake's answer to it."""
    before = slack.api.count("response_url")
    await slack.command(text, user=user)
    return await slack.api.wait("response_url", before + 1)


def facts(text: str) -> dict[str, str]:
    """Facts as Slack shows them (section fields: `*Label*` then the value), label → value."""
    return dict(re.findall(r"^\*([^*\n]+)\*\n([^\n]+)$", text, flags=re.M))


def last_answer(slack: SlackDriver) -> str:
    return slack.api.calls("response_url")[-1].text


async def preview_of(slack: SlackDriver, **values: Any) -> SlackCall:
    before = slack.api.count("views.open")
    await slack.command("broadcast", user=LEAD)
    view = await slack.api.wait("views.open", before + 1)
    resp = await slack.submit_view(view, {**FORM, **values}, user=LEAD)
    assert resp.status == 200 and not resp.body, resp.body
    await slack.idle()
    return with_button(slack, "Send now")


async def statuses(slack: SlackDriver) -> dict[str, int]:
    async with slack.rt.db.session() as session:
        rows = list(await session.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "broadcast")))
    return {s: rows.count(s) for s in set(rows)}


async def deliver(slack: SlackDriver) -> int:
    """Drain the outbox, moving the clock a second at a time while rows wait for a rate-limit slot (no sleeping).

    Rows due later than a few seconds from now (scheduled, quiet hours) stay pending."""
    total = 0
    for _ in range(60):
        total += await drain(slack.rt)
        async with slack.rt.db.session() as session:
            soon = slack.rt.clock.now() + dt.timedelta(seconds=5)
            waiting = await session.scalar(
                select(OutboxMessage.id).where(
                    OutboxMessage.status.in_(("pending", "sending")), OutboxMessage.next_attempt_at <= soon
                )
            )
        if waiting is None:
            return total
        slack.rt.clock.advance(seconds=1)
    raise AssertionError("the outbox did not settle")


def reader_dms(slack: SlackDriver, title: str) -> dict[str, int]:
    """How many copies of the broadcast `title` each person got (not the notes about it)."""
    return {u: len([d for d in dms_to(slack, u) if title in d.text and "What's changing" in d.text]) for u in PEOPLE}


# ---------------------------------------------------------------- schedule, edit, cancel


async def test_a_scheduled_broadcast_is_edited_then_cancelled_and_nothing_is_sent(slack: SlackDriver) -> None:
    await setup(slack)
    preview = await preview_of(slack, **TOMORROW_10)
    await click(slack, preview, "Schedule for", user=LEAD)
    assert "scheduled to 3 recipients, at Tue 2026-11-24 10:00" in last_answer(slack)
    assert await deliver(slack) == 0  # not due yet

    listing = await say(slack, "broadcasts")
    assert "scheduled" in listing.text and "Claims assistant: week 3" in listing.text
    opened = slack.api.count("views.open")
    await click(slack, listing, "Edit", user=LEAD)
    view = await slack.api.wait("views.open", opened + 1)
    initial = {b["block_id"]: b["element"].get("initial_value") for b in view.blocks if b.get("type") == "input"}
    assert initial["title"] == "Claims assistant: week 3"  # the form comes back filled in
    resp = await slack.submit_view(view, {**FORM, **TOMORROW_10, "title": "Week 3, corrected"}, user=LEAD)
    assert resp.status == 200 and not resp.body, resp.body
    await slack.idle()
    preview = with_button(slack, "Schedule for")
    assert "Week 3, corrected" in preview.text
    assert await statuses(slack) == {"cancelled": 3}  # the first revision's rows
    await click(slack, preview, "Schedule for", user=LEAD)
    assert await statuses(slack) == {"cancelled": 3, "pending": 3}

    listing = await say(slack, "broadcasts")
    await click(slack, listing, "Cancel", user=LEAD)
    assert "Cancelled “Week 3, corrected”" in last_answer(slack)
    assert await statuses(slack) == {"cancelled": 6}
    await click(slack, preview, "Schedule for", user=LEAD, action_ts=LATER)  # the old preview can't revive it
    assert "cancelled" in last_answer(slack).lower()
    assert await statuses(slack) == {"cancelled": 6}

    slack.rt.clock.set(TOMORROW_10_UTC + dt.timedelta(hours=1))
    await run_due(slack.rt)
    assert await deliver(slack) == 0
    assert all(dms_to(slack, u) == [] for u in PEOPLE)
    listing = await say(slack, "broadcasts")
    assert "cancelled" in listing.text and "Week 3, corrected" in listing.text
    assert "Edit" not in str(listing.blocks)  # nothing left to change


async def test_a_scheduled_broadcast_goes_out_at_its_time_and_the_author_gets_the_receipt(slack: SlackDriver) -> None:
    await setup(slack)
    preview = await preview_of(slack, **TOMORROW_10)
    await click(slack, preview, "Schedule for", user=LEAD)
    slack.rt.clock.set(TOMORROW_10_UTC - dt.timedelta(minutes=1))
    await run_due(slack.rt)
    assert await deliver(slack) == 0
    assert reader_dms(slack, "Claims assistant: week 3") == {u: 0 for u in PEOPLE}

    slack.rt.clock.set(TOMORROW_10_UTC)
    assert await deliver(slack) == 3
    assert reader_dms(slack, "Claims assistant: week 3") == {u: 1 for u in PEOPLE}
    slack.rt.clock.advance(minutes=10)
    await run_due(slack.rt)
    await deliver(slack)
    [report] = [d for d in dms_to(slack, LEAD) if "has finished sending" in d.text]
    assert "Delivered" in report.text and "3" in report.text and "Failed" in report.text
    listing = await say(slack, "broadcasts")
    assert "sent" in listing.text and "Delivered" in listing.text


# ---------------------------------------------------------------- a second change lead's approval


async def ask_for_approval(slack: SlackDriver) -> SlackCall:
    """Ana sends to more people than the threshold; Carl gets the request (the outbox delivers it)."""
    await setup(slack)
    await add_second_lead(slack)
    await rollout_config(slack, broadcast_approval_over=2)
    preview = await preview_of(slack)
    await click(slack, preview, "Send now", user=LEAD)
    assert "4 recipients, more than 2" in last_answer(slack) and "Carl Lead" in last_answer(slack)
    assert await statuses(slack) == {}  # nothing is queued to readers before the approval
    await deliver(slack)
    [request] = [d for d in dms_to(slack, SECOND_LEAD) if "asks you to approve" in d.text]
    assert "Ana Lead" in request.text and "routed in minutes" in request.text
    assert "Got it" not in request.text
    return request


async def test_a_second_change_lead_approves_and_it_is_sent_but_not_by_the_author(slack: SlackDriver) -> None:
    request = await ask_for_approval(slack)
    await click(slack, request, "Approve", user=LEAD, channel="D9")
    assert "can't approve your own" in last_answer(slack)
    assert await statuses(slack) == {}

    await click(slack, request, "Approve", user=SECOND_LEAD, channel="D8")
    assert "Approved" in last_answer(slack) and "scheduled to 4 recipients" in last_answer(slack)
    await click(slack, request, "Approve", user=SECOND_LEAD, channel="D8", action_ts=LATER)
    assert "no longer waiting" in last_answer(slack)
    assert await statuses(slack) == {"pending": 4}
    await deliver(slack)
    assert reader_dms(slack, "Claims assistant: week 3") == {u: 1 for u in PEOPLE}
    assert len([d for d in dms_to(slack, SECOND_LEAD) if "What's changing" in d.text]) == 2  # the request + the post
    assert [d for d in dms_to(slack, LEAD) if "Carl Lead approved your broadcast" in d.text]
    async with slack.rt.db.session() as session:
        b = await session.scalar(select(Broadcast))
        assert b is not None and b.status == "scheduled" and b.approved_by is not None


async def test_a_rejected_broadcast_sends_nothing_and_its_next_version_needs_a_fresh_approval(
    slack: SlackDriver,
) -> None:
    request = await ask_for_approval(slack)
    await click(slack, request, "Send back", user=SECOND_LEAD, channel="D8")
    assert "Sent back" in last_answer(slack)
    await deliver(slack)
    assert [d for d in dms_to(slack, LEAD) if "Carl Lead sent your broadcast" in d.text and "draft" in d.text]
    assert await statuses(slack) == {}
    assert reader_dms(slack, "Claims assistant: week 3") == {"U1": 0, "U2": 0, LEAD: 0}
    listing = await say(slack, "broadcasts")
    assert "draft" in listing.text

    # Ana edits it and asks again: Carl gets the new version to approve, and the old card can't approve it.
    opened = slack.api.count("views.open")
    await click(slack, listing, "Edit", user=LEAD)
    view = await slack.api.wait("views.open", opened + 1)
    await slack.submit_view(view, {**FORM, "title": "Week 3, second try"}, user=LEAD)
    await slack.idle()
    await click(slack, with_button(slack, "Send now"), "Send now", user=LEAD)
    assert "asked Carl Lead to approve" in last_answer(slack)
    await deliver(slack)
    requests = [d for d in dms_to(slack, SECOND_LEAD) if "asks you to approve" in d.text]
    assert len(requests) == 2 and "Week 3, second try" in requests[-1].text
    await click(slack, request, "Approve", user=SECOND_LEAD, channel="D8", action_ts=LATER)
    assert "changed since" in last_answer(slack)
    assert await statuses(slack) == {}
    await click(slack, requests[-1], "Approve", user=SECOND_LEAD, channel="D8")
    assert "Approved" in last_answer(slack)
    await deliver(slack)
    assert reader_dms(slack, "Week 3, second try") == {u: 1 for u in PEOPLE}


# ---------------------------------------------------------------- acknowledgements, the reminder, receipts


async def test_acknowledgements_one_reminder_and_the_authors_receipts(slack: SlackDriver) -> None:
    await setup(slack)
    slack.api.add_user("U3", name="Gil Gone")
    async with slack.rt.db.session() as session:
        await resolve_person(session, Identity("slack", slack.team, "U3", "Gil Gone"), slack.rt.clock.now())
        await session.commit()
    preview = await preview_of(slack)
    await click(slack, preview, "Send now", user=LEAD)
    progress = slack.api.calls("response_url")[-1]
    await click(slack, progress, "Progress", user=LEAD)
    assert facts(last_answer(slack)) == {"Delivered": "0", "Failed": "0", "Pending": "4", "Acknowledged": "0"}

    slack.api.fail("chat.postMessage", error="user_not_found")  # the first DM: a person who left (permanent)
    await deliver(slack)
    async with slack.rt.db.session() as session:
        [failed] = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")))
    readers = [u for u in ("U1", "U2", LEAD, "U3") if [d for d in dms_to(slack, u) if "Got it" in d.text]]
    assert len(readers) == 3
    first, second = readers[0], readers[1]
    dm = next(d for d in dms_to(slack, first) if "Got it" in d.text)
    await click(slack, dm, "Got it", user=first, channel="D" + first[1:])
    assert "noted that you've read" in last_answer(slack)

    listing = await say(slack, "broadcasts")
    shown = facts(listing.text)
    assert shown == {"Delivered": "3", "Failed": "1", "Pending": "0", "Acknowledged": "1 (33%)"}, listing.text
    await run_due(slack.rt)  # follow-up: everything ended, so the author gets the final receipt once
    await deliver(slack)
    [report] = [d for d in dms_to(slack, LEAD) if "has finished sending" in d.text]
    assert facts(report.text) == {"Delivered": "3", "Failed": "1", "Pending": "0", "Acknowledged": "1 (33%)"}

    slack.rt.clock.advance(hours=47)
    await run_due(slack.rt)
    await deliver(slack)
    assert not [c for c in slack.api.calls("chat.postMessage") if c.text.startswith("Reminder")]
    slack.rt.clock.advance(hours=1, minutes=10)  # past the 48 hours
    await run_due(slack.rt)
    slack.rt.clock.advance(minutes=10)
    await run_due(slack.rt)
    await deliver(slack)
    reminded = sorted(c.params["channel"] for c in slack.api.calls("chat.postMessage") if c.text.startswith("Reminder"))
    assert reminded == sorted(u for u in readers if u != first)  # not who acknowledged, not who never got it
    assert second in reminded
    reminder = next(d for d in dms_to(slack, second) if d.text.startswith("Reminder"))
    await click(slack, reminder, "Got it", user=second, channel="D" + second[1:])
    listing = await say(slack, "broadcasts")
    assert facts(listing.text)["Acknowledged"] == "2 (67%)"
    async with slack.rt.db.session() as session:
        assert failed.error and "user_not_found" in failed.error


# ---------------------------------------------------------------- audience: specific channels


async def test_a_broadcast_to_a_channel_is_posted_in_that_channel(slack: SlackDriver) -> None:
    await setup(slack)
    await rollout_config(slack, channels={"slack": {"announce": [ANNOUNCE]}, "teams": {"announce": []}})
    before = slack.api.count("views.open")
    await slack.command("broadcast", user=LEAD)
    view = await slack.api.wait("views.open", before + 1)
    [channels] = [b for b in view.blocks if b.get("block_id") == "channels"]
    assert [o["value"] for o in channels["element"]["options"]] == [f"slack:{ANNOUNCE}"]
    resp = await slack.submit_view(view, {**FORM, "audience": "channels", "channels": []}, user=LEAD)
    assert resp.json()["response_action"] == "errors" and "channels" in resp.json()["errors"]
    resp = await slack.submit_view(view, {**FORM, "audience": "channels", "channels": [f"slack:{ANNOUNCE}"]}, user=LEAD)
    assert resp.status == 200 and not resp.body, resp.body
    await slack.idle()
    preview = with_button(slack, "Send now")
    assert "0 people and 1 channel(s)" in preview.text
    await click(slack, preview, "Send now", user=LEAD)
    assert await deliver(slack) == 1
    [post] = [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == ANNOUNCE]
    assert "Claims assistant: week 3" in post.text and "Boundaries" in post.text
    assert all(dms_to(slack, u) == [] for u in PEOPLE)
    for reader in ("U2", "U1"):  # readers in the channel acknowledge
        await click(slack, post, "Got it", user=reader, channel=ANNOUNCE)
        assert "noted that you've read" in last_answer(slack)
    slack.rt.clock.advance(hours=49)
    await run_due(slack.rt)
    await deliver(slack)
    assert not [c for c in slack.api.calls("chat.postMessage") if c.text.startswith("Reminder")]
    shown = facts((await say(slack, "broadcasts")).text)
    assert shown["Delivered"] == "1" and shown["Acknowledged"] == "2"  # no rate: one post, many readers


# ---------------------------------------------------------------- the weekly update


async def weekly_draft(slack: SlackDriver, at: dt.datetime) -> SlackCall:
    """The Monday job drafts the update and DMs it to the change lead for approval."""
    slack.rt.clock.set(at)
    result = await run_due(slack.rt)
    assert any(r.startswith("broadcasts.weekly_update@") for r in result["done"]), result
    await deliver(slack)
    return [d for d in dms_to(slack, LEAD) if "Draft for your approval: Weekly update" in d.text][-1]


async def test_weekly_update_approved_goes_to_the_announcement_channel_and_a_skipped_one_does_not(
    slack: SlackDriver,
) -> None:
    await setup(slack)
    await rollout_config(slack, channels={"slack": {"announce": [ANNOUNCE]}, "teams": {"announce": []}})
    slack.rt.clock.set(MONDAY_9 - dt.timedelta(days=2))
    await say(slack, "tip Paste the claim number first, then ask", user="U1")
    draft = await weekly_draft(slack, MONDAY_9)
    assert "What changed" in draft.text and "One learning example" in draft.text
    assert "Paste the claim number" in draft.text
    await click(slack, draft, "Approve & send", user=LEAD, channel="D9")
    assert "goes to 1 announcement channel" in last_answer(slack)
    await click(slack, draft, "Approve & send", user=LEAD, channel="D9", action_ts=LATER)
    assert "already sent" in last_answer(slack)
    await deliver(slack)
    [post] = [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == ANNOUNCE]
    assert "Weekly update" in post.text and "Paste the claim number first" in post.text

    draft = await weekly_draft(slack, MONDAY_9 + dt.timedelta(days=7))
    await click(slack, draft, "Skip this time", user=LEAD, channel="D9")
    assert "Skipped" in last_answer(slack)
    await click(slack, draft, "Approve & send", user=LEAD, channel="D9")
    assert "already skipped" in last_answer(slack)
    await deliver(slack)
    assert len([c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == ANNOUNCE]) == 1
    listing = await say(slack, "updates", user="U2")  # employees see the published one only
    assert listing.text.count("Weekly update") == 1 and "sent" in listing.text


# ---------------------------------------------------------------- workflow changes in the weekly update


async def test_workflow_changes_noted_by_the_lead_are_in_the_weekly_update_escaped(slack: SlackDriver) -> None:
    await setup(slack)
    await rollout_config(slack, channels={"slack": {"announce": [ANNOUNCE]}, "teams": {"announce": []}})
    noted = await say(slack, "workflow change Motor claims are routed too <!channel> & faster")
    assert "Noted: “Motor claims are routed too @channel &amp; faster”" in noted.text  # Slack's entities, as text
    denied = await say(slack, "workflow change I rerouted everything", user="U1")
    assert "change lead" in denied.text.lower() or "not allowed" in denied.text.lower()

    draft = await weekly_draft(slack, MONDAY_9)
    assert "Motor claims are routed too @channel &amp; faster" in draft.text
    assert "I rerouted everything" not in draft.text
    opened = slack.api.count("views.open")
    await click(slack, draft, "Note a workflow change", user=LEAD, channel="D9")  # the short form, from the draft
    view = await slack.api.wait("views.open", opened + 1)
    resp = await slack.submit_view(view, {"text": ""}, user=LEAD)
    assert resp.json()["response_action"] == "errors" and "text" in resp.json()["errors"]
    resp = await slack.submit_view(view, {"text": "Notes start from the assistant's draft " + NASTY}, user=LEAD)
    assert resp.status == 200 and not resp.body, resp.body
    await slack.idle()
    said = [c for c in slack.api.calls() if c.method in ("chat.postEphemeral", "chat.postMessage", "response_url")]
    assert "open weekly draft is updated" in said[-1].text and "&lt;!channel&gt;" in said[-1].text

    await click(slack, draft, "Approve & send", user=LEAD, channel="D9")
    await deliver(slack)
    [post] = [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == ANNOUNCE]
    changed = post.text.split("What changed", 1)[1].split("One learning example", 1)[0]
    assert "Motor claims are routed too @channel &amp; faster" in changed
    assert "Notes start from the assistant's draft Saved an hour &lt;!channel&gt; &lt;@U123&gt;" in changed
    assert "<!channel>" not in post.text and "<@U123>" not in post.text and "<https://evil" not in post.text
    listing = await say(slack, "workflow changes")
    assert "No workflow changes are waiting" in listing.text


# ---------------------------------------------------------------- many workspaces (OAuth)


async def test_with_many_workspaces_channel_posts_go_to_the_authors_workspace(slack_with: Any) -> None:
    """rollout.yml names no workspace for a channel: the author's (or approver's) own is used, as for triage."""
    oauth = {"slack_bot_token": None, "slack_client_id": "111.222", "slack_client_secret": "client-secret"}
    async with slack_with(**oauth) as slack:
        from tests.slack.test_oauth import _install

        await _install(slack)  # the mock installs into T2
        slack.team = "T2"
        await setup(slack)
        await rollout_config(slack, channels={"slack": {"announce": [ANNOUNCE]}, "teams": {"announce": []}})
        token = slack.api.calls("oauth.v2.access")[0].result["access_token"]

        preview = await preview_of(slack, audience="channels", channels=[f"slack:{ANNOUNCE}"])
        await click(slack, preview, "Send now", user=LEAD)
        await deliver(slack)
        draft = await weekly_draft(slack, MONDAY_9)
        await click(slack, draft, "Approve & send", user=LEAD, channel="D9")
        await deliver(slack)
        posts = [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == ANNOUNCE]
        assert [("Weekly update" in p.text, p.token) for p in posts] == [(False, token), (True, token)]
        async with slack.rt.db.session() as session:
            failed = list(await session.scalars(select(OutboxMessage.error).where(OutboxMessage.status == "failed")))
        assert failed == []


# ---------------------------------------------------------------- the monthly review


async def test_monthly_review_edited_and_approved_is_posted_and_a_skipped_one_is_not(slack: SlackDriver) -> None:
    await setup(slack)
    await rollout_config(slack, channels={"slack": {"announce": [ANNOUNCE]}, "teams": {"announce": []}})
    slack.rt.clock.set(dt.datetime(2026, 12, 1, 7, 0, 10, tzinfo=dt.UTC))  # Tue 1 Dec, 09:00 Helsinki
    assert any(r.startswith("broadcasts.monthly_review@") for r in (await run_due(slack.rt))["done"])
    await deliver(slack)
    [draft] = [d for d in dms_to(slack, LEAD) if "Draft for your approval: Monthly review" in d.text]
    assert "November 2026" in draft.text and "Adoption and value" in draft.text
    assert "Note a workflow change" not in draft.text  # a weekly-update thing

    opened = slack.api.count("views.open")
    await click(slack, draft, "Edit", user=LEAD, channel="D9")
    view = await slack.api.wait("views.open", opened + 1)
    assert "Adoption and value" in str(view.blocks)  # the draft's text, to change
    resp = await slack.submit_view(view, {"body": "November in one line: " + NASTY}, user=LEAD)
    assert resp.status == 200 and not resp.body, resp.body
    await slack.idle()
    saved = with_button(slack, "Approve & send")
    assert "This is what will be posted" in saved.text and "&lt;!channel&gt;" in saved.text
    await click(slack, saved, "Approve & send", user=LEAD)
    await deliver(slack)
    [post] = [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == ANNOUNCE]
    assert "Monthly review" in post.text and "November in one line: Saved an hour" in post.text
    assert "<!channel>" not in post.text and "<@U123>" not in post.text and "&lt;@U123&gt;" in post.text

    slack.rt.clock.set(dt.datetime(2027, 1, 1, 7, 0, 10, tzinfo=dt.UTC))  # Fri 1 Jan 2027: the first business day
    await run_due(slack.rt)
    await deliver(slack)
    [draft] = [d for d in dms_to(slack, LEAD) if "Draft for your approval: Monthly review" in d.text][1:]
    assert "December 2026" in draft.text
    await click(slack, draft, "Skip this time", user=LEAD, channel="D9")
    assert "Skipped" in last_answer(slack)
    await deliver(slack)
    assert len([c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == ANNOUNCE]) == 1
    listing = await say(slack, "updates")
    assert "Monthly review" in listing.text and "skipped" in listing.text and "sent" in listing.text


# ---------------------------------------------------------------- refused inline, and no approval under the threshold


async def test_a_schedule_time_in_the_past_is_refused_inline(slack: SlackDriver) -> None:
    await setup(slack)
    before = slack.api.count("views.open")
    await slack.command("broadcast", user=LEAD)
    view = await slack.api.wait("views.open", before + 1)
    resp = await slack.submit_view(view, {**FORM, "date": "2026-11-23", "time": "10:59"}, user=LEAD)
    body = resp.json()
    assert body["response_action"] == "errors" and "already passed" in body["errors"]["time"], body
    async with slack.rt.db.session() as session:
        assert list(await session.scalars(select(OutboxMessage))) == []
        assert list(await session.scalars(select(Broadcast))) == []


async def test_at_or_under_the_threshold_no_approval_is_needed(slack: SlackDriver) -> None:
    await setup(slack)
    await add_second_lead(slack)
    await rollout_config(slack, broadcast_approval_over=4)
    preview = await preview_of(slack)
    await click(slack, preview, "Send now", user=LEAD)
    assert "scheduled to 4 recipients" in last_answer(slack)
    assert await statuses(slack) == {"pending": 4}
