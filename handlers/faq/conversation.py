"""Asking: answer when Uptake knows, suggest when it is unsure, say plainly when it does not know.

Every question is recorded (who, normalised text, best entry, confidence, outcome) for `faq stats`.
"""

from __future__ import annotations

import logging

from bot.context import Ctx
from bot.model import Actions, Button, Reply, Request, Section, Style, UserError
from handlers.faq import learning
from handlers.faq.answers import (
    MAX_QUESTION,
    abstain_reply,
    answer_reply,
    ask_help,
    suggest_reply,
    too_long,
)
from handlers.faq.index import FaqIndex, current_index
from handlers.faq.matcher import FaqEntry, decide, normalise_question
from handlers.faq.tables import FaqQuestion

log = logging.getLogger("uptake.faq")


async def ask_command(request: Request, ctx: Ctx) -> Reply:
    """`ask <question>`."""
    return await ask(ctx, request.text)


async def free_text(request: Request, ctx: Ctx) -> Reply:
    """A DM or @mention that is not a command is a question."""
    return await ask(ctx, request.text)


def _entries(index: FaqIndex, ids: list[str]) -> list[tuple[FaqEntry, bool]]:
    return [(index.entries[i], i in index.added) for i in ids if i in index.entries]


async def ask(ctx: Ctx, text: str) -> Reply:
    text = text.strip()
    if not text:
        return ask_help()
    if len(text) > MAX_QUESTION:
        return too_long()
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    ranked = index.rank(text, 3)
    decision = decide(ranked, index.thresholds)
    best = ranked[0] if ranked else None
    outcome = {"answer": "answered", "suggest": "suggested", "abstain": "abstained"}[decision.kind]
    question = FaqQuestion(
        rollout_id=ctx.rollout.id,
        person_id=ctx.person.id,
        text=text,
        normalised=normalise_question(text)[:600],
        entry_id=best.entry_id if best else None,
        confidence=round(float(best.confidence), 4) if best else 0.0,
        outcome=outcome,
        asked_at=ctx.now(),
    )
    ctx.session.add(question)
    await ctx.session.flush()
    log.info(
        "faq question=%s outcome=%s entry=%s confidence=%.3f",
        question.id,
        outcome,
        question.entry_id,
        question.confidence,
    )
    shown = _entries(index, [m.entry_id for m in decision.matches])
    if decision.kind == "answer" and shown:
        entry, added = shown[0]
        return answer_reply(question.id, entry, decision.matches[0].confidence, added)
    if decision.kind == "suggest" and shown:
        return suggest_reply(question.id, shown)
    return abstain_reply(question.id, shown)


async def own_question(ctx: Ctx, value: str) -> FaqQuestion:
    """The question behind a button, if it is the clicker's own (buttons travel in DMs, but never trust that)."""
    qid = value.split(":", 1)[0]
    question = await ctx.session.get(FaqQuestion, int(qid)) if qid.isdigit() else None
    if question is None or question.rollout_id != ctx.rollout.id:
        raise UserError("That question is no longer here. Ask it again and I'll have another look.")
    if question.person_id != ctx.person.id:
        raise UserError("That button belongs to someone else's question. Ask your own and I'll answer you.")
    return question


async def show(request: Request, ctx: Ctx) -> Reply:
    """A "Did you mean …?" choice: show that answer, remembering which one was picked."""
    question = await own_question(ctx, request.text)
    entry_id = request.text.split(":", 1)[1] if ":" in request.text else ""
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    entry = index.entries.get(entry_id)
    if entry is None:
        return Reply.say(
            "That FAQ entry has been removed since. A person can still answer your question:",
            Actions(buttons=(Button("Ask a person", "faq.escalate", str(question.id), style=Style.primary),)),
        )
    question.chosen_entry_id = entry_id
    match = next((m for m in index.rank(question.text, 3) if m.entry_id == entry_id), None)
    return answer_reply(question.id, entry, match.confidence if match else 0.0, entry_id in index.added)


def shown_entry(question: FaqQuestion) -> str | None:
    """The entry the person saw as the answer."""
    if question.chosen_entry_id:
        return question.chosen_entry_id
    return question.entry_id if question.outcome == "answered" else None


async def helpful(request: Request, ctx: Ctx) -> Reply:
    """👍: count it, and learn this wording for the entry (normalised, deduplicated, capped)."""
    question = await own_question(ctx, request.text)
    first = question.feedback != "helpful"
    question.feedback = "helpful"
    entry_id = shown_entry(question)
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    if entry_id is None or entry_id not in index.entries:
        # The entry was removed (or never shown): thank quietly, learn nothing.
        return Reply.say("Thanks for telling me.")
    learned = await learning.learn(ctx, index.entries[entry_id], question, source="helpful")
    if not first:
        return Reply.say("Got it — already noted, thanks.")
    extra = " I'll recognise this wording next time." if learned else ""
    return Reply.say(f"Thanks — glad it helped.{extra}")


async def not_helpful(request: Request, ctx: Ctx) -> Reply:
    """👎: record it and offer a person."""
    question = await own_question(ctx, request.text)
    question.feedback = "not_helpful"
    await learning.unlearn_for_question(ctx, question)
    return Reply.say(
        "Sorry that didn't help. A person from the rollout team can answer it for you.",
        Section(text="I've noted that this answer missed, so the change team can improve it."),
        Actions(buttons=(Button("Ask a person", "faq.escalate", str(question.id), style=Style.primary),)),
    )
