"""Broadcast flows on Slack through the real HTTP endpoints and the mock Slack Web API: scheduling for later,
editing and cancelling before it starts; a second change lead's approval (approve and send back); broadcasts to
channels; a workflow change in the weekly draft, escaped."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from bot.tables import OutboxMessage
from handlers.broadcasts.tables import Broadcast, WorkflowChange
from tests.broadcasts.senders import deliver_all
from tests.e2e.test_broadcasts_slack import (
    FORM,
    LATER,
    LEAD,
    click,
    compose_and_preview,
    dms_to,
    setup,
    with_button,
)
from tests.support.slack_fixtures import SlackDriver

SECOND = "U8"  # a second change lead


async def _configure(slack: SlackDriver, **config: object) -> None:
    async with slack.rt.db.session() as session:
        rollout = await slack.rt.default_rollout(session)
        rollout.config = {**(rollout.config or {}), **config}
        rollout.channels = {"slack": {"announce": ["CANN"], "triage": ["CTRI"]}}
        await session.commit()


async def _second_lead(slack: SlackDriver) -> None:
    async with slack.rt.db.session() as session:
        rollout = await slack.rt.default_rollout(session)
        slack.api.add_user(SECOND, name="Bo Lead")
        person, _ = await resolve_person(
            session, Identity("slack", slack.team, SECOND, "Bo Lead"), slack.rt.clock.now()
        )
        await set_role(session, rollout, person, Role.change_lead)
        await session.commit()


async def _rows(slack: SlackDriver) -> list[OutboxMessage]:
    async with slack.rt.db.session() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def _broadcast(slack: SlackDriver) -> Broadcast:
    async with slack.rt.db.session() as session:
        return (await session.scalars(select(Broadcast).order_by(Broadcast.id.desc()))).first()  # type: ignore[return-value]


async def _listing(slack: SlackDriver) -> str:
    before = slack.api.count("response_url")
    await slack.command("broadcasts", user=LEAD)
    return (await slack.api.wait("response_url", before + 1)).text


# ---------------------------------------------------------------- later, edit, cancel


async def test_schedule_for_later_then_edit_then_cancel_before_it_starts(slack: SlackDriver) -> None:
    await setup(slack)
    # The frozen clock is Mon 2026-11-23 11:00 in Helsinki (the rollout's timezone): tomorrow 10:00 is 08:00 UTC.
    preview = await compose_and_preview(slack, date="2026-11-24", time="10:00")
    assert "Schedule for Tue 2026-11-24 10:00" in str(preview.blocks)
    await click(slack, preview, "Schedule for", user=LEAD)
    assert "scheduled to 3 recipients, at Tue 2026-11-24 10:00" in slack.api.calls("response_url")[-1].text
    assert await drain(slack.rt) == 0 and dms_to(slack, "U1") == []  # not due yet
    assert "scheduled" in await _listing(slack)

    # Edit from the list: the form comes back filled in (with the time), the new text replaces the old rows.
    listing = slack.api.calls("response_url")[-1]
    before = slack.api.count("views.open")
    await click(slack, listing, "Edit", user=LEAD)
    view = await slack.api.wait("views.open", before + 1)
    initial = {b["block_id"]: b["element"] for b in view.params["view"]["blocks"] if b.get("type") == "input"}
    assert initial["title"]["initial_value"] == FORM["title"] and initial["date"]["initial_date"] == "2026-11-24"
    resp = await slack.submit_view(
        view, {**FORM, "title": "Claims assistant: week 3 (v2)", "date": "2026-11-24", "time": "11:30"}, user=LEAD
    )
    assert resp.status == 200 and not resp.body, resp.body
    await slack.idle()
    preview2 = with_button(slack, "Schedule for")
    await click(slack, preview2, "Schedule for", user=LEAD, action_ts="1900000001.000001")  # a new click
    assert "at Tue 2026-11-24 11:30" in slack.api.calls("response_url")[-1].text
    rows = await _rows(slack)
    assert sorted(r.status for r in rows) == ["cancelled"] * 3 + ["pending"] * 3
    assert {r.error for r in rows if r.status == "cancelled"} == {"edited before sending"}
    assert all(r.group_key and r.group_key.endswith(":r2") for r in rows if r.status == "pending")

    # Cancel (from the list) before it starts: nothing ever goes out, even once the time has come.
    listing = await _listing(slack)
    assert "(v2)" in listing
    await click(slack, slack.api.calls("response_url")[-1], "Cancel", user=LEAD, action_ts=LATER)
    assert "Cancelled" in slack.api.calls("response_url")[-1].text
    slack.rt.clock.advance(days=1, hours=2)
    assert await drain(slack.rt) == 0
    assert all(dms_to(slack, u) == [] for u in ("U1", "U2"))
    assert {r.status for r in await _rows(slack)} == {"cancelled"}
    assert (await _broadcast(slack)).status == "cancelled"


async def test_a_schedule_time_in_the_past_is_refused_inline(slack: SlackDriver) -> None:
    await setup(slack)
    before = slack.api.count("views.open")
    await slack.command("broadcast", user=LEAD)
    view = await slack.api.wait("views.open", before + 1)
    resp = await slack.submit_view(view, {**FORM, "date": "2026-11-23", "time": "10:59"}, user=LEAD)
    body = resp.json()
    assert body["response_action"] == "errors" and "already passed" in body["errors"]["time"], body
    assert await _rows(slack) == []


# ---------------------------------------------------------------- a second change lead's approval


async def test_above_the_threshold_a_second_lead_approves_then_it_is_sent(slack: SlackDriver) -> None:
    await setup(slack)
    await _second_lead(slack)
    await _configure(slack, broadcast_approval_over=2)
    preview = await compose_and_preview(slack)
    await click(slack, preview, "Send now", user=LEAD)
    assert "asked Bo Lead to approve" in slack.api.calls("response_url")[-1].text
    assert [r.kind for r in await _rows(slack)] == ["approval"]  # nothing to readers yet
    await drain(slack.rt)
    [ask] = dms_to(slack, SECOND)
    assert "asks you to approve a broadcast to 4 recipients" in ask.text and "Claims assistant" in ask.text
    assert "broadcasts.ack" not in str(ask.blocks)  # the approval copy can't be acknowledged

    await click(slack, ask, "Approve", user=LEAD, channel="D9")  # the author can't approve their own
    assert "A second change lead has to approve" in slack.api.calls("response_url")[-1].text
    await click(slack, ask, "Approve", user=SECOND, channel="D8", action_ts=LATER)
    assert "Approved" in slack.api.calls("response_url")[-1].text
    await deliver_all(slack.rt, slack.rt.clock, step=0.25)  # 5 messages: beyond Slack's burst, paced at 8/s
    for user in ("U1", "U2", SECOND):
        assert [d for d in dms_to(slack, user) if "What's changing" in d.text and "asks you" not in d.text]
    assert any("Bo Lead approved your broadcast" in d.text for d in dms_to(slack, LEAD))
    assert (await _broadcast(slack)).approved_by is not None


async def test_above_the_threshold_a_second_lead_sends_it_back(slack: SlackDriver) -> None:
    await setup(slack)
    await _second_lead(slack)
    await _configure(slack, broadcast_approval_over=2)
    preview = await compose_and_preview(slack)
    await click(slack, preview, "Send now", user=LEAD)
    await drain(slack.rt)
    [ask] = dms_to(slack, SECOND)
    await click(slack, ask, "Send back", user=SECOND, channel="D8")
    assert "Sent back to the author" in slack.api.calls("response_url")[-1].text
    await click(slack, ask, "Approve", user=SECOND, channel="D8", action_ts=LATER)  # too late: nothing changes
    assert "no longer waiting for approval" in slack.api.calls("response_url")[-1].text
    await drain(slack.rt)
    assert any("sent your broadcast" in d.text and "back to you" in d.text for d in dms_to(slack, LEAD))
    assert all("What's changing" not in d.text for u in ("U1", "U2") for d in dms_to(slack, u))
    assert (await _broadcast(slack)).status == "draft"
    assert "draft" in await _listing(slack)


async def test_at_or_under_the_threshold_no_approval_is_needed(slack: SlackDriver) -> None:
    await setup(slack)
    await _second_lead(slack)
    await _configure(slack, broadcast_approval_over=4)
    preview = await compose_and_preview(slack)
    await click(slack, preview, "Send now", user=LEAD)
    assert "scheduled to 4 recipients" in slack.api.calls("response_url")[-1].text


# ---------------------------------------------------------------- channels


async def test_a_broadcast_to_specific_channels_is_posted_there_once(slack: SlackDriver) -> None:
    await setup(slack)
    await _configure(slack)
    before = slack.api.count("views.open")
    await slack.command("broadcast", user=LEAD)
    view = await slack.api.wait("views.open", before + 1)
    channels = next(b for b in view.params["view"]["blocks"] if b.get("block_id") == "channels")
    assert {o["value"] for o in channels["element"]["options"]} == {"slack:CANN", "slack:CTRI"}
    resp = await slack.submit_view(view, {**FORM, "audience": "channels", "channels": []}, user=LEAD)
    assert "Pick at least one channel" in resp.json()["errors"]["channels"]
    resp = await slack.submit_view(view, {**FORM, "audience": "channels", "channels": ["slack:CANN"]}, user=LEAD)
    assert resp.status == 200 and not resp.body, resp.body
    await slack.idle()
    preview = with_button(slack, "Send now")
    assert "0 people and 1 channel(s)" in preview.text
    await click(slack, preview, "Send now", user=LEAD)
    await click(slack, preview, "Send now", user=LEAD, action_ts=LATER)
    assert await drain(slack.rt) == 1
    posts = [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == "CANN"]
    assert len(posts) == 1 and "Claims assistant: week 3" in posts[0].text and posts[0].button("Got it")
    assert all(dms_to(slack, u) == [] for u in ("U1", "U2"))
    [row] = await _rows(slack)
    assert (row.status, row.channel_id, row.person_id) == ("sent", "CANN", None)


# ---------------------------------------------------------------- workflow changes in the weekly update


async def test_a_noted_workflow_change_reaches_the_weekly_draft_escaped(slack: SlackDriver) -> None:
    await setup(slack)
    await slack.command("workflow change Payouts over 5,000 <!channel> need <@U123> & a second check", user=LEAD)
    noted = await slack.api.wait("response_url")  # Slack's escaped entities, turned into plain text
    before = slack.api.count("views.open")
    await slack.command("workflow change", user=LEAD)  # no text: the short form, whose input arrives raw
    form = await slack.api.wait("views.open", before + 1)
    resp = await slack.submit_view(form, {"text": "Intake <!here> moved to <https://evil|x>"}, user=LEAD)
    assert resp.status == 200 and not resp.body, resp.body
    await slack.idle()
    slack.rt.clock.advance(minutes=1)
    before = slack.api.count("response_url")
    await slack.command("updates draft weekly", user=LEAD)
    draft = await slack.api.wait("response_url", before + 1)
    body = json.dumps(draft.params)
    assert "*What changed*" in body and "Payouts over 5,000" in body and "Intake" in body
    for said in (noted.text, body):
        assert "<!channel>" not in said and "<@U123>" not in said and "&amp; a second check" in said
    assert "<!here>" not in body and "&lt;!here&gt;" in body and "<https://evil" not in body

    await slack.command("workflow change it changed", user="U1")  # an employee: denied, nothing stored
    await slack.idle()
    async with slack.rt.db.session() as session:
        assert len(list(await session.scalars(select(WorkflowChange)))) == 2
