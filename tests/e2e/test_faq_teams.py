"""FAQ end to end on Teams, through real HTTP against the mock Bot Connector: ask, answer, abstain, ask a person,
answer back through the outbox, add to the FAQ — and the new entry answers the next person."""

from __future__ import annotations

from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from tests.faq.scenario import CLEAR, OUT_OF_SCOPE, only_abstain, set_thresholds
from tests.support.teams_harness import TENANT, TeamsHarness


async def make_lead(teams: TeamsHarness, user: str, name: str) -> None:
    rt = teams.runtime
    async with rt.db.session() as session:
        person, _ = await resolve_person(session, Identity("teams", TENANT, user, display_name=name), rt.clock.now())
        await set_role(session, await rt.default_rollout(session), person, Role.change_lead)
        await session.commit()


async def test_ask_answer_and_feedback_on_teams(teams: TeamsHarness) -> None:
    set_thresholds(teams.runtime, 0.6, 0.3)
    await teams.says(CLEAR, user="eve")
    answer = teams.last_reply(user="eve")
    assert "Is the survey anonymous?" in answer.text and "survey-privacy" in answer.text
    titles = [a["title"] for a in answer.actions()]
    assert titles[:3] == ["👍 Helpful", "👎 Not helpful", "Ask a person"]
    await teams.click("Helpful", user="eve", on=answer)
    assert "glad it helped" in teams.last_reply(user="eve").text


async def test_abstain_escalate_answer_back_and_add_to_faq_on_teams(teams: TeamsHarness) -> None:
    rt = teams.runtime
    await teams.says("whoami", user="cleo")  # the change lead has a personal chat with Uptake
    await make_lead(teams, "cleo", "Cleo")
    only_abstain(rt)
    await teams.says(OUT_OF_SCOPE, user="eve")
    abstained = teams.last_reply(user="eve")
    assert "I don't know" in abstained.text
    await teams.click("Ask a person", user="eve", on=abstained)
    assert "I've asked" in teams.last_reply(user="eve").text and "Cleo" in teams.last_reply(user="eve").text
    await teams.click("Ask a person", user="eve", on=abstained)  # again: still one escalation
    assert "already with a person" in teams.last_reply(user="eve").text
    assert await drain(rt) == 1
    card = teams.last_reply(user="cleo")
    assert "Eve" in card.text and OUT_OF_SCOPE in card.text

    await teams.click("Answer", user="cleo", on=card)
    await teams.submit_form({"answer": "Try the canteen's recipe board."}, user="cleo")
    offer = teams.last_reply(user="cleo")
    assert "Sent to Eve" in offer.text
    await drain(rt)
    delivered = [p for p in teams.replies(user="eve") if "Cleo answered your question" in p.text]
    assert len(delivered) == 1 and "recipe board" in delivered[0].text

    set_thresholds(rt, 0.6, 0.3)
    await teams.click("Add to FAQ as a new entry", user="cleo", on=offer)
    values = {
        "id": "banana-bread",
        "question": "Is there a banana bread recipe?",
        "answer": "Try the canteen's recipe board.",
        "examples": "banana bread with walnuts\nrecipe for banana bread",
        "tags": "",
    }
    await teams.submit_form(values, user="cleo")
    assert "Added `banana-bread`" in teams.last_reply(user="cleo").text
    await teams.says(OUT_OF_SCOPE, user="gus")
    answer = teams.last_reply(user="gus")
    assert "recipe board" in answer.text and any("Helpful" in a["title"] for a in answer.actions())
