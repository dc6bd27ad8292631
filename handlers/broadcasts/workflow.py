"""Workflow changes a change lead notes (`workflow change …`), listed under "What changed" in the next weekly update.

A change stays pending until a weekly update listing it is published (a skipped update leaves it for the next
one); until then it can be edited or removed, and an open weekly draft that nobody edited by hand is re-rendered so
that what the change lead approves is what they noted.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Ctx
from bot.digest import DigestSection, Period
from bot.model import (
    Actions,
    Button,
    Confirm,
    Form,
    FormField,
    Reply,
    Request,
    Section,
    Style,
    Submission,
    UserError,
    lit,
)
from bot.runtime import Runtime
from bot.tables import Rollout
from handlers.broadcasts import updates
from handlers.broadcasts.tables import WorkflowChange

FORM_ID = "broadcasts.workflow_change"
MAX_LENGTH = 500
USAGE = "Usage: `workflow change WHAT CHANGED` to note a change, or `workflow changes` to see the pending ones."
HINT = "One sentence people can act on, e.g. “Routing suggestions now also cover motor claims.”"


def change_form(text: str = "", state: str = "") -> Form:
    field = FormField(
        "text", "What changed in the workflow", kind="long_text", max_length=MAX_LENGTH, hint=HINT, initial=text or None
    )
    return Form(
        FORM_ID,
        "Edit workflow change" if state else "Note a workflow change",
        (field,),
        submit_label="Save",
        intro="It is listed under “What changed” in the next weekly update.",
        state=state,
    )


def _change_id(request: Request) -> int:
    action_id = getattr(request.intent, "action_id", "")
    raw = action_id.rsplit(":", 1)[-1] if ":" in action_id else getattr(request.intent, "state", "")
    if not str(raw).isdigit():
        raise UserError("I can't find that workflow change any more.")
    return int(raw)


async def _pending(ctx: Ctx, change_id: int) -> WorkflowChange:
    change = await ctx.session.get(WorkflowChange, change_id)
    if change is None or change.rollout_id != ctx.rollout.id:
        raise UserError("I can't find that workflow change any more (it may have been removed).")
    if change.update_id is not None:
        raise UserError("That workflow change already went out in a weekly update, so it can't be changed.")
    return change


def _buttons(change: WorkflowChange) -> tuple[Button, ...]:
    return (
        Button("Edit", f"broadcasts.workflow_edit:{change.id}"),
        Button(
            "Remove",
            f"broadcasts.workflow_remove:{change.id}",
            style=Style.danger,
            confirm=Confirm("Remove this workflow change?", "It won't be listed in the weekly update.", yes="Remove"),
        ),
    )


async def _drafts_note(ctx: Ctx) -> str:
    """Bring open weekly drafts up to date and say what happened to them."""
    refreshed, by_hand = await updates.refresh_drafts(ctx.session, ctx.runtime, ctx.rollout)
    note = ""
    if refreshed:
        note += " The open weekly draft is updated (`updates` → Read)."
    if by_hand:
        note += " The open weekly draft was edited by hand, so change its text too (Edit on the draft)."
    return note


def _validate(text: str) -> str | None:
    if not text:
        return "Write what changed in a sentence or two."
    if len(text) > MAX_LENGTH:
        return f"Keep it under {MAX_LENGTH} characters ({len(text)} now): the weekly update lists it in one line."
    return None


async def note(ctx: Ctx, text: str) -> Reply:
    change = WorkflowChange(rollout_id=ctx.rollout.id, person_id=ctx.person.id, text=text, created_at=ctx.now())
    ctx.session.add(change)
    await ctx.session.flush()
    ctx.audit("workflow_change.note", "workflow_change", change.id, text[:200])
    said = f"Noted: “{lit(text)}”. It will be listed under *What changed* in the next weekly update."
    return Reply.say(said + await _drafts_note(ctx), Actions(_buttons(change)))


async def command(request: Request, ctx: Ctx) -> Reply:
    """`workflow change TEXT` notes a change; `workflow change` opens a short form; `workflow changes` lists them."""
    first, _, rest = request.text.strip().partition(" ")
    word, text = first.lower(), rest.strip()
    if word in ("", "changes", "list"):
        return await list_changes(ctx)
    if word != "change":
        raise UserError(USAGE)
    if not text:
        return Reply.open(change_form())
    if (problem := _validate(text)) is not None:
        raise UserError(problem)
    return await note(ctx, text)


async def list_changes(ctx: Ctx) -> Reply:
    pending = list(
        await ctx.session.scalars(
            select(WorkflowChange)
            .where(WorkflowChange.rollout_id == ctx.rollout.id, WorkflowChange.update_id.is_(None))
            .order_by(WorkflowChange.created_at, WorkflowChange.id)
        )
    )
    if not pending:
        return Reply.say(
            "No workflow changes are waiting for the weekly update. Note one with `workflow change WHAT CHANGED`.",
            Actions((Button("Note a workflow change", "broadcasts.workflow_new"),)),
        )
    blocks = [Section(text=f"• {lit(c.text)}", buttons=_buttons(c)) for c in pending]
    return Reply.say(f"{len(pending)} workflow change(s) for the next weekly update:", *blocks)


async def open_form(request: Request, ctx: Ctx) -> Reply:
    return Reply.open(change_form())


async def edit(request: Request, ctx: Ctx) -> Reply:
    change = await _pending(ctx, _change_id(request))
    return Reply.open(change_form(change.text, state=str(change.id)))


async def remove(request: Request, ctx: Ctx) -> Reply:
    try:
        change = await _pending(ctx, _change_id(request))
    except UserError as e:
        return Reply.say(str(e), replace=True)
    change_id, text = change.id, change.text
    await ctx.session.delete(change)
    await ctx.session.flush()
    ctx.audit("workflow_change.remove", "workflow_change", change_id, text[:200])
    return Reply.say(f"Removed “{lit(text)}” from the next weekly update." + await _drafts_note(ctx), replace=True)


async def submitted(request: Request, ctx: Ctx) -> Reply:
    assert isinstance(request.intent, Submission)
    state = request.intent.state
    text = str(request.intent.values.get("text") or "").strip()
    if (problem := _validate(text)) is not None:
        return Reply.invalid(change_form(text, state), {"text": problem})
    if not state:
        return await note(ctx, text)
    change = await _pending(ctx, _change_id(request))
    change.text = text
    await ctx.session.flush()
    ctx.audit("workflow_change.edit", "workflow_change", change.id, text[:200])
    said = f"Updated: “{lit(text)}”. It will be listed under *What changed* in the next weekly update."
    return Reply.say(said + await _drafts_note(ctx), Actions(_buttons(change)))


async def section(session: AsyncSession, rollout: Rollout, period: Period, rt: Runtime) -> DigestSection | None:
    """Digest provider (weekly only): the workflow changes not yet published, oldest first."""
    if period.kind != "week":
        return None
    pending = list(
        await session.scalars(
            select(WorkflowChange.text)
            .where(WorkflowChange.rollout_id == rollout.id, WorkflowChange.update_id.is_(None))
            .order_by(WorkflowChange.created_at, WorkflowChange.id)
        )
    )
    if not pending:
        return None
    return DigestSection(title="Workflow changes", kind="what_changed", lines=[lit(t) for t in pending])
