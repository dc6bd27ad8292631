"""Broadcast flows end to end on Teams beyond the basic path: scheduling, editing and cancelling; a second change
lead's approval; acknowledgements with the one reminder and the author's receipts; a channel audience; the weekly
update's approval. Activities to /api/messages, botbuilder's connector client posting to the mock connector, the
outbox sent by `drain`, jobs by `run_due`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from bot.scheduler import run_due
from bot.tables import OutboxMessage
from handlers.broadcasts.tables import Broadcast
from tests.broadcasts.senders import deliver_all
from tests.e2e.test_broadcasts_teams import FORM, LEAD, READERS, compose_and_preview, setup, with_action
from tests.support.teams_harness import CHANNEL_ID, TENANT, TeamsHarness
from tests.support.teams_mock import Posted

SECOND_LEAD = "aad-8"
EVERYONE = (*READERS, LEAD)
TOMORROW_10 = {"date": "2026-11-24", "time": "10:00"}  # Helsinki; the clock is Mon 2026-11-23 11:00 there
TOMORROW_10_UTC = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
MONDAY_9 = dt.datetime(2026, 11, 30, 7, 0, 10, tzinfo=dt.UTC)  # the weekly update job, 09:00 Helsinki
IN_CHANNEL = {"slack": {"announce": []}, "teams": {"announce": [CHANNEL_ID]}}


async def rollout_config(teams: TeamsHarness, channels: dict[str, Any] | None = None, **config: Any) -> None:
    async with teams.runtime.db.session() as session:
        rollout = await teams.runtime.default_rollout(session)
        if channels is not None:
            rollout.channels = channels
        rollout.config = {**(rollout.config or {}), **config}
        await session.commit()


async def deliver(teams: TeamsHarness) -> int:
    """Drain the outbox, moving the clock a second at a time while rows wait for a send-budget slot."""
    rt, total = teams.runtime, 0
    for _ in range(60):
        total += await drain(rt)
        async with rt.db.session() as session:
            soon = rt.clock.now() + dt.timedelta(seconds=5)
            waiting = await session.scalar(
                select(OutboxMessage.id).where(
                    OutboxMessage.status.in_(("pending", "sending")), OutboxMessage.next_attempt_at <= soon
                )
            )
        if waiting is None:
            return total
        rt.clock.advance(seconds=1)
    raise AssertionError("the outbox did not settle")


async def statuses(teams: TeamsHarness) -> dict[str, int]:
    async with teams.runtime.db.session() as session:
        rows = list(await session.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "broadcast")))
    return {s: rows.count(s) for s in set(rows)}


def copies(teams: TeamsHarness, title: str, users: tuple[str, ...] = EVERYONE) -> dict[str, int]:
    """How many copies of the broadcast `title` each person got (not the notes about it)."""
    return {
        u: len([p for p in teams.replies(user=u) if title in p.text and "What's changing" in p.text and not preview(p)])
        for u in users
    }


def preview(posted: Posted) -> bool:
    """The author's own preview card (it has the broadcast's text too)."""
    return "Preview — only you see this" in posted.text


def said_to(teams: TeamsHarness, user: str, words: str) -> list[Posted]:
    return [p for p in teams.replies(user=user) if words in p.text]


async def add_second_lead(teams: TeamsHarness) -> None:
    await teams.install(user=SECOND_LEAD, where="personal")
    async with teams.runtime.db.session() as session:
        rollout = await teams.runtime.default_rollout(session)
        carl, _ = await resolve_person(session, Identity("teams", TENANT, SECOND_LEAD), teams.runtime.clock.now())
        await set_role(session, rollout, carl, Role.change_lead)
        await session.commit()


# ---------------------------------------------------------------- schedule, edit, cancel; and one that goes out


async def test_a_scheduled_broadcast_is_edited_then_cancelled_and_nothing_is_sent(teams: TeamsHarness) -> None:
    await setup(teams)
    preview = await compose_and_preview(teams, **TOMORROW_10)
    await teams.click("Schedule for", user=LEAD, on=preview)
    assert "scheduled to 3 recipients, at Tue 2026-11-24 10:00" in teams.last_reply(user=LEAD).text
    assert await deliver(teams) == 0

    await teams.says("broadcasts", user=LEAD)
    listing = teams.last_reply(user=LEAD)
    assert "scheduled" in listing.text
    await teams.click("Edit", user=LEAD, on=listing)
    form = teams.last_form(user=LEAD)
    values = {i["id"]: i.get("value") for i in form.inputs()}
    assert values["f.title"] == "Claims assistant: week 3" and values["f.date"] == "2026-11-24"
    await teams.submit_form({**FORM, **TOMORROW_10, "title": "Week 3, corrected"}, user=LEAD, on=form)
    preview = with_action(teams, LEAD, "Schedule for")
    assert "Week 3, corrected" in preview.text
    assert await statuses(teams) == {"cancelled": 3}
    await teams.click("Schedule for", user=LEAD, on=preview)
    assert await statuses(teams) == {"cancelled": 3, "pending": 3}

    await teams.says("broadcasts", user=LEAD)
    await teams.click("Cancel", user=LEAD, on=teams.last_reply(user=LEAD))
    assert "Cancelled “Week 3, corrected”" in teams.last_reply(user=LEAD).text
    assert await statuses(teams) == {"cancelled": 6}
    teams.runtime.clock.set(TOMORROW_10_UTC + dt.timedelta(hours=1))
    await run_due(teams.runtime)
    await deliver(teams)
    assert copies(teams, "Week 3") == {u: 0 for u in EVERYONE}
    await teams.says("broadcasts", user=LEAD)
    assert "cancelled" in teams.last_reply(user=LEAD).text


async def test_a_scheduled_broadcast_goes_out_at_its_time(teams: TeamsHarness) -> None:
    await setup(teams)
    preview = await compose_and_preview(teams, **TOMORROW_10)
    await teams.click("Schedule for", user=LEAD, on=preview)
    teams.runtime.clock.set(TOMORROW_10_UTC - dt.timedelta(minutes=1))
    await run_due(teams.runtime)
    assert await deliver(teams) == 0
    teams.runtime.clock.set(TOMORROW_10_UTC)
    assert await deliver(teams) == 3
    assert copies(teams, "Claims assistant: week 3") == {u: 1 for u in EVERYONE}
    teams.runtime.clock.advance(minutes=10)
    await run_due(teams.runtime)
    await deliver(teams)
    [report] = said_to(teams, LEAD, "has finished sending")
    assert "Delivered: 3" in report.text and "Failed: 0" in report.text


# ---------------------------------------------------------------- a second change lead's approval


async def ask_for_approval(teams: TeamsHarness) -> Posted:
    await setup(teams)
    await add_second_lead(teams)
    await rollout_config(teams, broadcast_approval_over=2)
    teams.connector.clear()
    preview = await compose_and_preview(teams)
    await teams.click("Send now", user=LEAD, on=preview)
    assert "more than 2" in teams.last_reply(user=LEAD).text
    assert await statuses(teams) == {}
    await deliver(teams)
    [request] = said_to(teams, SECOND_LEAD, "asks you to approve")
    assert not any("Got it" in a["title"] for a in request.actions())
    return request


async def test_a_second_change_lead_approves_and_it_is_sent_but_not_by_the_author(teams: TeamsHarness) -> None:
    request = await ask_for_approval(teams)
    await teams.click("Approve", user=LEAD, on=request)
    assert "can't approve your own" in teams.last_reply(user=LEAD).text
    assert await statuses(teams) == {}
    await teams.click("Approve", user=SECOND_LEAD, on=request)
    assert "Approved" in teams.last_reply(user=SECOND_LEAD).text
    again = await teams.click("Approve", user=SECOND_LEAD, on=request, via="execute")
    assert "no longer waiting" in str(again.body)
    assert await statuses(teams) == {"pending": 4}
    await deliver(teams)
    assert copies(teams, "Claims assistant: week 3", (*EVERYONE,)) == {u: 1 for u in EVERYONE}
    assert said_to(teams, LEAD, "approved your broadcast")


async def test_an_approval_nobody_gives_is_chased_once_and_the_reminder_card_approves(teams: TeamsHarness) -> None:
    await ask_for_approval(teams)  # delivered at the injected clock's now
    teams.runtime.clock.advance(hours=23)
    await run_due(teams.runtime)
    await deliver(teams)
    assert len(said_to(teams, SECOND_LEAD, "asks you to approve")) == 1 and not said_to(teams, LEAD, "Nobody has")

    teams.runtime.clock.advance(hours=1, minutes=10)  # past approval_wait_hours (24)
    await run_due(teams.runtime)
    await deliver(teams)
    teams.runtime.clock.advance(hours=30)  # once per revision, however often the job runs
    await run_due(teams.runtime)
    await deliver(teams)
    requests = said_to(teams, SECOND_LEAD, "asks you to approve")
    assert len(requests) == 2
    [note] = said_to(teams, LEAD, "Nobody has approved")
    assert "Claims assistant: week 3" in note.text and "reminded the change leads once" in note.text
    await teams.click("Approve", user=SECOND_LEAD, on=requests[-1])  # the reminder's card approves this revision
    assert "Approved" in teams.last_reply(user=SECOND_LEAD).text
    assert await statuses(teams) == {"pending": 4}


async def test_when_no_approver_can_be_reached_the_author_is_told_at_once(teams: TeamsHarness) -> None:
    await setup(teams)
    await add_second_lead(teams)
    await rollout_config(teams, broadcast_approval_over=2)
    teams.connector.block(teams.personal(SECOND_LEAD))  # Carl blocked Uptake: the request fails for good
    preview = await compose_and_preview(teams)
    await teams.click("Send now", user=LEAD, on=preview)
    await deliver(teams)
    await run_due(teams.runtime)
    await deliver(teams)
    [note] = said_to(teams, LEAD, "couldn't reach any change lead")
    assert "Claims assistant: week 3" in note.text
    await run_due(teams.runtime)
    await deliver(teams)
    assert len(said_to(teams, LEAD, "couldn't reach any change lead")) == 1


async def test_a_rejected_broadcast_sends_nothing_and_the_author_is_told(teams: TeamsHarness) -> None:
    request = await ask_for_approval(teams)
    await teams.click("Send back", user=SECOND_LEAD, on=request)
    assert "Sent back" in teams.last_reply(user=SECOND_LEAD).text
    late = await teams.click("Approve", user=SECOND_LEAD, on=request, via="execute")  # it is a draft again
    assert "no longer waiting" in str(late.body)
    await deliver(teams)
    assert said_to(teams, LEAD, "sent your broadcast")
    assert await statuses(teams) == {}
    assert copies(teams, "Claims assistant: week 3", READERS) == {u: 0 for u in READERS}


# ---------------------------------------------------------------- acknowledgements, the reminder, receipts


async def test_acknowledgements_one_reminder_and_the_authors_receipts(teams: TeamsHarness) -> None:
    await setup(teams)
    teams.connector.block(teams.personal("aad-2"))  # aad-2 blocked Uptake: a permanent failure
    preview = await compose_and_preview(teams)
    await teams.click("Send now", user=LEAD, on=preview)
    await teams.click("Progress", user=LEAD)
    progress = teams.last_reply(user=LEAD).text
    assert "Pending: 3" in progress and "Delivered: 0" in progress
    await deliver(teams)
    [dm] = [p for p in teams.replies(user="aad-1") if any("Got it" in a["title"] for a in p.actions())]
    await teams.click("Got it", user="aad-1", on=dm)
    await teams.says("broadcasts", user=LEAD)
    listing = teams.last_reply(user=LEAD).text
    for fact in ("Delivered: 2", "Failed: 1", "Pending: 0", "Acknowledged: 1 (50%)"):
        assert fact in listing, listing
    await run_due(teams.runtime)
    await deliver(teams)
    [report] = said_to(teams, LEAD, "has finished sending")
    assert "Failed: 1" in report.text and "Acknowledged: 1" in report.text

    teams.runtime.clock.advance(hours=48, minutes=10)
    await run_due(teams.runtime)
    teams.runtime.clock.advance(minutes=10)
    await run_due(teams.runtime)
    await deliver(teams)
    reminded = {u: len([p for p in teams.replies(user=u) if p.text.startswith("Reminder")]) for u in EVERYONE}
    assert reminded == {"aad-1": 0, "aad-2": 0, LEAD: 1}


# ---------------------------------------------------------------- audience: a channel where Uptake is installed


async def test_a_broadcast_to_a_channel_is_posted_in_that_channel(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.install(user=LEAD, where="channel")
    await rollout_config(teams, channels=IN_CHANNEL)
    teams.connector.clear()
    preview = await compose_and_preview(teams, audience="channels", channels=[f"teams:{CHANNEL_ID}"])
    assert "0 people and 1 channel(s)" in preview.text
    await teams.click("Send now", user=LEAD, on=preview)
    assert await deliver(teams) == 1
    [post] = teams.replies(user=LEAD, where="channel")
    assert "Claims assistant: week 3" in post.text and "Boundaries" in post.text
    assert copies(teams, "Claims assistant: week 3") == {u: 0 for u in EVERYONE}
    await teams.says("broadcasts", user=LEAD)
    assert "Delivered: 1" in teams.last_reply(user=LEAD).text


async def test_a_channel_where_uptake_is_not_installed_fails_with_a_reason(teams: TeamsHarness) -> None:
    await setup(teams)
    await rollout_config(teams, channels=IN_CHANNEL)
    preview = await compose_and_preview(teams, audience="channels", channels=[f"teams:{CHANNEL_ID}"])
    await teams.click("Send now", user=LEAD, on=preview)
    await deliver(teams)
    async with teams.runtime.db.session() as session:
        [row] = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "broadcast")))
    assert row.status == "failed" and row.error and "not installed" in row.error
    await teams.says("broadcasts", user=LEAD)
    assert "Failed: 1" in teams.last_reply(user=LEAD).text


# ---------------------------------------------------------------- the weekly update


async def test_weekly_update_approved_goes_to_the_teams_channel_and_a_skipped_one_does_not(
    teams: TeamsHarness,
) -> None:
    await setup(teams)
    await teams.install(user=LEAD, where="channel")
    await rollout_config(teams, channels=IN_CHANNEL)
    teams.connector.clear()
    for week in range(2):
        teams.runtime.clock.set(MONDAY_9 + dt.timedelta(days=7 * week))
        result = await run_due(teams.runtime)
        assert any(r.startswith("broadcasts.weekly_update@") for r in result["done"]), result
        await deliver(teams)
        draft = said_to(teams, LEAD, "Draft for your approval: Weekly update")[-1]
        assert "What changed" in draft.text
        await teams.click("Skip this time" if week else "Approve & send", user=LEAD, on=draft)
        again = await teams.click("Approve & send", user=LEAD, on=draft, via="execute")  # a second click: nothing
        assert "already" in str(again.body)
        await deliver(teams)
    posts = teams.replies(user=LEAD, where="channel")
    assert len(posts) == 1 and "Weekly update" in posts[0].text and "30 Nov" in posts[0].text
    await teams.says("updates", user="aad-1")
    assert teams.last_reply(user="aad-1").text.count("Weekly update") == 1


# ---------------------------------------------------------------- the monthly review


async def test_monthly_review_approved_goes_to_the_teams_channel_and_a_skipped_one_does_not(
    teams: TeamsHarness,
) -> None:
    await setup(teams)
    await teams.install(user=LEAD, where="channel")
    await rollout_config(teams, channels=IN_CHANNEL)
    teams.connector.clear()
    firsts = (dt.datetime(2026, 12, 1, 7, 0, 10, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, 7, 0, 10, tzinfo=dt.UTC))
    for month, at in enumerate(firsts):  # the first business days of December and January, 09:00 Helsinki
        teams.runtime.clock.set(at)
        assert any(r.startswith("broadcasts.monthly_review@") for r in (await run_due(teams.runtime))["done"])
        await deliver(teams)
        draft = said_to(teams, LEAD, "Draft for your approval: Monthly review")[-1]
        assert ("December 2026" if month else "November 2026") in draft.text
        await teams.click("Skip this time" if month else "Approve & send", user=LEAD, on=draft)
        again = await teams.click("Approve & send", user=LEAD, on=draft, via="execute")
        assert "already" in str(again.body)
        await deliver(teams)
    posts = teams.replies(user=LEAD, where="channel")
    assert len(posts) == 1 and "Monthly review" in posts[0].text and "November 2026" in posts[0].text
    await teams.says("updates", user="aad-1")
    assert teams.last_reply(user="aad-1").text.count("Monthly review") == 1


# ---------------------------------------------------------------- the reminder's timing, muting everything


def _got(teams: TeamsHarness, user: str, needle: str) -> list[str]:
    return [p.text for p in teams.replies(user=user) if needle in p.text]


async def test_one_reminder_goes_to_those_who_have_not_acknowledged_after_the_delay(teams: TeamsHarness) -> None:
    await setup(teams)
    await rollout_config(teams, ack_reminder_hours=24)
    clock = teams.runtime.clock
    preview = await compose_and_preview(teams)
    await teams.click("Send now", user=LEAD, on=preview)
    assert await drain(teams.runtime) == 3
    [dm] = teams.replies(user="aad-1")
    await teams.click("Got it", user="aad-1", on=dm)
    teams.connector.clear()

    clock.advance(hours=23)  # before the delay: the scheduler's follow-up sends no reminder
    await run_due(teams.runtime)
    await drain(teams.runtime)
    assert all(_got(teams, u, "Reminder:") == [] for u in (*READERS, LEAD))

    clock.advance(hours=1, minutes=10)  # past 24 h since the first delivery
    done = (await run_due(teams.runtime))["done"]
    assert any(d.startswith("broadcasts.follow_up@") for d in done)
    await drain(teams.runtime)
    assert _got(teams, "aad-1", "Reminder:") == []  # acknowledged: no reminder
    for user in ("aad-2", LEAD):
        [reminder] = _got(teams, user, "Reminder: Claims assistant: week 3")
        assert "What's changing" in reminder
    [reminder_card] = [p for p in teams.replies(user="aad-2") if "Reminder:" in p.text]
    assert any("Got it" in a["title"] for a in reminder_card.actions())
    await teams.click("Got it", user="aad-2", on=reminder_card)  # acknowledging from the reminder counts
    assert "noted that you've read" in teams.last_reply(user="aad-2").text

    clock.advance(hours=30)  # one reminder only, however often the job runs
    await run_due(teams.runtime)
    clock.advance(minutes=10)
    await run_due(teams.runtime)
    await drain(teams.runtime)
    assert len(_got(teams, "aad-2", "Reminder:")) == 1 and len(_got(teams, LEAD, "Reminder:")) == 1
    async with teams.runtime.db.session() as session:
        b = await session.scalar(select(Broadcast))
        assert b is not None and b.reminded_at is not None
        reminders = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "broadcast_reminder")))
    assert sorted(r.status for r in reminders) == ["sent", "sent"]
    await teams.says("broadcasts", user=LEAD)
    assert "2 (67%)" in teams.last_reply(user=LEAD).text  # aad-1 and aad-2 acknowledged, of 3 delivered


async def test_muting_everything_leaves_mandatory_announcements_which_cannot_be_muted(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("settings", user="aad-2")
    form = teams.last_form(user="aad-2")
    [receive] = [i for i in form.inputs() if i["id"] == "f.receive"]
    assert "mandatory" not in {c["value"] for c in receive["choices"]}  # not a kind one can untick
    assert "Mandatory announcements always arrive" in form.text
    await teams.submit_form({"receive": []}, user="aad-2", on=form)  # mute every kind
    await teams.says("settings mute mandatory", user="aad-2")
    assert "Usage" in teams.last_reply(user="aad-2").text
    await teams.says("settings show", user="aad-2")
    shown = teams.last_reply(user="aad-2").text
    assert "Broadcasts from the change team: muted" in shown and ": on" not in shown

    preview = await compose_and_preview(teams, ask_ack=False)
    await teams.click("Send now", user=LEAD, on=preview)
    teams.runtime.clock.advance(minutes=5)
    preview = await compose_and_preview(teams, title="Mandatory: new payout rule", mandatory=True, ask_ack=False)
    await teams.click("Send now", user=LEAD, on=preview)
    teams.connector.clear()
    await deliver_all(teams.runtime, teams.runtime.clock, step=0.1)  # 5 messages: past the burst, paced
    got = [p.text for p in teams.replies(user="aad-2")]
    assert len(got) == 1 and "new payout rule" in got[0] and "mandatory announcement" in got[0]
    assert len(teams.replies(user="aad-1")) == 2  # aad-1 changed nothing and gets both
