"""Workflow changes in the console: a change lead notes them (typed or with the short form), edits and removes them
before the weekly update goes out, and the published update lists them under "What changed" — once."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from bot.adapters.console import ConsoleChat, ConsoleSender, render_message
from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from bot.runtime import Runtime
from bot.scheduler import run_due
from tests.e2e.test_broadcasts_console import ANSWERS, LEAD, READER, Typing, number_of, setup

MONDAY_9 = dt.datetime(2026, 11, 30, 7, 0, 10, tzinfo=dt.UTC)  # the weekly update job, 09:00 Helsinki


async def announce_in_console(rt: Runtime) -> None:
    async with rt.db.session() as session:
        rollout = await rt.default_rollout(session)
        rollout.channels = {"console": {"announce": ["general"]}}
        await session.commit()


def what_changed(text: str) -> str:
    """The "What changed" part of a rendered update."""
    return text.split("What changed", 1)[1].split("One learning example", 1)[0]


async def test_console_workflow_changes_are_noted_edited_removed_and_published_once(runtime: Runtime) -> None:
    sender = await setup(runtime)
    await announce_in_console(runtime)
    out = io.StringIO()
    typing = Typing(["Claims under 500 € are routed automatically; you only check the list at noon."])
    ana = ConsoleChat(runtime, LEAD, out=out, read=typing)

    await ana.turn("workflow change Routing suggestions now cover motor claims <b>too</b>")
    assert "Noted: “Routing suggestions now cover motor claims <b>too</b>”" in out.getvalue()
    await ana.turn("workflow change")  # no text: the short form
    assert "== Note a workflow change ==" in out.getvalue() and typing.prompts
    assert "Noted: “Claims under 500 €" in out.getvalue()
    await ana.turn("workflow change " + "x" * 501)
    assert "Keep it under 500 characters" in out.getvalue()

    runtime.clock.set(MONDAY_9)
    await run_due(runtime)
    await drain(runtime)
    [draft] = [m for m in sender.read_new(LEAD.user_id, 0)[0] if "Draft for your approval: Weekly update" in m.text]
    shown = render_message(draft, [])
    assert "Routing suggestions now cover motor claims <b>too</b>" in what_changed(shown)
    assert "Claims under 500 €" in what_changed(shown)

    # Before it goes out: edit one, remove the other; the open draft follows.
    await ana.turn("workflow changes")
    assert "2 workflow change(s)" in out.getvalue()
    ana._read = Typing(["Routing suggestions now cover motor and travel claims"])
    await ana.turn(number_of(ana, "Edit"))  # the first change's Edit
    assert "Updated: “Routing suggestions now cover motor and travel claims”" in out.getvalue()
    assert "open weekly draft is updated" in out.getvalue()
    await ana.turn("workflow changes")
    await ana.turn(str([i for i, c in enumerate(ana.choices, 1) if getattr(c, "label", "") == "Remove"][1]))
    assert "Removed “Claims under 500 €" in out.getvalue()
    await ana.turn("updates")
    await ana.turn(number_of(ana, "Read"))
    draft_now = out.getvalue().rsplit("Weekly update", 1)[1]
    assert "motor and travel claims" in draft_now and "Claims under 500" not in draft_now
    await ana.turn(number_of(ana, "Approve & send"))
    assert "goes to 1 announcement channel" in out.getvalue()
    await drain(runtime)
    [posted] = sender.read_new("channel-general", 0)[0]
    assert "motor and travel claims" in what_changed(render_message(posted, []))

    # Published: it can't be changed any more, and next week's update doesn't repeat it.
    await ana.turn("workflow changes")
    assert "No workflow changes are waiting" in out.getvalue()
    runtime.clock.set(MONDAY_9 + dt.timedelta(days=7))
    await ana.turn("updates draft weekly")
    assert "No changes to the workflow this week" in what_changed(out.getvalue().rsplit("Draft:", 1)[1])


async def test_console_skipped_update_keeps_the_change_for_the_next_one_and_employees_cannot_note(
    runtime: Runtime,
) -> None:
    await setup(runtime)
    await announce_in_console(runtime)
    out = io.StringIO()
    ana = ConsoleChat(runtime, LEAD, out=out, read=Typing(["The customer note template is now in the assistant panel"]))
    await ana.turn("broadcasts")  # the broadcasts list offers the short form
    await ana.turn(number_of(ana, "Note a workflow change"))
    assert "== Note a workflow change ==" in out.getvalue() and "Noted" in out.getvalue()
    await ana.turn("updates draft weekly")
    assert "customer note template" in what_changed(out.getvalue().rsplit("Draft:", 1)[1])
    await ana.turn(number_of(ana, "Skip this time"))
    runtime.clock.advance(days=7)
    await ana.turn("updates draft weekly")
    assert "customer note template" in what_changed(out.getvalue().rsplit("Draft:", 1)[1])

    ben_out = io.StringIO()
    ben = ConsoleChat(runtime, READER, out=ben_out, read=Typing([]))
    await ben.turn("workflow change I changed everything")
    assert "change lead" in ben_out.getvalue().lower() or "not allowed" in ben_out.getvalue().lower()
    await ana.turn("workflow changes")
    assert "I changed everything" not in out.getvalue() and "1 workflow change(s)" in out.getvalue()


# ---------------------------------------------------------------- schedule, edit, cancel; approval; the reminder

CARL = Identity("console", "local", "carl", "Carl Lead")
TOMORROW_10_UTC = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)  # 10:00 Helsinki
SCHEDULED = [*ANSWERS[:6], "2026-11-24", "10:00", "yes", "no"]


def inbox(sender: ConsoleSender, who: Identity, chat: ConsoleChat, out: io.StringIO, words: str) -> list[str]:
    """Show `who` the messages in their inbox that contain `words` (buttons become numbered choices)."""
    shown = []
    for message in sender.read_new(who.user_id, 0)[0]:
        choices: list[Any] = []
        rendered = render_message(message, choices)
        if words in rendered:
            shown.append(rendered)
            chat.choices.extend(choices)
    out.write("\n".join(shown))
    return shown


async def test_console_schedule_edit_cancel_and_one_that_goes_out_at_its_time(runtime: Runtime) -> None:
    sender = await setup(runtime)
    out = io.StringIO()
    # the scheduled one; its edit (a new title, Enter keeps the rest); a second scheduled one
    typing = Typing([*SCHEDULED, "Week 3, corrected", *[""] * 9, *SCHEDULED])
    ana = ConsoleChat(runtime, LEAD, out=out, read=typing)
    await ana.turn("broadcast")
    await ana.turn(number_of(ana, "Schedule for"))
    assert "scheduled to 2 recipients, at Tue 2026-11-24 10:00" in out.getvalue()
    await ana.turn("broadcasts")
    await ana.turn(number_of(ana, "Edit"))
    assert "== Edit broadcast ==" in out.getvalue() and "Week 3, corrected" in out.getvalue().rsplit("Preview", 1)[1]
    await ana.turn(number_of(ana, "Schedule for"))
    await ana.turn("broadcasts")
    await ana.turn(number_of(ana, "Cancel"))
    assert "Cancelled “Week 3, corrected”" in out.getvalue()

    await ana.turn("broadcast")
    await ana.turn(number_of(ana, "Schedule for"))
    runtime.clock.set(TOMORROW_10_UTC - dt.timedelta(minutes=1))
    assert await drain(runtime) == 0
    runtime.clock.set(TOMORROW_10_UTC)
    assert await drain(runtime) == 2
    [got] = sender.read_new(READER.user_id, 0)[0]
    assert "Claims assistant: week 3" in got.text and "corrected" not in got.text  # the cancelled one never came
    await ana.turn("broadcasts")
    listing = out.getvalue().rsplit("Broadcasts in", 1)[1]
    assert "cancelled" in listing and "Delivered: 2" in listing


async def test_console_second_lead_approves_and_the_reminder_reaches_who_has_not_acknowledged(
    runtime: Runtime,
) -> None:
    sender = await setup(runtime)
    async with runtime.db.session() as session:
        rollout = await runtime.default_rollout(session)
        carl, _ = await resolve_person(session, CARL, runtime.clock.now())
        await set_role(session, rollout, carl, Role.change_lead)
        rollout.config = {**(rollout.config or {}), "broadcast_approval_over": 1}
        await session.commit()
    out, carl_out, ben_out = io.StringIO(), io.StringIO(), io.StringIO()
    ana = ConsoleChat(runtime, LEAD, out=out, read=Typing(ANSWERS))
    carl_chat = ConsoleChat(runtime, CARL, out=carl_out, read=Typing([]))
    ben = ConsoleChat(runtime, READER, out=ben_out, read=Typing([]))
    await ana.turn("broadcast")
    await ana.turn(number_of(ana, "Send now"))
    assert "asked Carl Lead to approve" in out.getvalue()
    await drain(runtime)
    assert inbox(sender, CARL, carl_chat, carl_out, "asks you to approve")
    ana.choices = list(carl_chat.choices)  # Ana tries the same button
    await ana.turn(number_of(ana, "Approve"))
    assert "can't approve your own" in out.getvalue()
    await carl_chat.turn(number_of(carl_chat, "Approve"))
    assert "Approved" in carl_out.getvalue()
    await drain(runtime)
    assert inbox(sender, LEAD, ana, out, "Carl Lead approved your broadcast")
    assert inbox(sender, READER, ben, ben_out, "Claims assistant: week 3")

    runtime.clock.advance(hours=48, minutes=10)
    await run_due(runtime)
    runtime.clock.advance(minutes=10)
    await run_due(runtime)
    await drain(runtime)
    reminders = {
        who.user_id: len([m for m in sender.read_new(who.user_id, 0)[0] if m.text.startswith("Reminder")])
        for who in (LEAD, READER, CARL)
    }
    assert reminders == {"ana": 1, "ben": 1, "carl": 1}
    ben.choices = []
    inbox(sender, READER, ben, ben_out, "Reminder")
    await ben.turn(number_of(ben, "Got it"))
    assert "noted that you've read" in ben_out.getvalue()
    await ana.turn("broadcasts")
    assert "Acknowledged: 1 (33%)" in out.getvalue()


async def test_console_muted_broadcasts_stay_away_but_a_mandatory_one_arrives(runtime: Runtime) -> None:
    sender = await setup(runtime)
    ben_out = io.StringIO()
    ben = ConsoleChat(runtime, READER, out=ben_out, read=Typing([]))
    await ben.turn("settings mute broadcast")
    assert "muted" in ben_out.getvalue()
    out = io.StringIO()
    normal = ["Routine: new report layout", *ANSWERS[1:]]
    mandatory = ["Mandatory: payout rule", *ANSWERS[1:-1], "yes"]
    ana = ConsoleChat(runtime, LEAD, out=out, read=Typing([*normal, *mandatory]))
    for _ in range(2):
        await ana.turn("broadcast")
        await ana.turn(number_of(ana, "Send now"))
    await drain(runtime)
    got = [m.text for m in sender.read_new(READER.user_id, 0)[0]]
    assert len(got) == 1 and "Mandatory: payout rule" in got[0]
    assert len(sender.read_new(LEAD.user_id, 0)[0]) == 2  # Ana muted nothing
    await ana.turn("broadcasts")
    assert "Not sent (muted): 1" in out.getvalue()


async def test_console_a_broadcast_everyone_muted_is_not_listed_as_sent(runtime: Runtime) -> None:
    sender = await setup(runtime)
    ben = ConsoleChat(runtime, READER, out=io.StringIO(), read=Typing([]))
    await ben.turn("settings mute broadcast")
    out = io.StringIO()
    ana = ConsoleChat(runtime, LEAD, out=out, read=Typing(["Routine: new report layout", *ANSWERS[1:]]))
    await ana.turn("settings mute broadcast")
    await ana.turn("broadcast")
    await ana.turn(number_of(ana, "Send now"))
    await drain(runtime)
    out.truncate(0)
    await ana.turn("broadcasts")
    listing = out.getvalue()
    assert "not sent: every recipient muted broadcasts" in listing and "*sent*" not in listing, listing
    assert "Delivered: 0" in listing and "Not sent (muted): 2" in listing
    await run_due(runtime)  # the author's final receipt says so too
    await drain(runtime)
    inbox = [m.text for m in sender.read_new(LEAD.user_id, 0)[0]]
    assert [m for m in inbox if "reached nobody (not sent: every recipient muted broadcasts)" in m], inbox
    assert not [m for m in inbox if "has finished sending" in m]
