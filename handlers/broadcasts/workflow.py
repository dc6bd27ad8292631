"""Workflow changes a change lead notes (`workflow …`): stored per rollout, listed in the next weekly update's
"What changed" next to resolved friction and new FAQ entries, so people learn what is different this week."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Ctx
from bot.digest import DigestSection, Period
from bot.model import Form, FormField, Option, Reply, Request, Submission, lit
from bot.runtime import Runtime
from bot.tables import Rollout
from handlers.broadcasts.tables import WorkflowChange

FORM_ID = "broadcasts.workflow_change"
MAX_TEXT = 1000
GENERAL = ""  # the form's value for a change that is not about one step


def _steps(ctx: Ctx) -> list[str]:
    return [str(s) for s in (ctx.rollout.config or {}).get("workflow_steps", []) if str(s).strip()]


def change_form(ctx: Ctx, text: str = "") -> Form:
    steps = (Option("The workflow in general", "general"), *(Option(s[:75], s[:75]) for s in _steps(ctx)))
    return Form(
        FORM_ID,
        "Note a workflow change",
        (
            FormField("step", "Which step", kind="select", options=steps, initial="general"),
            FormField(
                "text",
                "What changed",
                kind="long_text",
                max_length=MAX_TEXT,
                initial=text or None,
                hint="One or two sentences people can act on, e.g. “Routing suggestions now need a second check "
                "above 5,000.” It appears in the next weekly update.",
            ),
        ),
        submit_label="Note it",
    )


async def note(ctx: Ctx, text: str, step: str = GENERAL) -> Reply:
    ctx.session.add(
        WorkflowChange(rollout_id=ctx.rollout.id, person_id=ctx.person.id, step=step, text=text, created_at=ctx.now())
    )
    await ctx.session.flush()
    ctx.audit("workflow.change", "rollout", ctx.rollout.id, step or "general")
    where = f" ({lit(step)})" if step else ""
    return Reply.say(f"Noted for the next weekly update{where}: “{lit(text[:300])}”.")


async def workflow(request: Request, ctx: Ctx) -> Reply:
    """Note a change to the workflow for the next weekly update (no text: a short form)."""
    text = request.text.strip()
    if not text:
        return Reply.open(change_form(ctx))
    if len(text) > MAX_TEXT:
        return Reply.say(f"That is over {MAX_TEXT:,} characters; shorten it (or type `workflow` for the form).")
    return await note(ctx, text)


async def submitted(request: Request, ctx: Ctx) -> Reply:
    assert isinstance(request.intent, Submission)
    values = request.intent.values
    text = str(values.get("text") or "").strip()
    step = str(values.get("step") or "general")
    if not text:
        return Reply.invalid(change_form(ctx), {"text": "Say in a sentence or two what is different now."})
    if len(text) > MAX_TEXT:
        return Reply.invalid(change_form(ctx, text[:MAX_TEXT]), {"text": f"At most {MAX_TEXT} characters."})
    if step != "general" and step not in [s[:75] for s in _steps(ctx)]:
        return Reply.invalid(change_form(ctx, text), {"step": "Choose one of the workflow's steps."})
    return await note(ctx, text, GENERAL if step == "general" else step)


async def changes_section(session: AsyncSession, rollout: Rollout, period: Period, rt: Runtime) -> DigestSection | None:
    """Digest provider ("What changed"): the workflow changes noted in the period, oldest first."""
    changes = list(
        await session.scalars(
            select(WorkflowChange)
            .where(
                WorkflowChange.rollout_id == rollout.id,
                WorkflowChange.created_at >= period.start,
                WorkflowChange.created_at < period.end,
            )
            .order_by(WorkflowChange.created_at, WorkflowChange.id)
        )
    )
    if not changes:
        return None
    lines = [f"Workflow{f' — {lit(c.step)}' if c.step else ''}: {lit(c.text)}" for c in changes]
    return DigestSection(title="Workflow changes", kind="what_changed", lines=lines)
