"""Friction end to end on Teams: the real server over HTTP, botbuilder's connector client posting to a mock
Bot Connector, and the outbox sent through the Teams sender.

Activities are the shapes Teams sends (messages, card submits, message-action invokes); checks read the cards
Uptake posted to the mock connector.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from bot.tables import AuditEntry
from handlers.friction.tables import FrictionReport, FrictionVote
from tests.support.teams_harness import CHANNEL_ID, TENANT, TeamsHarness
from tests.support.teams_mock import Posted

NASTY = "Routing <at>Everyone</at> & [x](https://evil) **bold** <https://evil|x> <!channel> — ignores priority"
FORM = {
    "step": "Route the claim",
    "what": "The routing suggestion ignores the claim's priority flag",
    "category": "trust",
    "impact": "slows",
    "frequency": "sometimes",
    "team": "Claims Intake",
    "share": True,
}
LEAD = "aad-9"
REPORTER = "Aad-1"  # the harness names a Teams user after their id


async def setup(teams: TeamsHarness) -> None:
    """Uptake installed in the triage channel and in everyone's personal scope; Ana is a change lead."""
    rt = teams.runtime
    for user in ("aad-1", "aad-2", LEAD):
        await teams.install(user=user, where="personal")
    await teams.install(user=LEAD, where="channel")
    async with rt.db.session() as session:
        rollout = await rt.default_rollout(session)
        rollout.channels = {"teams": {"triage": [CHANNEL_ID]}}
        person, _ = await resolve_person(session, Identity("teams", TENANT, LEAD), rt.clock.now())
        await set_role(session, rollout, person, Role.change_lead)
        await session.commit()
    teams.connector.clear()


async def file_by_form(teams: TeamsHarness, user: str = "aad-1", **values: Any) -> Posted:
    await teams.says("report", user=user)
    answer = await teams.submit_form({**FORM, **values}, user=user)
    assert answer.status == 200
    return teams.last_reply(user=user)


def number_in(text: str) -> int:
    m = re.search(r"your report is \**#(\d+)", text)
    assert m, text
    return int(m.group(1))


def triage_posts(teams: TeamsHarness) -> list[Posted]:
    return teams.connector.to(CHANNEL_ID)


async def report_row(teams: TeamsHarness, number: int) -> FrictionReport:
    async with teams.runtime.db.session() as session:
        return await session.get_one(FrictionReport, number)


async def count(teams: TeamsHarness, table: Any) -> int:
    async with teams.runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


# ---------------------------------------------------------------- filing


async def test_card_form_files_a_report_and_posts_it_to_the_triage_channel(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("report", user="aad-1")
    form = teams.last_form(user="aad-1")
    assert {i["id"] for i in form.inputs()} >= {"f.step", "f.what", "f.category", "f.impact", "f.frequency", "f.share"}
    await teams.submit_form(FORM, user="aad-1")
    filed = teams.last_reply(user="aad-1")
    assert filed.id == form.id and not filed.inputs()  # the answer took the form card's place
    number = number_in(filed.text)
    await teams.submit_form(FORM, user="aad-1", on=form)  # the same card submitted twice: one report
    assert f"already filed as **#{number}**" in teams.last_reply(user="aad-1").text
    assert await count(teams, FrictionReport) == 1
    assert await drain(teams.runtime) >= 1
    [post] = triage_posts(teams)
    assert f"#{number}" in post.text and f"Reported by: {REPORTER}" in post.text
    titles = [a["title"] for a in post.actions()]
    for label in ("Take it", "Assign", "Set status", "Mark duplicate", "Reply to reporter"):
        assert any(label in t for t in titles), titles


async def test_card_form_with_empty_text_comes_back_with_the_error(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("report", user="aad-1")
    # An old client that skips isRequired, or whitespace only: the capability's own message, next to the field.
    own = "Please tell us what happened — this can't be empty."
    await teams.submit_form({**FORM, "what": ""}, user="aad-1")
    card = teams.last_reply(user="aad-1")
    assert own in card.texts and "required" not in card.text
    assert card.texts.index(own) > card.texts.index("Describe what got in your way, in your own words.")
    await teams.submit_form({**FORM, "what": "   "}, user="aad-1")
    assert own in teams.last_reply(user="aad-1").texts
    assert await count(teams, FrictionReport) == 0


async def test_one_step_report_with_the_file_it_button(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("report the claims screen takes 40 seconds to load", user="aad-1")
    draft = teams.last_reply(user="aad-1")
    assert "too slow" in draft.text
    await teams.click("File it", user="aad-1", on=draft)
    await teams.click("File it", user="aad-1", on=draft, via="execute")  # a second click: no second report
    texts = "\n".join(p.text for p in teams.replies(user="aad-1"))
    number = number_in(texts)
    assert await count(teams, FrictionReport) == 1
    assert (await report_row(teams, number)).category == "slow"


async def test_message_action_prefills_the_form_and_keeps_the_link(teams: TeamsHarness) -> None:
    await setup(teams)
    link = "https://teams.microsoft.com/l/message/19:general/1700000000"
    fetched = await teams.message_action(
        "friction.report_message", "The assistant keeps <b>timing out</b> on big claims", user="aad-2", link=link
    )
    card = fetched.body["task"]["value"]["card"]["content"]
    what = next(i for i in _inputs(card) if i["id"] == "f.what")
    assert what["value"] == "The assistant keeps timing out on big claims"
    submit = next(a for a in _actions(card) if (a.get("data") or {}).get("uptake", {}).get("t") == "f")
    data = {**submit["data"], **{f"f.{k}": ("true" if v is True else str(v)) for k, v in FORM.items()}}
    data["f.what"] = what["value"]
    answer = await teams.invoke("composeExtension/submitAction", {"data": data}, user="aad-2", where="channel")
    assert answer.status == 200
    reports = await _all_reports(teams)
    assert len(reports) == 1 and reports[0].source_link == link


def _inputs(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in card["body"] if str(b.get("type", "")).startswith("Input.")]


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return list(card.get("actions") or [])


async def _all_reports(teams: TeamsHarness) -> list[FrictionReport]:
    async with teams.runtime.db.session() as session:
        return list(await session.scalars(select(FrictionReport).order_by(FrictionReport.id)))


# ---------------------------------------------------------------- duplicates, triage, notifications


async def test_duplicate_plus_one_then_lead_resolves_and_both_are_told(teams: TeamsHarness) -> None:
    await setup(teams)
    number = number_in((await file_by_form(teams, what="The claims screen takes 40 seconds to load")).text)
    suggestion = await file_by_form(teams, "aad-2", what="claims screen takes about 40 seconds to load for me too")
    assert "Same problem? +1 it instead" in suggestion.text
    await teams.click(f"+1 #{number}", user="aad-2", on=suggestion)
    assert f"+1 on **#{number}**" in teams.last_reply(user="aad-2").text
    assert await count(teams, FrictionReport) == 1 and await count(teams, FrictionVote) == 1

    await drain(teams.runtime)
    [post] = triage_posts(teams)
    await teams.click("Set status", user=LEAD, where="channel", on=post)
    form = _last_form_anywhere(teams, LEAD)
    assert f"Status of #{number}" in form.text
    await teams.submit_form(
        {"status": "resolved", "note": "We added an index; it loads in 2 s"}, user=LEAD, where="channel", on=form
    )
    assert (await report_row(teams, number)).status == "resolved"
    teams.connector.clear()
    await drain(teams.runtime)
    for user in ("aad-1", "aad-2"):
        [update] = teams.replies(user=user)
        assert "You said" in update.text and "We added an index" in update.text
        assert any(a["title"] == "Not yet" for a in update.actions())
    await teams.click("Not yet", user="aad-1", on=teams.replies(user="aad-1")[0])
    assert (await report_row(teams, number)).status == "in_progress"


def _last_form_anywhere(teams: TeamsHarness, user: str) -> Posted:
    for where in ("personal", "channel"):
        try:
            return teams.last_form(user=user, where=where)  # type: ignore[arg-type]
        except AssertionError:
            continue
    raise AssertionError("no form card for " + user)


async def test_employee_cannot_change_status_and_is_audited(teams: TeamsHarness) -> None:
    await setup(teams)
    number = number_in((await file_by_form(teams)).text)
    await drain(teams.runtime)
    [post] = triage_posts(teams)
    await teams.click("Set status", user="aad-2", where="channel", on=post)
    said = "\n".join(p.text for p in teams.connector.posted)
    assert "change the status" in said, said
    assert not any(f"Status of #{number}" in p.text for p in teams.connector.posted)
    assert (await report_row(teams, number)).status == "new"
    async with teams.runtime.db.session() as session:
        denied = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "denied")))
    assert denied and "status" in denied[-1].summary


# ---------------------------------------------------------------- escaping and anonymity


async def test_triage_card_escapes_report_text_and_hides_an_anonymous_reporter(teams: TeamsHarness) -> None:
    await setup(teams)
    await file_by_form(teams, what=NASTY, share=False)
    await drain(teams.runtime)
    [post] = triage_posts(teams)
    card_text = post.text
    assert "[x](https://evil)" not in card_text and r"\[x\]\(https://evil\)" in card_text
    assert "**bold**" not in card_text
    assert "<at>" not in card_text and not post.activity.get("entities")  # no mention of anyone
    assert REPORTER not in card_text and "aad-1" not in str(post.activity)
    assert "anonymous" in card_text
