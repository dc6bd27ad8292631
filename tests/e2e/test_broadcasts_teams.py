"""Broadcasts end to end on Teams: the real server over HTTP, botbuilder's connector client posting to a mock
Bot Connector, and the outbox sent through the Teams sender.

A change lead says `broadcast`, fills the card, previews, sends; `drain` delivers the personal messages through
the Teams sender; a reader presses "👍 Got it" and `broadcasts` counts it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from bot.tables import AuditEntry, OutboxMessage
from handlers.broadcasts.tables import Broadcast, BroadcastAck
from tests.support.teams_harness import TENANT, TeamsHarness
from tests.support.teams_mock import Posted

LEAD = "aad-9"
READERS = ("aad-1", "aad-2")
FORM: dict[str, Any] = {
    "title": "Claims assistant: week 3",
    "why": "Claims get routed in minutes instead of hours, so you spend less time on triage.",
    "changing": "From Monday the assistant proposes the routing; you confirm it.",
    "boundaries": "It never closes a claim; a human reviews every payout above 5,000.",
    "support": "Ask in the Claims AI channel; when it's wrong, press Report and we fix it within a week.",
    "audience": "everyone",
    "ask_ack": True,
}
NASTY = "Saved an hour <at>Everyone</at> & [x](https://evil) **bold** <https://evil|x> <!channel>"


async def setup(teams: TeamsHarness) -> None:
    """Uptake installed in everyone's personal scope; all three are known to Uptake; aad-9 is a change lead."""
    rt = teams.runtime
    for user in (*READERS, LEAD):
        await teams.install(user=user, where="personal")
    async with rt.db.session() as session:
        rollout = await rt.default_rollout(session)
        for user in (*READERS, LEAD):
            person, _ = await resolve_person(session, Identity("teams", TENANT, user), rt.clock.now())
            if user == LEAD:
                await set_role(session, rollout, person, Role.change_lead)
        await session.commit()
    teams.connector.clear()


async def count(teams: TeamsHarness, table: Any) -> int:
    async with teams.runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


def with_action(teams: TeamsHarness, user: str, label: str) -> Posted:
    for posted in reversed(teams.replies(user=user)):
        if any(label.lower() in str(a.get("title", "")).lower() for a in posted.actions()):
            return posted
    raise AssertionError(f"no card with {label!r} for {user}")


async def compose_and_preview(teams: TeamsHarness, **values: Any) -> Posted:
    await teams.says("broadcast", user=LEAD)
    answer = await teams.submit_form({**FORM, **values}, user=LEAD)
    assert answer.status == 200
    return with_action(teams, LEAD, "Send now")


# ---------------------------------------------------------------- the whole path


async def test_lead_composes_previews_sends_and_a_reader_acknowledges(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("broadcast", user=LEAD)
    form = teams.last_form(user=LEAD)
    ids = {i["id"] for i in form.inputs()}
    assert ids >= {"f.title", "f.why", "f.changing", "f.boundaries", "f.support", "f.audience", "f.ask_ack"}
    assert "when a human must review" in str(form.activity)  # the guidance text

    preview = await compose_and_preview(teams)
    assert "Preview" in preview.text and "3 people" in preview.text and "routed in minutes" in preview.text
    assert not any("Got it" in a["title"] for a in preview.actions())  # the preview can't be acknowledged
    assert teams.replies(user="aad-1") == []  # nothing reaches readers before Send
    await teams.click("Send now", user=LEAD, on=preview)
    assert "scheduled to 3 recipients" in teams.last_reply(user=LEAD).text
    await teams.click("Send now", user=LEAD, on=preview, via="execute")  # a second click: nothing new
    assert await count(teams, OutboxMessage) == 3

    assert await drain(teams.runtime) == 3
    for user in (*READERS, LEAD):
        [dm] = [p for p in teams.replies(user=user) if any("Got it" in a["title"] for a in p.actions())]
        assert "Claims assistant: week 3" in dm.text and "What's changing" in dm.text and "Support" in dm.text
    [dm] = teams.replies(user="aad-1")
    await teams.click("Got it", user="aad-1", on=dm)
    assert "noted that you've read" in teams.last_reply(user="aad-1").text
    await teams.click("Got it", user="aad-1", on=dm, via="execute")  # twice: counted once
    assert await count(teams, BroadcastAck) == 1

    await teams.says("broadcasts", user=LEAD)
    listing = teams.last_reply(user=LEAD).text
    assert "Claims assistant: week 3" in listing and "Acknowledged" in listing and "1 (33%)" in listing


# ---------------------------------------------------------------- bad input and permissions


async def test_an_empty_part_comes_back_with_the_error_and_nothing_is_stored(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("broadcast", user=LEAD)
    await teams.submit_form({**FORM, "support": "  "}, user=LEAD)
    said = teams.last_reply(user=LEAD)  # the form card, re-rendered with the capability's own message
    assert "Please fill in Support: every broadcast has a title and all four parts." in said.texts, said.text
    assert any(i["id"] == "f.support" for i in said.inputs())
    assert await count(teams, Broadcast) == 0 and await count(teams, OutboxMessage) == 0


async def test_an_employee_is_denied_and_audited(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("broadcast", user="aad-1")
    said = teams.last_reply(user="aad-1")
    assert not said.inputs()
    assert "change lead" in said.text.lower() or "not allowed" in said.text.lower(), said.text
    async with teams.runtime.db.session() as session:
        denied = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "denied")))
    assert denied and "broadcast" in denied[-1].summary


# ---------------------------------------------------------------- settings


async def test_a_person_who_mutes_broadcasts_gets_only_mandatory_ones(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("settings", user="aad-2")
    form = teams.last_form(user="aad-2")
    [receive] = [i for i in form.inputs() if i["id"] == "f.receive"]
    kinds = [c["value"] for c in receive["choices"]]
    assert "broadcast" in kinds
    await teams.submit_form({"receive": [k for k in kinds if k != "broadcast"]}, user="aad-2", on=form)
    assert "muted" in teams.last_reply(user="aad-2").text

    preview = await compose_and_preview(teams)
    await teams.click("Send now", user=LEAD, on=preview)
    teams.connector.clear()
    await drain(teams.runtime)
    assert teams.replies(user="aad-2") == [] and len(teams.replies(user="aad-1")) == 1
    async with teams.runtime.db.session() as session:
        reasons = list(await session.scalars(select(OutboxMessage.error).where(OutboxMessage.status == "cancelled")))
    assert reasons == ["muted by the person"]

    teams.runtime.clock.advance(minutes=5)
    preview = await compose_and_preview(teams, title="Mandatory: new payout rule", mandatory=True)
    await teams.click("Send now", user=LEAD, on=preview)
    await drain(teams.runtime)
    assert [p for p in teams.replies(user="aad-2") if "new payout rule" in p.text]


# ---------------------------------------------------------------- escaping


async def test_a_win_is_escaped_when_thanked_and_in_the_weekly_draft(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("win", user="aad-1")
    await teams.submit_form({"kind": "win", "text": NASTY}, user="aad-1")
    thanks = teams.last_reply(user="aad-1")
    teams.runtime.clock.advance(minutes=1)
    await teams.says("updates draft weekly", user=LEAD)
    draft = teams.last_reply(user=LEAD)
    assert "One learning example" in draft.text
    for said in (thanks, draft):
        rendered = said.text
        assert "Saved an hour" in rendered
        assert "[x](https://evil)" not in rendered and r"\[x\]\(https://evil\)" in rendered
        assert "**bold**" not in rendered
        assert "<at>" not in rendered and not said.activity.get("entities")  # no mention of anyone
