"""Broadcasts in the console: `ConsoleChat` with scripted typing, the outbox delivered into console inboxes.

The same router and handlers as Slack and Teams; the form is asked field by field, buttons are numbers.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from sqlalchemy import func, select

from bot.adapters.console import ConsoleChat, ConsoleSender, render_message
from bot.delivery import drain
from bot.model import Button, Identity, Role
from bot.people import resolve_person, set_role
from bot.runtime import Runtime
from bot.tables import OutboxMessage
from handlers.broadcasts.tables import Broadcast, BroadcastAck

LEAD = Identity("console", "local", "ana", "Ana Lead")
READER = Identity("console", "local", "ben", "Ben Reader")
# title, why, changing, boundaries, support, audience (empty = everyone), date, time, ask_ack, mandatory
ANSWERS = [
    "Claims assistant: week 3",
    "Claims get routed in minutes instead of hours.",
    "From Monday the assistant proposes the routing; you confirm it.",
    "It never closes a claim; a human reviews every payout above 5,000.",
    "Ask in #claims-ai; when it's wrong, press Report.",
    "",
    "",
    "",
    "yes",
    "no",
]


class Typing:
    """Scripted keyboard input; records the prompts it was asked."""

    def __init__(self, lines: list[str]) -> None:
        self.lines: Iterator[str] = iter(lines)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str | None:
        self.prompts.append(prompt)
        return next(self.lines, None)


async def setup(rt: Runtime) -> ConsoleSender:
    async with rt.db.session() as session:
        rollout = await rt.default_rollout(session)
        for ident in (LEAD, READER):
            person, _ = await resolve_person(session, ident, rt.clock.now())
            if ident is LEAD:
                await set_role(session, rollout, person, Role.change_lead)
        await session.commit()
    sender = ConsoleSender(rt.settings.data_dir)
    rt.senders["console"] = sender
    return sender


def number_of(chat: ConsoleChat, label: str) -> str:
    for i, choice in enumerate(chat.choices, 1):
        if isinstance(choice, Button) and label.lower() in choice.label.lower():
            return str(i)
    raise AssertionError(f"no {label!r} among {chat.choices}")


async def count(rt: Runtime, table: object) -> int:
    async with rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_console_lead_broadcasts_and_a_reader_acknowledges_from_the_inbox(runtime: Runtime) -> None:
    sender = await setup(runtime)
    out = io.StringIO()
    typing = Typing(["", *ANSWERS])  # the first empty answer to Title is refused: it is required
    lead = ConsoleChat(runtime, LEAD, out=out, read=typing)
    await lead.turn("broadcast")
    shown = out.getvalue()
    assert "== New broadcast ==" in shown and "This field is required." in shown
    assert any(p.startswith("Boundaries") for p in typing.prompts)
    assert "Preview — only you see this" in shown and "2 people" in shown
    assert await count(runtime, OutboxMessage) == 0

    await lead.turn(number_of(lead, "Send now"))
    assert "scheduled to 2 recipients" in out.getvalue()
    assert await drain(runtime) == 2

    [message], _ = sender.read_new(READER.user_id, 0)
    reader_out = io.StringIO()
    reader = ConsoleChat(runtime, READER, out=reader_out, read=Typing([]))
    reader_out.write(render_message(message, reader.choices))
    assert "Claims assistant: week 3" in reader_out.getvalue() and "What's changing" in reader_out.getvalue()
    await reader.turn(number_of(reader, "Got it"))
    assert "noted that you've read" in reader_out.getvalue()
    async with runtime.db.session() as session:
        assert (await session.scalars(select(Broadcast.status))).all() == ["scheduled"]
    assert await count(runtime, BroadcastAck) == 1


async def test_console_employee_is_denied_and_nothing_is_asked(runtime: Runtime) -> None:
    await setup(runtime)
    out = io.StringIO()
    typing = Typing(ANSWERS)
    await ConsoleChat(runtime, READER, out=out, read=typing).turn("broadcast")
    assert typing.prompts == [] and "New broadcast" not in out.getvalue()
    assert "change lead" in out.getvalue().lower() or "not allowed" in out.getvalue().lower(), out.getvalue()
    assert await count(runtime, Broadcast) == 0
