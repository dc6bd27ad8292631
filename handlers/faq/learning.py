"""The learning loop: a 👍 teaches the matcher the asker's wording; change leads see and remove what it learned.

Learned examples are normalised, deduplicated per entry (a unique key, so retries and double clicks add one), and
capped per entry so one popular wording cannot drown the content's own examples.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from bot.context import Ctx
from bot.model import Actions, Button, Confirm, Reply, Request, Role, Section, Style, UserError, lit
from handlers.faq.index import current_index
from handlers.faq.matcher import FaqEntry, normalise_question
from handlers.faq.tables import FaqLearnedExample, FaqQuestion

LIST_LIMIT = 30


async def learn(ctx: Ctx, entry: FaqEntry, question: FaqQuestion, *, source: str) -> bool:
    """Add the question's wording as an example of `entry`; False when known already or the cap is reached."""
    normalised = normalise_question(question.text)[:600]
    if not normalised or normalised in {normalise_question(p) for p in entry.phrasings()}:
        return False
    exists = await ctx.session.scalar(
        select(FaqLearnedExample.id).where(
            FaqLearnedExample.rollout_id == ctx.rollout.id,
            FaqLearnedExample.entry_id == entry.id,
            FaqLearnedExample.normalised == normalised,
        )
    )
    if exists is not None:
        return False
    if source == "helpful":
        count = await ctx.session.scalar(
            select(func.count(FaqLearnedExample.id)).where(
                FaqLearnedExample.rollout_id == ctx.rollout.id,
                FaqLearnedExample.entry_id == entry.id,
                FaqLearnedExample.source == "helpful",
            )
        )
        if (count or 0) >= ctx.settings.faq_learned_per_entry:
            return False
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(
                FaqLearnedExample(
                    rollout_id=ctx.rollout.id,
                    entry_id=entry.id,
                    text=question.text[:600],
                    normalised=normalised,
                    source=source,
                    person_id=ctx.person.id,
                    question_id=question.id,
                    created_at=ctx.now(),
                )
            )
    except IntegrityError:  # the same wording learned by a concurrent click
        return False
    return True


async def unlearn_for_question(ctx: Ctx, question: FaqQuestion) -> None:
    """A 👎 after a 👍 on the same answer takes the learned wording back."""
    await ctx.session.execute(
        delete(FaqLearnedExample).where(
            FaqLearnedExample.question_id == question.id, FaqLearnedExample.source == "helpful"
        )
    )


async def list_learned(ctx: Ctx, entry_filter: str = "") -> Reply:
    """`faq learned [ENTRY]`: the newest learned examples with who taught them and a way to forget each."""
    ctx.require(Role.change_lead, "see learned FAQ examples")
    stmt = select(FaqLearnedExample).where(FaqLearnedExample.rollout_id == ctx.rollout.id)
    if entry_filter:
        stmt = stmt.where(FaqLearnedExample.entry_id == entry_filter)
    rows = list(await ctx.session.scalars(stmt.order_by(FaqLearnedExample.id.desc()).limit(LIST_LIMIT)))
    total = await ctx.session.scalar(
        select(func.count(FaqLearnedExample.id)).where(FaqLearnedExample.rollout_id == ctx.rollout.id)
    )
    if not rows:
        return Reply.say("Nothing learned yet. When someone clicks 👍 on an answer, their wording shows up here.")
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    lines = []
    for row in rows:
        gone = "" if row.entry_id in index.entries else " _(entry removed)_"
        how = "from a 👍" if row.source == "helpful" else "added by a person who answered"
        lines.append(f"• `#{row.id}` {lit(row.text)} → `{row.entry_id}`{gone} — {how}, {row.created_at:%d %b}")
    buttons = tuple(
        Button(
            f"Forget #{row.id}",
            "faq.forget",
            str(row.id),
            style=Style.danger,
            confirm=Confirm("Forget this example?", "Uptake will stop matching this wording to the entry."),
        )
        for row in rows[:5]
    )
    return Reply.say(
        f"{total} learned examples (newest {len(rows)} shown). `faq forget ID` removes one.",
        Section(heading="Learned examples", text="\n".join(lines)),
        Actions(buttons=buttons),
    )


async def forget(ctx: Ctx, ref: str) -> Reply:
    """`faq forget ID`: remove a learned example; the matcher stops using it on the next question."""
    ctx.require(Role.change_lead, "remove learned FAQ examples")
    ref = ref.strip().lstrip("#")
    if not ref.isdigit():
        raise UserError("Usage: `faq forget ID` — the number shown by `faq learned`.")
    row = await ctx.session.get(FaqLearnedExample, int(ref))
    if row is None or row.rollout_id != ctx.rollout.id:
        return Reply.say(f"There is no learned example #{ref} (maybe it was forgotten already).")
    await ctx.session.delete(row)
    ctx.audit("faq.forget", "faq_learned", row.id, f"entry {row.entry_id}")
    return Reply.say(f"Forgotten: {lit(row.text)} is no longer an example of `{row.entry_id}`.")


async def forget_button(request: Request, ctx: Ctx) -> Reply:
    return await forget(ctx, request.text)
