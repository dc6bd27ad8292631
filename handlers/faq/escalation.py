"""Ask a person: the question goes to the rollout's escalation channels (or the asker's champions), someone takes
it or answers it, and the answer reaches the asker through the outbox with the responder's name.

One escalation per question (a unique key) and one answer delivery (a guarded status change plus a unique outbox
key), however often buttons are clicked or requests retried. Unanswered escalations are posted again by the
`faq.escalations` job after `UPTAKE_FAQ_RESURFACE_HOURS`, at most `MAX_RESURFACE` times.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import channel_targets
from bot.context import Ctx, JobCtx
from bot.model import Actions, Button, Context, Form, FormField, Message, Reply, Request, Role, Section, Style, lit
from bot.outbox import enqueue
from bot.people import people_with_role
from bot.tables import Person, Rollout
from handlers.faq.conversation import own_question
from handlers.faq.tables import FaqEscalation, FaqQuestion

log = logging.getLogger("uptake.faq")

MAX_RESURFACE = 3
ANSWER_FORM = "faq.answer"


async def targets_for(ctx: Ctx) -> tuple[list[dict[str, Any]], str]:
    """Where the card goes, and how to tell the asker: channels, else their team's champions, else change leads."""
    targets: list[dict[str, Any]] = []
    for platform, workspace, channel_id in channel_targets(ctx.rollout, "escalation", ctx.identity):
        targets.append({"channel": [platform, workspace, channel_id]})
    if targets:
        return targets, "the rollout team"
    people: list[Person] = []
    if ctx.person.team:
        people = await people_with_role(ctx.session, ctx.rollout, Role.champion, team=ctx.person.team)
    who = "your team's champion" + ("s" if len(people) > 1 else "")
    people = [p for p in people if p.id != ctx.person.id]
    if not people:
        people = [
            p for p in await people_with_role(ctx.session, ctx.rollout, Role.change_lead) if p.id != ctx.person.id
        ]
        who = "the change lead" + ("s" if len(people) > 1 else "")
    if people:
        who = ", ".join(lit(p.display_name) for p in people[:3]) + f" ({who})"
    return [{"person": p.id} for p in people], who


def card(esc: FaqEscalation, question: FaqQuestion, asker: Person | None, *, again: bool = False) -> Message:
    """The card champions see: who asked, the question, Uptake's best guess, Answer / Take it."""
    name = lit(asker.display_name) if asker else "Someone"
    team = f" ({lit(asker.team)})" if asker and asker.team else ""
    intro = "Still waiting for an answer" if again else "A question Uptake couldn't answer"
    blocks: list[Any] = [Section(heading=intro, text=f"{name}{team} asked:", user_text=question.text)]
    if question.entry_id:
        blocks.append(Context(f"Uptake's closest FAQ entry: `{question.entry_id}` ({question.confidence:.0%})."))
    if esc.status == "taken" and esc.taker_id:
        blocks.append(Context("Someone has taken it; anyone can still answer."))
    blocks.append(
        Actions(
            buttons=(
                Button("Answer", "faq.answer", str(esc.id), style=Style.primary),
                Button("Take it", "faq.take", str(esc.id)),
            )
        )
    )
    return Message(text=f"{intro}: question #{esc.id} from {name}", blocks=tuple(blocks))


async def _send_card(
    session: AsyncSession, rollout: Rollout, esc: FaqEscalation, msg: Message, now: dt.datetime
) -> int:
    sent = 0
    for i, target in enumerate(esc.targets or []):
        key = f"faq:esc:{esc.id}:card:{esc.resurfaced}:{i}"
        if "channel" in target:
            platform, workspace, channel = target["channel"]
            row = await enqueue(
                session,
                key=key,
                message=msg,
                rollout_id=rollout.id,
                channel=(platform, workspace, channel),
                kind="faq_escalation",
                not_before=now,
            )
        else:
            row = await enqueue(
                session,
                key=key,
                message=msg,
                rollout_id=rollout.id,
                person_id=int(target["person"]),
                kind="faq_escalation",
                not_before=now,
            )
        sent += row is not None
    return sent


async def escalate(request: Request, ctx: Ctx) -> Reply:
    """ "Ask a person": one escalation per question, sent to the escalation target."""
    question = await own_question(ctx, request.text)
    existing = await ctx.session.scalar(select(FaqEscalation).where(FaqEscalation.question_id == question.id))
    if existing is not None:
        return _already(existing)
    targets, who = await targets_for(ctx)
    now = ctx.now()
    esc = FaqEscalation(
        rollout_id=ctx.rollout.id,
        question_id=question.id,
        asker_id=ctx.person.id,
        targets=targets,
        created_at=now,
        surfaced_at=now,
    )
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(esc)
    except IntegrityError:  # a concurrent click escalated it first
        existing = await ctx.session.scalar(select(FaqEscalation).where(FaqEscalation.question_id == question.id))
        return _already(existing) if existing else Reply.nothing()
    await _send_card(ctx.session, ctx.rollout, esc, card(esc, question, ctx.person), now)
    ctx.audit("faq.escalate", "faq_escalation", esc.id)
    log.info("faq escalation=%s question=%s targets=%s", esc.id, question.id, len(targets))
    if not targets:
        return Reply.say(
            "I've recorded your question for the change team, but nobody is set up to answer questions yet, so "
            "it may take a while. Your change lead will see it."
        )
    return Reply.say(
        f"I've asked {who}. When someone answers, I'll send it to you here — no need to ask again.",
        Context(f"Question #{esc.id}"),
    )


def _already(esc: FaqEscalation) -> Reply:
    if esc.status == "answered":
        return Reply.say("A person has already answered this question — look for their message from me.")
    return Reply.say("This question is already with a person; I'll send you their answer as soon as it comes.")


async def _escalation(ctx: Ctx, value: str) -> FaqEscalation:
    from bot.model import UserError

    esc = await ctx.session.get(FaqEscalation, int(value)) if value.strip().isdigit() else None
    if esc is None or esc.rollout_id != ctx.rollout.id:
        raise UserError("That question is no longer here.")
    return esc


async def _name(session: AsyncSession, person_id: int | None) -> str:
    person = await session.get(Person, person_id) if person_id else None
    return lit(person.display_name) if person else "someone"


async def take(request: Request, ctx: Ctx) -> Reply:
    """ "Take it": say who is on it, so two champions don't both write an answer."""
    esc = await _escalation(ctx, request.text)
    if esc.status == "answered":
        return Reply.say(f"{await _name(ctx.session, esc.responder_id)} has already answered this question.")
    if esc.taker_id and esc.taker_id != ctx.person.id:
        return Reply.say(f"{await _name(ctx.session, esc.taker_id)} has already taken this question.")
    if esc.taker_id is None:
        esc.taker_id, esc.status, esc.taken_at = ctx.person.id, "taken", ctx.now()
        if esc.asker_id:
            await ctx.notify(
                f"faq:esc:{esc.id}:taken",
                Message(text=f"{lit(ctx.person.display_name)} is looking at your question; the answer will come here."),
                person_id=esc.asker_id,
                kind="faq_answer",
            )
        ctx.audit("faq.take", "faq_escalation", esc.id)
    question = await ctx.session.get_one(FaqQuestion, esc.question_id)
    return Reply.say(
        f"Taken by {lit(ctx.person.display_name)}.",
        Section(text="Question:", user_text=question.text),
        Actions(buttons=(Button("Answer", "faq.answer", str(esc.id), style=Style.primary),)),
        replace=True,
        private=False,
    )


def answer_form(esc: FaqEscalation, question: FaqQuestion, asker: str) -> Form:
    return Form(
        form_id=ANSWER_FORM,
        title="Answer the question",
        intro=f"{asker} asked: {lit(question.text)}",
        fields=(FormField("answer", "Your answer", "long_text", max_length=3000, hint="Sent to them with your name."),),
        submit_label="Send",
        state=str(esc.id),
    )


async def answer_button(request: Request, ctx: Ctx) -> Reply:
    esc = await _escalation(ctx, request.text)
    if esc.status == "answered":
        return Reply.say(f"{await _name(ctx.session, esc.responder_id)} has already answered this question.")
    question = await ctx.session.get_one(FaqQuestion, esc.question_id)
    return Reply.open(answer_form(esc, question, await _name(ctx.session, esc.asker_id)))


async def answer_submit(request: Request, ctx: Ctx) -> Reply:
    """Deliver the answer once: the status change is guarded, the outbox key is unique."""
    from bot.model import Submission

    assert isinstance(request.intent, Submission)
    esc = await _escalation(ctx, request.intent.state)
    question = await ctx.session.get_one(FaqQuestion, esc.question_id)
    text = str(request.intent.values.get("answer") or "").strip()
    if not text:
        form = answer_form(esc, question, await _name(ctx.session, esc.asker_id))
        return Reply.invalid(form, {"answer": "Write the answer they will get."})
    now = ctx.now()
    done = await ctx.session.execute(
        update(FaqEscalation)
        .where(FaqEscalation.id == esc.id, FaqEscalation.status != "answered")
        .values(status="answered", responder_id=ctx.person.id, answer=text, answered_at=now)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return Reply.say(
            f"{await _name(ctx.session, esc.responder_id)} answered this question already; yours was not sent."
        )
    await ctx.session.refresh(esc)
    responder = lit(ctx.person.display_name)
    if esc.asker_id:
        await ctx.notify(
            f"faq:esc:{esc.id}:answer",
            Message(
                text=f"{responder} answered your question.",
                blocks=(
                    Section(heading="You asked", user_text=question.text),
                    Section(heading=f"Answer from {responder}", user_text=text),
                    Context("Asked through Uptake's FAQ. Reply with another question any time."),
                ),
            ),
            person_id=esc.asker_id,
            kind="faq_answer",
            mandatory=True,
        )
    ctx.audit("faq.answer", "faq_escalation", esc.id)
    from handlers.faq.curation import add_to_faq_offer

    return await add_to_faq_offer(ctx, esc, question, f"Sent to {await _name(ctx.session, esc.asker_id)}.")


async def resurface(ctx: JobCtx) -> None:
    """`faq.escalations`: post unanswered questions again after the configured time (taken ones to the taker)."""
    now = ctx.now()
    hours = float(ctx.runtime.settings.faq_resurface_hours)
    due = now - dt.timedelta(hours=hours)
    rows = list(
        await ctx.session.scalars(
            select(FaqEscalation)
            .where(
                FaqEscalation.rollout_id == ctx.rollout.id,
                FaqEscalation.status.in_(("open", "taken")),
                FaqEscalation.resurfaced < MAX_RESURFACE,
                FaqEscalation.surfaced_at <= due,
            )
            .order_by(FaqEscalation.id)
        )
    )
    for esc in rows:
        question = await ctx.session.get_one(FaqQuestion, esc.question_id)
        asker = await ctx.session.get(Person, esc.asker_id) if esc.asker_id else None
        esc.resurfaced += 1
        esc.surfaced_at = now
        msg = card(esc, question, asker, again=True)
        if esc.status == "taken" and esc.taker_id:
            await enqueue(
                ctx.session,
                key=f"faq:esc:{esc.id}:remind:{esc.resurfaced}",
                message=msg,
                rollout_id=ctx.rollout.id,
                person_id=esc.taker_id,
                kind="faq_escalation",
                not_before=now,
            )
        else:
            await _send_card(ctx.session, ctx.rollout, esc, msg, now)
        log.info("faq escalation=%s resurfaced=%s", esc.id, esc.resurfaced)


async def open_for(session: AsyncSession, rollout_id: int, person_id: int) -> list[tuple[FaqEscalation, str]]:
    """A person's own questions still waiting for a person (App Home)."""
    rows = await session.execute(
        select(FaqEscalation, FaqQuestion.text)
        .join(FaqQuestion, FaqQuestion.id == FaqEscalation.question_id)
        .where(
            FaqEscalation.rollout_id == rollout_id,
            FaqEscalation.asker_id == person_id,
            FaqEscalation.status != "answered",
        )
        .order_by(FaqEscalation.id.desc())
        .limit(5)
    )
    return [(esc, text) for esc, text in rows]


async def taken_by(session: AsyncSession, rollout_id: int, person_id: int) -> list[tuple[FaqEscalation, str]]:
    rows = await session.execute(
        select(FaqEscalation, FaqQuestion.text)
        .join(FaqQuestion, FaqQuestion.id == FaqEscalation.question_id)
        .where(
            FaqEscalation.rollout_id == rollout_id,
            FaqEscalation.taker_id == person_id,
            FaqEscalation.status == "taken",
        )
        .order_by(FaqEscalation.id.desc())
        .limit(5)
    )
    return [(esc, text) for esc, text in rows]
