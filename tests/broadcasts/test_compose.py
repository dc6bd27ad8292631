"""Broadcast scenarios through the neutral layer: compose, preview, approve, schedule, cancel, receipts, acks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from bot.clock import FrozenClock
from bot.delivery import drain
from bot.model import Role
from bot.runtime import Runtime
from bot.scheduler import run_due
from bot.tables import AuditEntry, OutboxMessage
from handlers.broadcasts.tables import Broadcast
from tests.broadcasts.senders import RecordingSender, deliver_all
from tests.chat import Chat, Speaker

PARTS = {
    "title": "Claims triage assistant: week 3",
    "why": "Cut triage time so you spend it on the hard claims.",
    "changing": "Ask the assistant for a triage suggestion before routing.",
    "boundaries": "It suggests; you decide. Fraud flags always need a human.",
    "support": "Ask in #claims-ai or type `report`. Wrong answers get fixed within a week.",
}


def form(**over: Any) -> dict[str, Any]:
    return {**PARTS, "audience": "everyone", "ask_ack": False, **over}


async def people(chat: Chat, n: int, team: str = "Claims Intake") -> list[Speaker]:
    return [await chat.person(f"Emp{team[:3]}{i}", team=team, platform="slack") for i in range(n)]


async def count_outbox(rt: Runtime, **where: Any) -> int:
    async with rt.db.session() as s:
        stmt = select(func.count()).select_from(OutboxMessage)
        for k, v in where.items():
            stmt = stmt.where(getattr(OutboxMessage, k) == v)
        return int(await s.scalar(stmt) or 0)


async def test_compose_preview_send_deliver_and_acknowledge(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    staff = await people(chat, 3)
    await ana.command("broadcast")
    assert {f.name for f in ana.last_form.fields} >= {"title", "why", "changing", "boundaries", "support", "audience"}
    assert all(f.hint for f in ana.last_form.fields if f.name in ("why", "changing", "boundaries", "support"))
    await ana.submits(form(ask_ack=True))
    preview = ana.last_reply
    assert "Preview" in preview.text and "4 people" in preview.text  # the three and Ana herself
    assert preview.has_button("Send now") and preview.has_button("Edit") and preview.has_button("Cancel")
    assert await count_outbox(runtime) == 0  # a preview writes nothing to the outbox
    await ana.clicks("Send now")
    assert "scheduled to 4 recipients" in ana.last_reply.text
    assert await count_outbox(runtime, kind="broadcast") == 4
    await deliver_all(runtime, clock)
    got = slack.to(staff[0].identity.user_id)
    assert len(got) == 1 and "It suggests; you decide." in got[0].text and "Why" in got[0].text
    ack = got[0].message.blocks[-1]
    await staff[0].acts(ack.buttons[0].action_id, ack.buttons[0].value)  # type: ignore[union-attr]
    await staff[0].acts(ack.buttons[0].action_id, ack.buttons[0].value)  # type: ignore[union-attr]
    assert "already acknowledged" in staff[0].last_reply.text
    await ana.command("broadcasts")
    text = ana.last_reply.text
    assert "Delivered: 4" in text and "Acknowledged: 1 (25%)" in text and "Failed: 0" in text


async def test_sending_twice_or_double_clicking_creates_nothing_new(
    chat: Chat, runtime: Runtime, slack: RecordingSender
) -> None:
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    await people(chat, 2)
    await ana.command("broadcast")
    await ana.submits(form())
    preview = ana.last_reply
    await ana.clicks("Send now", on=preview)
    await ana.clicks("Send now", on=preview)
    assert "Already scheduled" in ana.last_reply.text
    assert await count_outbox(runtime, kind="broadcast") == 3
    async with runtime.db.session() as s:
        b = await s.scalar(select(Broadcast))
        assert b is not None
        from handlers.broadcasts.compose import schedule

        await schedule(s, runtime, await runtime.default_rollout(s), b, runtime.clock.now())
        await s.commit()
    assert await count_outbox(runtime, kind="broadcast") == 3  # unique key per (broadcast, recipient)


async def test_bad_input_is_refused_inline_and_nothing_is_written(chat: Chat, runtime: Runtime) -> None:
    ana = await chat.person("Ana", role=Role.change_lead)
    await ana.command("broadcast")
    reply = await ana.submits(form(boundaries="   "))
    assert reply.form is not None and "Boundaries" in reply.form.errors["boundaries"]
    reply = await ana.submits(form(date="2026-11-23", time="08:00"))  # clock: 11:00 in Helsinki
    assert reply.form is not None and "already passed" in reply.form.errors["time"]
    reply = await ana.submits(form(audience="teams", teams=["Nobody's team"]))
    assert reply.form is not None and "Nobody is in" in reply.form.errors["audience"]
    reply = await ana.submits(form(audience="champions"))
    assert reply.form is not None and "Nobody is in the champions" in reply.form.errors["audience"]
    async with runtime.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Broadcast)) == 0
    assert await count_outbox(runtime) == 0


async def test_a_non_change_lead_is_denied_and_the_denial_audited(chat: Chat, runtime: Runtime) -> None:
    elif_ = await chat.person("Elif", role=Role.champion)
    await elif_.command("broadcast")
    assert "only a change-lead" in elif_.last_reply.text
    async with runtime.db.session() as s:
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "denied"))
        assert entry is not None and "broadcast" in entry.summary


async def test_schedule_for_later_then_edit_then_cancel(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    await people(chat, 2)
    await ana.command("broadcast")
    await ana.submits(form(date="2026-11-24", time="10:00"))
    await ana.clicks("Schedule for")
    assert "scheduled to 3 recipients, at Tue 2026-11-24 10:00" in ana.last_reply.text
    await drain(runtime)
    assert slack.sent == []  # not due yet
    await ana.command("broadcasts")
    assert "scheduled" in ana.last_reply.text
    await ana.clicks("Edit")
    await ana.submits(form(title="Week 3, corrected", date="2026-11-24", time="10:00"))
    assert "Week 3, corrected" in ana.last_reply.text
    assert await count_outbox(runtime, status="cancelled") == 3  # the old revision's rows
    await ana.clicks("Schedule for")
    assert await count_outbox(runtime, status="pending") == 3
    await ana.command("broadcasts")
    await ana.clicks("Cancel")
    assert "Cancelled" in ana.last_reply.text
    assert await count_outbox(runtime, status="pending") == 0
    clock.set(dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC))
    await deliver_all(runtime, clock)
    assert slack.sent == []


async def test_a_started_broadcast_can_no_longer_be_cancelled(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    await people(chat, 1)
    await ana.command("broadcast")
    await ana.submits(form())
    preview = ana.last_reply
    await ana.clicks("Send now", on=preview)
    await deliver_all(runtime, clock)
    await ana.clicks("Cancel", on=preview)
    assert "started sending" in ana.last_reply.text


async def test_large_audience_needs_a_second_change_lead(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    carl = await chat.person("Carl", role=Role.change_lead, platform="slack")
    await people(chat, 3)
    async with runtime.db.session() as s:
        rollout = await runtime.default_rollout(s)
        rollout.config = {**rollout.config, "broadcast_approval_over": 4}
        await s.commit()
    await ana.command("broadcast")
    await ana.submits(form())
    await ana.clicks("Send now")
    assert "asked Carl to approve" in ana.last_reply.text
    assert await count_outbox(runtime, kind="broadcast") == 0
    await deliver_all(runtime, clock)
    ask = slack.to(carl.identity.user_id)[-1]
    approve = ask.message.blocks[-1].buttons[0]  # type: ignore[union-attr]
    await ana.acts(approve.action_id, approve.value)
    assert "can't approve your own" in ana.last_reply.text
    await carl.acts(approve.action_id, approve.value)
    assert "Approved" in carl.last_reply.text
    assert await count_outbox(runtime, kind="broadcast") == 5
    await deliver_all(runtime, clock)
    assert any("Carl approved your broadcast" in s.text for s in slack.to(ana.identity.user_id))


async def test_dm_in_quiet_hours_waits_until_morning(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    await ana.command("broadcast")
    await ana.submits(form(date="2026-11-23", time="22:00"))  # Helsinki; quiet hours 20:00-08:00
    await ana.clicks("Schedule for")
    rows = await chat.outbox(kind="broadcast")
    assert rows[0].next_attempt_at == dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.UTC)  # 08:00 Helsinki


async def test_one_reminder_to_those_who_have_not_acknowledged_and_a_final_report(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    staff = await people(chat, 2)
    await ana.command("broadcast")
    await ana.submits(form(ask_ack=True))
    await ana.clicks("Send now")
    await deliver_all(runtime, clock)
    got = slack.to(staff[0].identity.user_id)[0]
    ack = got.message.blocks[-1].buttons[0]  # type: ignore[union-attr]
    await staff[0].acts(ack.action_id, ack.value)
    await run_due(runtime)
    await deliver_all(runtime, clock)
    assert any("has finished sending" in s.text for s in slack.to(ana.identity.user_id))
    clock.advance(hours=48, minutes=10)
    await run_due(runtime)
    await run_due(runtime)
    await deliver_all(runtime, clock)
    reminders = [s for s in slack.sent if s.text.startswith("Reminder")]
    assert sorted(s.target for s in reminders) == sorted(
        f"user:W1:{p.identity.user_id}" for p in (ana, staff[1])
    )  # not staff[0], who acknowledged; once each
    clock.advance(hours=48)
    await run_due(runtime)
    await deliver_all(runtime, clock)
    assert len([s for s in slack.sent if s.text.startswith("Reminder")]) == 2


async def test_settings_mute_broadcasts_but_mandatory_ones_arrive(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    eve = (await people(chat, 1))[0]
    await eve.command("settings")
    receive = eve.last_form.fields[0]
    assert "broadcast" in receive.initial
    await eve.submits({"receive": [k for k in receive.initial if k != "broadcast"]})
    assert "muted" in eve.last_reply.text
    for mandatory in (False, True):
        await ana.command("broadcast")
        await ana.submits(form(title=f"mandatory={mandatory}", mandatory=mandatory))
        await ana.clicks("Send now")
    await deliver_all(runtime, clock)
    assert [s.text.split("\n")[0] for s in slack.to(eve.identity.user_id)] == ["mandatory=True"]
    await eve.command("settings", "unmute broadcast")
    assert "muted" not in eve.last_reply.text.split("Broadcasts from the change team")[1].split("\n")[0]
