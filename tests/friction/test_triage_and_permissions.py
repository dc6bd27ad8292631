"""Triage lists and who may see or change what; denials are audited."""

from __future__ import annotations

from sqlalchemy import select

from bot.model import Role
from bot.tables import AuditEntry
from tests.chat import Chat
from tests.friction.conftest import Cast, file_by_form, load


async def _three_reports(chat: Chat, cast: Cast) -> tuple[int, int, int]:
    slow = await file_by_form(cast.eve, what="Claims screen takes 40 seconds to load", category="slow", impact="blocks")
    chat.rt.clock.advance(days=3)  # type: ignore[attr-defined]
    login = await file_by_form(
        cast.gus, what="Login fails on Mondays", category="access", impact="annoyance", team="Fraud Review"
    )
    rules = await file_by_form(cast.finn, what="May I paste medical notes?", category="rules", impact="slows")
    await cast.gus.acts("friction.vote", str(rules))
    await cast.eve.acts("friction.vote", str(rules))
    return slow, login, rules


async def test_triage_filters_and_sorts_by_impact_votes_age(chat: Chat, cast: Cast) -> None:
    slow, login, rules = await _three_reports(chat, cast)
    reply = await cast.ana.command("triage")
    text = reply.text
    assert "3 report(s), all teams" in text
    order = [text.index(f"#{n}") for n in (slow, rules, login)]
    assert order == sorted(order)  # blocks×1×4 days > slows×3 votes×1 day > annoyance
    assert f"#{rules}" in (await cast.ana.command("triage", "votes:2")).text
    assert f"#{slow}" not in (await cast.ana.command("triage", "votes:2")).text
    by_cat = (await cast.ana.command("triage", "category:access")).text
    assert f"#{login}" in by_cat and f"#{slow}" not in by_cat
    old = (await cast.ana.command("triage", "age:2")).text
    assert f"#{slow}" in old and f"#{login}" not in old
    team = (await cast.ana.command("triage", 'team:"Fraud Review"')).text
    assert f"#{login}" in team and f"#{slow}" not in team
    by_votes = (await cast.ana.command("triage", "sort:votes")).text
    assert by_votes.index(f"#{rules}") < by_votes.index(f"#{slow}")
    assert "Unknown filter" in (await cast.ana.command("triage", "colour:red")).text
    await cast.ana.acts("friction.take", f"{slow}:1")
    assert f"#{slow}" not in (await cast.ana.command("triage", "status:new")).text


async def test_champions_see_their_team_and_employees_may_not_triage(chat: Chat, cast: Cast) -> None:
    slow, login, _rules = await _three_reports(chat, cast)
    text = (await cast.cleo.command("triage")).text
    assert "team Claims Intake" in text and f"#{slow}" in text and f"#{login}" not in text
    assert "Claims screen" in (await cast.cleo.command("report", f"#{slow}")).text  # same team
    denied = await cast.cleo.command("report", f"#{login}")
    assert "Sorry" in denied.text
    emp = await cast.eve.command("triage")
    assert "Sorry, only a champion" in emp.text


async def test_employees_see_their_own_and_plus_oned_reports_only(chat: Chat, cast: Cast) -> None:
    slow, login, rules = await _three_reports(chat, cast)
    assert "Claims screen" in (await cast.eve.command("report", f"#{slow}")).text  # own
    assert "medical notes" in (await cast.eve.command("report", f"#{rules}")).text  # +1'd
    denied = await cast.eve.command("report", f"#{login}")
    assert "Sorry" in denied.text and "Login fails" not in denied.text
    mine = (await cast.eve.command("reports")).text
    assert f"#{slow}" in mine and f"#{rules}" in mine and f"#{login}" not in mine


async def test_employee_changing_status_is_denied_and_audited(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    for action in ("friction.take", "friction.status", "friction.assign", "friction.duplicate"):
        reply = await cast.eve.acts(action, f"{number}:1")
        assert "Sorry, only a change-lead" in reply.text, action
    champion = await cast.cleo.acts("friction.status", f"{number}:1")
    assert "Sorry" in champion.text
    report = await load(chat.rt, number)
    assert report.status == "new" and report.version == 1
    async with chat.rt.db.session() as s:
        denials = list(await s.scalars(select(AuditEntry).where(AuditEntry.action == "denied")))
    assert {d.actor_id for d in denials} == {cast.eve.person_id, cast.cleo.person_id}
    assert any("status" in d.summary for d in denials)


async def test_champion_may_reply_for_their_team(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    form_reply = await cast.cleo.acts("friction.reply", f"{number}:1")
    assert form_reply.form is not None
    sent = await cast.cleo.submits({"message": "Which claim type was it?"}, form=form_reply.form)
    assert "Sent to the reporter" in sent.text


async def test_outdated_card_is_told_it_changed(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    ben = await chat.person("Ben", role=Role.change_lead)
    await cast.ana.acts("friction.take", f"{number}:1")
    late = await ben.acts("friction.take", f"{number}:1")
    assert "changed while you were looking at it" in late.text and "triaged" in late.text
    report = await load(chat.rt, number)
    assert report.owner_id == cast.ana.person_id and report.version == 2


async def test_home_shows_my_reports(chat: Chat, cast: Cast) -> None:
    from bot.router import home_view

    number = await file_by_form(cast.eve, what="The export button does nothing")
    blocks = await home_view(chat.rt, cast.eve.identity)
    text = "\n".join(getattr(b, "text", "") or "" for b in blocks)
    assert "My reports" in str(blocks) and f"#{number}" in text and "export button" in text
    assert any(getattr(b, "buttons", ()) and b.buttons[0].action_id == "friction.new" for b in blocks)
