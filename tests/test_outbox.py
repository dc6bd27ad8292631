"""The outbox: idempotent enqueue in the caller's transaction, delivery through a sender, opt-outs."""

from __future__ import annotations

import pytest

from bot.adapters.console import ConsoleSender
from bot.delivery import drain
from bot.model import Message
from bot.outbox import enqueue
from bot.runtime import Runtime
from tests.chat import Chat


async def test_enqueue_is_idempotent_and_delivery_reaches_the_console_inbox(chat: Chat, runtime: Runtime) -> None:
    eve = await chat.person("Eve")
    async with runtime.db.session() as s:
        rollout = await runtime.default_rollout(s)
        first = await enqueue(
            s,
            key="k1",
            message=Message("Your report #1 was resolved"),
            rollout_id=rollout.id,
            person_id=eve.person_id,
            not_before=runtime.clock.now(),
        )
        again = await enqueue(
            s,
            key="k1",
            message=Message("Your report #1 was resolved"),
            rollout_id=rollout.id,
            person_id=eve.person_id,
            not_before=runtime.clock.now(),
        )
        await s.commit()
    assert first is not None and again is None
    assert await drain(runtime) == 1
    [row] = await chat.outbox()
    assert row.status == "sent" and row.platform_message_id
    sender = runtime.senders["console"]
    assert isinstance(sender, ConsoleSender)
    messages, seen = sender.read_new("eve", 0)
    assert seen == 1 and messages[0].text == "Your report #1 was resolved"
    assert await drain(runtime) == 0


async def test_muted_kind_is_cancelled_unless_mandatory(chat: Chat, runtime: Runtime) -> None:
    eve = await chat.person("Eve")
    async with runtime.db.session() as s:
        from bot.tables import Person

        person = await s.get_one(Person, eve.person_id)
        person.notify_prefs = {"muted": ["tips"]}
        rollout = await runtime.default_rollout(s)
        await enqueue(
            s,
            key="t1",
            message=Message("a tip"),
            rollout_id=rollout.id,
            person_id=eve.person_id,
            kind="tips",
            not_before=runtime.clock.now(),
        )
        await enqueue(
            s,
            key="t2",
            message=Message("must read"),
            rollout_id=rollout.id,
            person_id=eve.person_id,
            kind="tips",
            not_before=runtime.clock.now(),
            mandatory=True,
        )
        await s.commit()
    await drain(runtime)
    rows = {r.key: r for r in await chat.outbox()}
    assert rows["t1"].status == "cancelled" and rows["t2"].status == "sent"


async def test_enqueue_needs_exactly_one_target(runtime: Runtime) -> None:
    async with runtime.db.session() as s:
        with pytest.raises(ValueError):
            await enqueue(s, key="x", message=Message("x"), rollout_id=None)
