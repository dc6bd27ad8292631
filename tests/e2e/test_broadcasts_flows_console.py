"""Workflow changes in the console: a change lead notes them (typed or with the short form), edits and removes them
before the weekly update goes out, and the published update lists them under "What changed" — once."""

from __future__ import annotations

import datetime as dt
import io

from bot.adapters.console import ConsoleChat, render_message
from bot.delivery import drain
from bot.runtime import Runtime
from bot.scheduler import run_due
from tests.e2e.test_broadcasts_console import LEAD, READER, Typing, number_of, setup

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
