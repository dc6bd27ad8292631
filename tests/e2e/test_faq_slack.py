"""FAQ end to end on Slack, through real HTTP against the mock Slack Web API: ask, answer, abstain, ask a person,
answer back, add to the FAQ — and the new entry answers the next person."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from tests.faq.scenario import CLEAR, OUT_OF_SCOPE, only_abstain, set_channels, set_thresholds
from tests.support.slack_fixtures import TEAM, SlackDriver
from tests.support.slack_mock import SlackCall


@pytest.fixture
async def fslack(slack_with: Callable[..., AbstractAsyncContextManager[SlackDriver]]) -> AsyncIterator[SlackDriver]:
    async with slack_with(faq_answer_threshold=0.6, faq_suggest_threshold=0.3) as driver:
        driver.api.add_user("U1", name="Eve")
        driver.api.add_user("U2", name="Cleo")
        driver.api.add_user("U3", name="Gus")
        yield driver


async def make_champion(slack: SlackDriver, user: str, name: str) -> None:
    async with slack.rt.db.session() as session:
        person, _ = await resolve_person(
            session, Identity("slack", TEAM, user, display_name=name), slack.rt.clock.now()
        )
        await set_role(session, await slack.rt.default_rollout(session), person, Role.champion)
        await session.commit()


async def next_call(slack: SlackDriver, method: str, **params: str) -> SlackCall:
    """The newest call of `method` whose params match, after Uptake is idle."""
    await slack.idle()
    calls = [c for c in slack.api.calls(method) if all(c.params.get(k) == v for k, v in params.items())]
    assert calls, f"no {method} with {params}: {[c.params for c in slack.api.calls(method)]}"
    return calls[-1]


async def test_a_clear_question_in_a_dm_is_answered_with_buttons(fslack: SlackDriver) -> None:
    await fslack.dm(CLEAR, user="U1")
    answer = await next_call(fslack, "chat.postMessage")
    assert "Is the survey anonymous?" in answer.text and "survey-privacy" in answer.text
    assert answer.action_ids()[:3] == ["faq.helpful", "faq.not_helpful", "faq.escalate"]
    await fslack.click("faq.helpful", answer.button("Helpful")["value"], user="U1", channel=answer.params["channel"])
    await fslack.idle()
    assert any("glad it helped" in c.text for c in fslack.api.calls())


async def test_mention_abstains_then_a_person_answers_and_adds_it_to_the_faq(fslack: SlackDriver) -> None:
    await make_champion(fslack, "U2", "Cleo")
    await set_channels(fslack.rt, {"slack": {"escalation": ["CESC"]}})
    only_abstain(fslack.rt)
    await fslack.mention(OUT_OF_SCOPE, user="U1", channel="CGEN")
    await fslack.idle()
    abstained = [c for c in fslack.api.calls() if "I don't know" in c.text]
    assert abstained, [c.text for c in fslack.api.calls()]
    ask = abstained[-1].button("Ask a person")
    await fslack.click("faq.escalate", ask["value"], user="U1", channel="CGEN")
    await fslack.click("faq.escalate", ask["value"], user="U1", channel="CGEN")  # a second click: still one
    await fslack.idle()
    assert await drain(fslack.rt) == 1
    card = await next_call(fslack, "chat.postMessage", channel="CESC")
    assert "Eve" in card.text and OUT_OF_SCOPE in card.text
    assert card.action_ids() == ["faq.answer", "faq.take"]

    await fslack.click("faq.answer", card.button("Answer")["value"], user="U2", channel="CESC")
    view = await fslack.api.wait("views.open")
    resp = await fslack.submit_view(
        view, {"answer": "Try the canteen's recipe board; it's not a rollout topic."}, user="U2"
    )
    assert resp.status == 200
    await fslack.idle()
    offer = next(c for c in reversed(fslack.api.calls()) if "Add to FAQ" in c.text)
    await drain(fslack.rt)
    delivered = [c for c in fslack.api.calls("chat.postMessage") if "Cleo answered your question" in c.text]
    assert len(delivered) == 1 and "canteen" in delivered[0].text

    set_thresholds(fslack.rt, 0.6, 0.3)
    await fslack.click("faq.add_new", offer.button("Add to FAQ")["value"], user="U2", channel="CESC")
    new_view = await fslack.api.wait("views.open", count=2)
    values = {
        "id": "banana-bread",
        "question": "Is there a banana bread recipe?",
        "answer": "Try the canteen's recipe board.",
        "examples": "banana bread with walnuts\nrecipe for banana bread",
    }
    resp = await fslack.submit_view(new_view, values, user="U2")
    assert resp.status == 200 and "errors" not in (resp.json() or {})
    await fslack.idle()
    await fslack.dm(OUT_OF_SCOPE, user="U3")
    await fslack.idle()
    answered = [c for c in fslack.api.calls() if "recipe board" in c.text and "faq.helpful" in c.action_ids()]
    assert answered, [c.text for c in fslack.api.calls()][-3:]
