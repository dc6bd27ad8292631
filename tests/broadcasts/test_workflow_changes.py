"""Workflow changes a change lead notes (`workflow …`) appear in the next weekly update's "What changed"."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bot.clock import FrozenClock
from bot.model import LIT_OPEN, Role
from bot.runtime import Runtime
from handlers.broadcasts.tables import WorkflowChange
from tests.broadcasts.senders import RecordingSender
from tests.chat import Chat

NASTY = "Second check above 5,000 <!channel> *now*"


async def _steps(rt: Runtime) -> None:
    async with rt.db.session() as s:
        rollout = await rt.default_rollout(s)
        rollout.config = {**rollout.config, "workflow_steps": ["Intake", "Routing", "Payout"]}
        await s.commit()


async def _count(rt: Runtime) -> int:
    async with rt.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(WorkflowChange)) or 0)


async def test_a_noted_change_is_listed_in_the_next_weekly_update_and_not_the_one_after(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _steps(runtime)
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    await ana.command("workflow", NASTY)
    assert "Noted for the next weekly update" in ana.last_reply.text
    await ana.command("workflow")  # no text: the short form with the workflow's steps
    form = ana.last_form
    assert [f.name for f in form.fields] == ["step", "text"]
    assert [o.value for o in form.fields[0].options] == ["general", "Intake", "Routing", "Payout"]
    await ana.submits({"step": "Routing", "text": "   "})
    assert "what is different" in ana.last_form.errors["text"]
    await ana.submits({"step": "Nowhere", "text": "x"})
    assert set(ana.last_form.errors) == {"step"}
    assert await _count(runtime) == 1  # nothing half-written by the bad submissions
    await ana.submits({"step": "Routing", "text": "The assistant proposes the queue; you confirm it."})
    assert "(Routing)" in ana.last_reply.text

    clock.advance(minutes=5)
    await ana.command("updates", "draft weekly")
    draft = "\n".join(str(getattr(b, "text", "") or "") for b in ana.last_reply.message.blocks)  # markers kept
    changed = draft.split("What changed", 1)[1].split("One learning example", 1)[0]
    assert "No changes to the workflow this week" not in changed
    assert f"Workflow: {LIT_OPEN}Second check above 5,000 <!channel> *now*" in changed  # marked for escaping
    assert "Workflow — " in changed and "Routing" in changed and "you confirm it" in changed
    assert changed.index("Second check") < changed.index("you confirm it")  # in the order noted

    clock.advance(days=8)
    await ana.command("updates", "draft weekly")
    nxt = ana.last_reply.text.split("What changed", 1)[1]
    assert "Second check" not in nxt and "No changes to the workflow this week" in nxt


async def test_only_change_leads_note_workflow_changes(chat: Chat, runtime: Runtime) -> None:
    eve = await chat.person("Eve", role=Role.champion)
    await eve.command("workflow", "we skip intake now")
    assert "change lead" in eve.last_reply.text.lower() or "not allowed" in eve.last_reply.text.lower()
    assert await _count(runtime) == 0


async def test_an_overlong_note_is_refused_with_a_friendly_message(chat: Chat, runtime: Runtime) -> None:
    ana = await chat.person("Ana", role=Role.change_lead)
    await ana.command("workflow", "x" * 1001)
    assert "over 1,000 characters" in ana.last_reply.text
    assert await _count(runtime) == 0


async def test_the_weekly_job_lists_changes_noted_during_the_week(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    from bot.scheduler import run_due
    from tests.broadcasts.senders import deliver_all

    monday_9 = dt.datetime(2026, 11, 30, 7, 0, 10, tzinfo=dt.UTC)  # 09:00 in Helsinki
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    clock.set(monday_9 - dt.timedelta(days=3))
    await ana.command("workflow", "Payouts above 5,000 need a second reviewer")
    clock.set(monday_9)
    await run_due(runtime)
    await deliver_all(runtime, clock)
    [review] = [s for s in slack.to(ana.identity.user_id) if "Draft for your approval: Weekly update" in s.text]
    assert "Payouts above 5,000 need a second reviewer" in review.text
