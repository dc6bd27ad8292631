"""Anonymous reports: no identity in triage views, exports, digests, audit or logs; the link is for notifications
only and is deleted when the report closes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest
from sqlalchemy import func, select

from bot.digest import Period
from bot.outbox import scrub_private
from bot.tables import AuditEntry
from handlers.friction.metrics import friction_changes, friction_progress
from handlers.friction.tables import FrictionEvent, FrictionHiddenFollower
from tests.chat import Chat
from tests.friction.conftest import Cast, file_by_form, load
from tests.friction.test_lifecycle import inbox, set_status


async def hidden_links(chat: Chat, number: int) -> int:
    async with chat.rt.db.session() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(FrictionHiddenFollower)
                .where(FrictionHiddenFollower.report_id == number)
            )
            or 0
        )


async def test_anonymous_report_never_shows_who_filed_it(
    chat: Chat, cast: Cast, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        number = await file_by_form(cast.eve, share=False, what="My manager will judge me for using the assistant")
    assert "hidden from the change team" in cast.eve.last_reply.text
    report = await load(chat.rt, number)
    assert report.anonymous and report.reporter_id is None
    assert await hidden_links(chat, number) == 1

    seen: list[str] = [r.getMessage() for r in caplog.records]
    seen += [json.dumps(r.payload) for r in await chat.outbox(kind="friction_triage")]
    seen.append((await cast.ana.command("report", f"#{number}")).text)
    seen.append((await cast.ana.command("triage")).text)
    seen.append((await cast.ana.command("report", "export json")).text)
    seen.append((await cast.ana.command("report", "export csv")).text)
    async with chat.rt.db.session() as s:
        rollout = await chat.rt.default_rollout(s)
        period = Period(chat.rt.clock.now() - dt.timedelta(days=7), chat.rt.clock.now() + dt.timedelta(days=1))
        section = await friction_progress(s, rollout, period, chat.rt)
        assert section is not None
        seen += section.lines + [f"{f.label} {f.value}" for f in section.facts]
        audit = list(await s.scalars(select(AuditEntry).where(AuditEntry.object_type == "friction_report")))
        filed = await s.scalar(select(FrictionEvent).where(FrictionEvent.kind == "filed"))
    blob = "\n".join(seen)
    assert not re.search(r"\beve\b", blob, re.IGNORECASE), blob
    assert "anonymous" in blob and "judge me" in blob  # the text is there, the person is not
    assert all(a.actor_id != cast.eve.person_id for a in audit)
    assert filed is not None and filed.actor_id is None


async def test_anonymous_reporter_gets_updates_and_the_link_is_deleted_on_close(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve, share=False)
    await cast.ana.acts("friction.take", f"{number}:1")
    assert any("picked it up" in m for m in await inbox(chat, cast.eve))
    await set_status(cast.ana, number, "resolved", "We changed the routing rule.")
    assert any("We changed the routing rule." in m for m in await inbox(chat, cast.eve))
    assert await hidden_links(chat, number) == 0
    async with chat.rt.db.session() as s:
        # the three outbox rows to Eve are the notifications themselves; nothing else links her to the report
        events = list(await s.scalars(select(FrictionEvent).where(FrictionEvent.report_id == number)))
    assert all(e.actor_id != cast.eve.person_id for e in events)


async def test_reply_to_an_anonymous_reporter_is_relayed(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve, share=False)
    card = await cast.ana.command("report", f"#{number}")
    form_reply = await cast.ana.clicks("Reply to reporter", on=card)
    assert form_reply.form is not None and "won't see who filed" in (form_reply.form.intro or "")
    sent = await cast.ana.submits({"message": "Could you tell us which screen this was?"}, form=form_reply.form)
    assert "Sent to the reporter" in sent.text and "Eve" not in sent.text
    assert any("Could you tell us which screen" in m and "Ana" in m for m in await inbox(chat, cast.eve))
    assert (await load(chat.rt, number)).first_response_at is not None


async def test_not_yet_from_an_anonymous_reporter_keeps_them_following(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve, share=False)
    await cast.ana.acts("friction.take", f"{number}:1")
    await set_status(cast.ana, number, "resolved", "Done.")
    row = next(r for r in await chat.outbox(kind="friction") if "Is it fixed" in json.dumps(r.payload))
    button = next(b for b in row.payload["blocks"] if b.get("buttons"))["buttons"][1]
    await cast.eve.acts(button["action_id"], button["value"])
    report = await load(chat.rt, number)
    assert report.status == "in_progress" and report.reporter_id is None
    assert await hidden_links(chat, number) == 1
    await set_status(cast.ana, number, "resolved", "Really done now.")
    assert any("Really done now." in m for m in await inbox(chat, cast.eve))


async def test_what_changed_digest_lists_resolved_items_without_names(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve, what="Copying claim text back and forth")
    await cast.ana.acts("friction.take", f"{number}:1")
    await set_status(cast.ana, number, "resolved", "The assistant now opens inside the claims system.")
    async with chat.rt.db.session() as s:
        rollout = await chat.rt.default_rollout(s)
        period = Period(chat.rt.clock.now() - dt.timedelta(days=7), chat.rt.clock.now() + dt.timedelta(days=1))
        section = await friction_changes(s, rollout, period, chat.rt)
    assert section is not None and section.kind == "what_changed"
    assert "Copying claim text" in section.lines[0] and "opens inside the claims system" in section.lines[0]
    assert "Eve" not in "\n".join(section.lines)


async def test_delivered_messages_to_an_anonymous_reporter_are_scrubbed_from_the_outbox(chat: Chat, cast: Cast) -> None:
    """After delivery, the outbox must not link the anonymous reporter to the report (key, text or recipient)."""
    number = await file_by_form(cast.eve, share=False)
    await cast.finn.acts("friction.vote", str(number))  # a named +1: an ordinary follower, not private
    await cast.ana.acts("friction.take", f"{number}:1")
    assert any("picked it up" in m for m in await inbox(chat, cast.eve))  # delivered (drains the outbox)
    to_eve = [r for r in await chat.outbox(kind="friction") if r.person_id == cast.eve.person_id]
    assert to_eve and all(r.private and r.status == "sent" for r in to_eve)
    assert chat.rt.registry.jobs["core.scrub_private_outbox"]

    async with chat.rt.db.session() as s:
        assert await scrub_private(s) == len(to_eve)
        await s.commit()
    rows = await chat.outbox(kind="friction")
    assert not [r for r in rows if r.person_id == cast.eve.person_id]
    scrubbed = [r for r in rows if r.id in {x.id for x in to_eve}]
    blob = json.dumps([r.payload for r in scrubbed]) + " ".join(r.key for r in scrubbed)
    assert f"#{number}" not in blob and f"friction:{number}" not in blob and "picked it up" not in blob
    assert all(r.user_id is None and r.platform_message_id is None for r in scrubbed)
    # the named follower's row is untouched
    assert any(r.person_id == cast.finn.person_id and not r.private for r in rows)
