"""Closing the loop: every transition is stored with who and when and reaches the reporter and every +1."""

from __future__ import annotations

from sqlalchemy import select

from bot.delivery import drain
from bot.model import Role
from handlers.friction.tables import FrictionEvent
from tests.chat import Chat, Speaker
from tests.friction.conftest import Cast, file_by_form, load


async def inbox(chat: Chat, who: Speaker) -> list[str]:
    """What the console sender delivered to this person (drains the outbox first)."""
    from bot.adapters.console import ConsoleSender
    from bot.model import message_text

    await drain(chat.rt)
    sender = chat.rt.senders["console"]
    assert isinstance(sender, ConsoleSender)
    messages, _ = sender.read_new(who.identity.user_id, 0)
    return [message_text(m) for m in messages]


async def set_status(lead: Speaker, number: int, status: str, note: str = "") -> str:
    report_card = await lead.command("report", f"#{number}")
    form_reply = await lead.clicks("Set status…", on=report_card)
    reply = await lead.submits({"status": status, "note": note}, form=form_reply.form)
    return reply.text


async def test_full_lifecycle_notifies_reporter_and_plus_ones(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve, what="The routing suggestion ignores the priority flag")
    await cast.finn.acts("friction.vote", str(number))

    taken = await cast.ana.acts("friction.take", f"{number}:1")
    assert "Ana took it" in taken.text and taken.replace
    assert (await load(chat.rt, number)).status == "triaged"
    eve_msgs = await inbox(chat, cast.eve)
    assert any("You said" in m and "priority flag" in m and "Ana has picked it up" in m for m in eve_msgs)
    assert any("Ana has picked it up" in m for m in await inbox(chat, cast.finn))

    await set_status(cast.ana, number, "in_progress")
    assert any("working on it" in m for m in await inbox(chat, cast.finn))

    text = await set_status(cast.ana, number, "resolved", "Routing now reads the priority flag first.")
    assert "resolved" in text
    report = await load(chat.rt, number)
    assert report.status == "resolved" and report.resolution == "Routing now reads the priority flag first."
    last = (await inbox(chat, cast.eve))[-1]
    assert "You said" in last and "we changed this" in last and "Routing now reads the priority flag first." in last
    assert "Is it fixed for you?" in last

    async with chat.rt.db.session() as s:
        events = list(
            await s.scalars(select(FrictionEvent).where(FrictionEvent.report_id == number).order_by(FrictionEvent.id))
        )
    statuses = [(e.from_status, e.to_status, e.actor_id) for e in events if e.kind == "status"]
    assert statuses == [
        ("new", "triaged", cast.ana.person_id),
        ("triaged", "in_progress", cast.ana.person_id),
        ("in_progress", "resolved", cast.ana.person_id),
    ]
    assert all(e.at is not None for e in events)


async def _resolved_with_buttons(chat: Chat, cast: Cast) -> tuple[int, list]:
    number = await file_by_form(cast.eve)
    await cast.finn.acts("friction.vote", str(number))
    await cast.ana.acts("friction.take", f"{number}:1")
    await set_status(cast.ana, number, "resolved", "Fixed the routing rule.")
    rows = [r for r in await chat.outbox(kind="friction") if "Is it fixed" in str(r.payload)]
    return number, rows


async def test_not_yet_reopens_and_tells_the_owner(chat: Chat, cast: Cast) -> None:
    number, rows = await _resolved_with_buttons(chat, cast)
    eve_row = next(r for r in rows if r.person_id == cast.eve.person_id)
    not_yet = next(b for b in eve_row.payload["blocks"] if b.get("buttons"))["buttons"][1]
    assert not_yet["label"] == "Not yet"
    reply = await cast.eve.acts(not_yet["action_id"], not_yet["value"])
    assert "reopened" in reply.text
    assert (await load(chat.rt, number)).status == "in_progress"
    assert any("isn't fixed yet" in m for m in await inbox(chat, cast.ana))
    assert any("open again" in m for m in await inbox(chat, cast.finn))
    again = await cast.eve.acts(not_yet["action_id"], not_yet["value"])
    assert "already have your answer" in again.text


async def test_yes_is_recorded_and_keeps_it_resolved(chat: Chat, cast: Cast) -> None:
    number, rows = await _resolved_with_buttons(chat, cast)
    finn_row = next(r for r in rows if r.person_id == cast.finn.person_id)
    yes = next(b for b in finn_row.payload["blocks"] if b.get("buttons"))["buttons"][0]
    reply = await cast.finn.acts(yes["action_id"], yes["value"])
    assert "fixed for you" in reply.text
    assert (await load(chat.rt, number)).status == "resolved"
    async with chat.rt.db.session() as s:
        assert await s.scalar(select(FrictionEvent.id).where(FrictionEvent.kind == "fixed")) is not None


async def test_resolved_needs_what_we_changed_and_wont_fix_a_reason(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    card = await cast.ana.command("report", f"#{number}")
    form_reply = await cast.ana.clicks("Set status…", on=card)
    missing = await cast.ana.submits({"status": "resolved", "note": ""}, form=form_reply.form)
    assert missing.form is not None and "what we changed" in missing.form.errors["note"]
    missing = await cast.ana.submits({"status": "wont_fix", "note": " "}, form=form_reply.form)
    assert missing.form is not None and "reason" in missing.form.errors["note"]
    assert (await load(chat.rt, number)).status == "new"
    await cast.ana.submits(
        {"status": "wont_fix", "note": "Fraud scoring stays with the fraud model."}, form=form_reply.form
    )
    assert (await load(chat.rt, number)).status == "wont_fix"
    msgs = await inbox(chat, cast.eve)
    assert any("decided not to change" in m and "Fraud scoring stays" in m for m in msgs)


async def test_duplicate_moves_subscribers_to_the_original(chat: Chat, cast: Cast) -> None:
    original = await file_by_form(cast.eve, what="The claims screen takes 40 seconds to load")
    dup = await file_by_form(cast.gus, what="Opening a claim is painfully slow on Mondays", category="slow")
    await cast.finn.acts("friction.vote", str(dup))
    card = await cast.ana.command("report", f"#{dup}")
    form_reply = await cast.ana.clicks("Mark duplicate…", on=card)
    bad = await cast.ana.submits({"of": str(dup)}, form=form_reply.form)
    assert bad.form is not None and "itself" in bad.form.errors["of"]
    await cast.ana.submits({"of": f"#{original}"}, form=form_reply.form)
    report = await load(chat.rt, dup)
    assert report.status == "duplicate" and report.duplicate_of_id == original
    assert any(f"same problem as #{original}" in m for m in await inbox(chat, cast.gus))
    await cast.ana.acts("friction.take", f"{original}:1")
    recipients = {r.person_id for r in await chat.outbox(kind="friction") if f"#{original}:" in str(r.payload)}
    assert {cast.eve.person_id, cast.gus.person_id, cast.finn.person_id} <= recipients


async def test_assign_to_someone_else_tells_the_new_owner(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    card = await cast.ana.command("report", f"#{number}")
    form_reply = await cast.ana.clicks("Assign…", on=card)
    unknown = await cast.ana.submits({"who": "Nobody"}, form=form_reply.form)
    assert unknown.form is not None and "don't know anyone" in unknown.form.errors["who"]
    ben = await chat.person("Ben", role=Role.change_lead)
    await cast.ana.submits({"who": "Ben"}, form=form_reply.form)
    report = await load(chat.rt, number)
    assert report.owner_id == ben.person_id and report.status == "triaged"
    assert any(f"#{number} is now yours" in m for m in await inbox(chat, ben))
