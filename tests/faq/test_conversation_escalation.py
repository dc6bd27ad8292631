"""Ask a person: channel or champion DMs, Take it, Answer, delivery through the outbox, idempotency, re-surfacing."""

from __future__ import annotations

from bot.context import JobCtx
from bot.delivery import drain
from bot.tables import OutboxMessage
from handlers.faq import escalation
from handlers.faq.tables import FaqEscalation
from tests.faq.scenario import OUT_OF_SCOPE, Cast, count, inbox, only_abstain, rows, set_channels


async def ask_and_escalate(cast: Cast, who: str = "eve", text: str = OUT_OF_SCOPE) -> str:
    speaker = getattr(cast, who)
    only_abstain(cast.rt)
    await speaker.says(text)
    reply = await speaker.clicks("Ask a person")
    assert "I've asked" in reply.text, reply.text
    (esc,) = [e for e in await rows(cast.rt, FaqEscalation) if e.asker_id == speaker.person_id]
    return str(esc.id)


async def test_escalation_goes_to_the_escalation_channel_once(cast: Cast) -> None:
    await set_channels(cast.rt, {"console": {"escalation": ["champions"]}})
    only_abstain(cast.rt)
    asked = await cast.eve.says(OUT_OF_SCOPE)
    first = await cast.eve.clicks("Ask a person", on=asked)
    again = await cast.eve.clicks("Ask a person", on=asked)
    assert "rollout team" in first.text
    assert "already with a person" in again.text
    assert await count(cast.rt, FaqEscalation) == 1
    (card,) = await cast.chat.outbox(kind="faq_escalation")
    assert (card.platform, card.workspace, card.channel_id) == ("console", "local", "champions")
    assert await drain(cast.rt) == 1
    (msg,) = inbox(cast.rt, "channel-champions")
    assert "Eve" in msg.text or any("Eve" in getattr(b, "text", "") for b in msg.blocks)
    labels = [b.label for blk in msg.blocks for b in getattr(blk, "buttons", ())]
    assert labels == ["Answer", "Take it"]


async def test_channel_on_another_platform_needs_its_workspace(cast: Cast) -> None:
    await set_channels(cast.rt, {"slack": {"escalation": ["CESC"]}})
    await ask_and_escalate(cast)
    # No Slack workspace known for a console asker: falls back to the team's champion.
    (card,) = await cast.chat.outbox(kind="faq_escalation")
    assert card.person_id == cast.cleo.person_id
    await set_channels(cast.rt, {"slack": {"escalation": ["CESC"]}}, workspaces={"slack": "T1"})
    await ask_and_escalate(cast, "gus")
    slack_cards = [m for m in await cast.chat.outbox(kind="faq_escalation") if m.platform == "slack"]
    assert [(m.workspace, m.channel_id) for m in slack_cards] == [("T1", "CESC")]


async def test_without_channels_the_askers_champions_get_a_dm_else_change_leads(cast: Cast) -> None:
    await ask_and_escalate(cast, "eve")
    (to_cleo,) = await cast.chat.outbox(kind="faq_escalation")
    assert to_cleo.person_id == cast.cleo.person_id
    await ask_and_escalate(cast, "gus")  # Fraud Review has no champion
    cards = await cast.chat.outbox(kind="faq_escalation")
    assert cards[-1].person_id == cast.ana.person_id
    assert "Ana" in cast.gus.last_reply.text


async def test_answer_is_delivered_once_with_the_responders_name(cast: Cast) -> None:
    esc_id = await ask_and_escalate(cast)
    form_reply = await cast.cleo.acts("faq.answer", esc_id)
    assert form_reply.form is not None and form_reply.form.form_id == "faq.answer"
    assert OUT_OF_SCOPE in form_reply.text
    sent = await cast.cleo.submits({"answer": "Ask the canteen; it's not in the rollout."})
    assert "Sent to Eve" in sent.text and sent.has_button("Add to FAQ")
    retry = await cast.cleo.submits({"answer": "A second try"}, form=form_reply.form)
    assert "already" in retry.text
    later = await cast.ana.acts("faq.answer", esc_id)
    assert "already answered" in later.text
    answers = await cast.chat.outbox(kind="faq_answer")
    assert len(answers) == 1 and answers[0].person_id == cast.eve.person_id
    await drain(cast.rt)
    delivered = [m for m in inbox(cast.rt, "eve") if "answered your question" in m.text]
    assert len(delivered) == 1 and "Cleo" in delivered[0].text
    blocks_text = " ".join(getattr(b, "user_text", "") or "" for b in delivered[0].blocks)
    assert "Ask the canteen" in blocks_text and "A second try" not in blocks_text
    (esc,) = await rows(cast.rt, FaqEscalation)
    assert esc.status == "answered" and esc.responder_id == cast.cleo.person_id


async def test_empty_answer_is_refused_inline(cast: Cast) -> None:
    esc_id = await ask_and_escalate(cast)
    await cast.cleo.acts("faq.answer", esc_id)
    reply = await cast.cleo.submits({"answer": "  "})
    assert reply.form is not None and "answer" in reply.form.errors
    assert await count(cast.rt, OutboxMessage, OutboxMessage.kind == "faq_answer") == 0


async def test_take_it_tells_the_asker_and_blocks_a_second_taker(cast: Cast) -> None:
    esc_id = await ask_and_escalate(cast)
    taken = await cast.cleo.acts("faq.take", esc_id)
    assert "Taken by Cleo" in taken.text and taken.replace
    other = await cast.ana.acts("faq.take", esc_id)
    assert "Cleo has already taken" in other.text
    (note,) = await cast.chat.outbox(kind="faq_answer")
    assert note.person_id == cast.eve.person_id
    rollout_id = (await rows(cast.rt, FaqEscalation))[0].rollout_id
    async with cast.rt.db.session() as session:
        taken = await escalation.taken_by(session, rollout_id, cast.cleo.person_id)
    assert [e.id for e, _ in taken] == [int(esc_id)]


async def test_employees_cannot_answer_or_take(cast: Cast) -> None:
    esc_id = await ask_and_escalate(cast)
    denied = await cast.gus.acts("faq.answer", esc_id)
    assert "only a champion" in denied.text
    assert (await rows(cast.rt, FaqEscalation))[0].status == "open"


async def test_unanswered_escalations_resurface_after_the_configured_time(cast: Cast) -> None:
    cast.rt.settings.faq_resurface_hours = 24
    await ask_and_escalate(cast, "eve")
    esc_gus = await ask_and_escalate(cast, "gus")
    await cast.ana.acts("faq.take", esc_gus)

    async def run_job() -> None:
        async with cast.rt.db.session() as session:
            rollout = await cast.rt.default_rollout(session)
            await escalation.resurface(JobCtx(cast.rt, session, rollout, cast.rt.clock.now()))
            await session.commit()

    await run_job()
    assert len(await cast.chat.outbox(kind="faq_escalation")) == 2  # nothing new yet
    cast.rt.clock.advance(hours=25)  # type: ignore[attr-defined]
    await run_job()
    cards = await cast.chat.outbox(kind="faq_escalation")
    assert len(cards) == 4
    assert {c.person_id for c in cards[2:]} == {cast.cleo.person_id, cast.ana.person_id}
    await run_job()  # same time again: nothing
    assert len(await cast.chat.outbox(kind="faq_escalation")) == 4
    for _ in range(5):
        cast.rt.clock.advance(hours=25)  # type: ignore[attr-defined]
        await run_job()
    assert len(await cast.chat.outbox(kind="faq_escalation")) == 2 + 2 * escalation.MAX_RESURFACE


async def test_nobody_to_escalate_to_is_said_plainly(cast: Cast) -> None:
    only_abstain(cast.rt)
    await cast.ana.says(OUT_OF_SCOPE)  # the only change lead asks; no team champions
    reply = await cast.ana.clicks("Ask a person")
    assert "nobody is set up" in reply.text
    assert await count(cast.rt, FaqEscalation) == 1
