"""Router: dispatch, help per role, unknown commands, limits, idempotency, error capture, denial with audit."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from bot.clock import FrozenClock
from bot.context import Ctx
from bot.db import Database
from bot.model import Reply, Request, Role
from bot.registry import Capability, Registry
from bot.runtime import Runtime
from bot.tables import AuditEntry, Person, ProcessedEvent
from tests.chat import Chat
from tests.conftest import make_settings


async def test_help_lists_only_what_the_role_may_use(chat: Chat) -> None:
    emp = await chat.person("Eve")
    lead = await chat.person("Ana", role=Role.change_lead)
    admin = await chat.person("Root", role=Role.admin)
    await emp.says("help")
    await lead.says("help")
    await admin.says("help")
    assert "whoami" in emp.last_reply.text
    assert "content reload" not in emp.last_reply.text and "grant" not in emp.last_reply.text
    assert "content reload" in lead.last_reply.text and "grant PERSON ROLE" not in lead.last_reply.text
    assert "grant PERSON ROLE" in admin.last_reply.text


async def test_empty_message_answers_with_help(chat: Chat) -> None:
    eve = await chat.person("Eve")
    await eve.says("   ")
    assert "What I can do" in eve.last_reply.text


async def test_unknown_command_suggests_the_closest(chat: Chat) -> None:
    eve = await chat.person("Eve")
    await eve.command("whoamii")
    assert "Did you mean `whoami`" in eve.last_reply.text
    assert "What I can do" in eve.last_reply.text


async def test_unknown_command_text_is_shown_literally(chat: Chat) -> None:
    eve = await chat.person("Eve")
    reply = await eve.command("<!channel>")
    assert reply.message is not None
    assert "\ue000<!channel>\ue001" in reply.message.text  # marked as person text for the renderer to escape


async def test_text_over_the_limit_is_refused_and_nothing_stored(chat: Chat) -> None:
    eve = await chat.person("Eve")
    async with chat.rt.db.session() as s:
        before = await s.scalar(select(func.count()).select_from(ProcessedEvent))
    await eve.says("x" * 4001)
    assert "more than 4,000 characters" in eve.last_reply.text
    async with chat.rt.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(ProcessedEvent)) == before


async def test_denied_command_answers_clearly_and_is_audited(chat: Chat) -> None:
    eve = await chat.person("Eve")
    await eve.says("grant Eve admin")
    assert "only a admin can" in eve.last_reply.text.lower() or "only an admin" in eve.last_reply.text.lower()
    async with chat.rt.db.session() as s:
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "denied"))
    assert entry is not None and entry.actor_id == eve.person_id and "grant" in entry.summary


async def test_grant_changes_role_and_unknown_person_changes_nothing(chat: Chat) -> None:
    root = await chat.person("Root", role=Role.admin)
    eve = await chat.person("Eve")
    await root.says("grant Eve champion")
    assert "Eve is now champion" in root.last_reply.text
    await eve.says("help")
    assert "champion" in eve.last_reply.text
    await root.says("grant Nobody Here champion")
    assert "don't know anyone called" in root.last_reply.text
    await root.says("grant Eve wizard")
    assert "Unknown role" in root.last_reply.text


def _registry_with(fn_name: str) -> Registry:
    reg = Registry()
    cap = Capability("testcap", reg)

    @cap.command("boom", help="Fails on purpose")
    async def boom(request: Request, ctx: Ctx) -> Reply:
        raise RuntimeError("secret internal detail")

    @cap.command("clash", help="Writes a key that is already taken")
    async def clash(request: Request, ctx: Ctx) -> Reply:
        ctx.session.add(ProcessedEvent(key="taken", at=ctx.now()))
        return Reply.say("clashed")

    @cap.command("count", help="Adds a person")
    async def count(request: Request, ctx: Ctx) -> Reply:
        ctx.session.add(Person(display_name=f"made by {request.event_id}"))
        return Reply.say("counted")

    return reg


@pytest.fixture
async def test_rt(db_url: str) -> Runtime:
    rt = Runtime(make_settings(db_url), db=Database(db_url), clock=FrozenClock(), reg=_registry_with("x"))
    yield rt  # type: ignore[misc]
    await rt.close()


async def test_handler_error_becomes_apology_with_reference(test_rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    eve = await Chat(test_rt).person("Eve")
    with caplog.at_level(logging.ERROR, logger="uptake.router"):
        reply = await eve.says("boom")
    assert "something went wrong" in reply.text and "reference" in reply.text
    assert "secret internal detail" not in reply.text and "Traceback" not in reply.text
    ref = reply.text.split("reference ")[1][:8]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


async def test_repeated_event_id_has_one_effect(test_rt: Runtime) -> None:
    eve = await Chat(test_rt).person("Eve")
    first = await eve.says("count", event_id="Ev123")
    again = await eve.says("count", event_id="Ev123")
    assert first.text == "counted"
    assert again.message is None and again.form is None
    async with test_rt.db.session() as s:
        made = await s.scalar(select(func.count()).select_from(Person).where(Person.display_name == "made by Ev123"))
    assert made == 1


async def test_failed_handler_does_not_burn_the_event_id(test_rt: Runtime) -> None:
    eve = await Chat(test_rt).person("Eve")
    await eve.says("boom", event_id="Ev9")
    async with test_rt.db.session() as s:
        assert await s.get(ProcessedEvent, "Ev9") is None  # a platform retry may still succeed


async def test_expired_button_and_form(chat: Chat) -> None:
    eve = await chat.person("Eve")
    await eve.acts("gone.action", "1")
    assert "button has expired" in eve.last_reply.text
    from bot.model import Submission

    await eve.send(eve._request(Submission("gone.form", {"a": "b"})))
    assert "form has expired" in eve.last_reply.text


async def test_old_idempotency_keys_are_purged(test_rt: Runtime) -> None:

    from bot.context import JobCtx
    from handlers.core import purge_processed_events

    eve = await Chat(test_rt).person("Eve")
    await eve.says("count", event_id="old")
    assert isinstance(test_rt.clock, FrozenClock)
    test_rt.clock.advance(days=8)
    await eve.says("count", event_id="new")
    async with test_rt.db.session() as s:
        rollout = await test_rt.default_rollout(s)
        await purge_processed_events(JobCtx(runtime=test_rt, session=s, rollout=rollout, fire_time=test_rt.clock.now()))
        await s.commit()
        keys = set(await s.scalars(select(ProcessedEvent.key)))
    assert keys == {"new"}


async def test_a_handler_failing_on_its_own_write_is_an_error_not_a_duplicate(test_rt: Runtime) -> None:
    async with test_rt.db.session() as s:
        s.add(ProcessedEvent(key="taken", at=test_rt.clock.now()))
        await s.commit()
    eve = await Chat(test_rt).person("Eve")
    reply = await eve.says("clash", event_id="Ev-clash")
    assert "something went wrong" in reply.text
    async with test_rt.db.session() as s:
        assert await s.get(ProcessedEvent, "Ev-clash") is None


async def test_help_follows_commands_registered_later(test_rt: Runtime) -> None:
    eve = await Chat(test_rt).person("Eve")
    await eve.says("help")
    assert "boom" in eve.last_reply.text and "later" not in eve.last_reply.text

    @Capability("latecomer", test_rt.registry).command("later", help="Registered after the first help")
    async def later(request: Request, ctx: Ctx) -> Reply:
        return Reply.say("late")

    await eve.says("help")
    assert "later" in eve.last_reply.text
