"""Composing a broadcast: the four-part form, validation, preview, approval, scheduling, editing, cancelling."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Ctx
from bot.model import (
    Actions,
    Button,
    Confirm,
    Context,
    Form,
    FormField,
    Message,
    Reply,
    Request,
    Role,
    Section,
    Style,
    UserError,
    lit,
)
from bot.outbox import enqueue_many
from bot.people import people_with_role
from bot.runtime import Runtime
from bot.tables import OutboxMessage, Person, Rollout
from handlers.broadcasts import audience
from handlers.broadcasts.tables import Broadcast

FORM_ID = "broadcasts.compose"
KIND = "broadcast"
DEFAULT_APPROVAL_OVER = 200

PARTS = (
    ("why", "Why", "The business outcome, and what the reader gains (time, fewer repetitive tasks, better support)."),
    ("changing", "What's changing", "The steps of the workflow that look different next week."),
    ("boundaries", "Boundaries", "What the AI can and cannot do, and when a human must review or approve."),
    ("support", "Support", "Where to ask, how feedback is handled, and what happens when the AI is wrong."),
)


# ---------------------------------------------------------------- the form


async def compose_form(ctx: Ctx, values: dict[str, Any] | None = None, state: str = "") -> Form:
    v = values or {}
    teams = await audience.team_options(ctx.session, ctx.runtime, ctx.rollout)
    channels = audience.channel_options(ctx.rollout)
    fields: list[FormField] = [
        FormField("title", "Title", max_length=150, initial=v.get("title")),
        *(
            FormField(name, label, kind="long_text", hint=hint, max_length=3000, initial=v.get(name))
            for name, label, hint in PARTS
        ),
        FormField(
            "audience",
            "Audience",
            kind="select",
            options=audience.KINDS if channels else audience.KINDS[:3],
            initial=v.get("audience") or "everyone",
        ),
    ]
    if teams:
        fields.append(
            FormField("teams", "Teams", kind="multi_select", required=False, options=teams, initial=v.get("teams"))
        )
    if channels:
        fields.append(
            FormField(
                "channels", "Channels", kind="multi_select", required=False, options=channels, initial=v.get("channels")
            )
        )
    fields += [
        FormField(
            "date",
            "Date",
            kind="date",
            required=False,
            initial=v.get("date"),
            hint=f"Leave date and time empty to send now. Times are in {ctx.rollout.timezone}.",
        ),
        FormField("time", "Time", kind="time", required=False, initial=v.get("time")),
        FormField(
            "ask_ack",
            "Ask readers to acknowledge (👍 Got it)",
            kind="checkbox",
            required=False,
            initial=bool(v.get("ask_ack")),
        ),
        FormField(
            "mandatory",
            "Mandatory announcement (people cannot mute it)",
            kind="checkbox",
            required=False,
            initial=bool(v.get("mandatory")),
        ),
    ]
    return Form(
        FORM_ID,
        "New broadcast" if not state else "Edit broadcast",
        tuple(fields),
        submit_label="Preview",
        intro="Every update follows the same four parts, so people always know where to look.",
        state=state,
    )


def form_values(b: Broadcast) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": b.title,
        "why": b.why,
        "changing": b.changing,
        "boundaries": b.boundaries,
        "support": b.support,
        "audience": b.audience.get("kind", "everyone"),
        "teams": b.audience.get("teams") or [],
        "channels": b.audience.get("channels") or [],
        "ask_ack": b.ask_ack,
        "mandatory": b.mandatory,
    }
    return values


def parse_when(values: dict[str, Any], rollout: Rollout, now: dt.datetime) -> tuple[dt.datetime | None, str | None]:
    """(UTC send time or None for "now", error)."""
    date, time = values.get("date"), values.get("time")
    if not date and not time:
        return None, None
    if not date or not time:
        return None, "Give both a date and a time, or leave both empty to send now."
    from handlers.broadcasts.audience import _zone

    tz = _zone(rollout.timezone, "UTC")
    try:
        local = dt.datetime.combine(dt.date.fromisoformat(str(date)), dt.time.fromisoformat(str(time)), tzinfo=tz)
    except ValueError:
        return None, "Use a date like 2026-12-01 and a time like 09:30."
    at = local.astimezone(dt.UTC)
    if at <= now:
        current = now.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        return None, f"That time has already passed (it is {current} now in {rollout.timezone}). Pick a later time."
    return at, None


async def submit(request: Request, ctx: Ctx) -> Reply:
    """Validate the form; store a draft (or the edited broadcast) and show the preview. Nothing stored on errors."""
    from bot.model import Submission

    assert isinstance(request.intent, Submission)
    values = dict(request.intent.values)
    state = request.intent.state
    errors: dict[str, str] = {}
    for name, label in [("title", "Title"), *((n, lab) for n, lab, _ in PARTS)]:
        if not str(values.get(name) or "").strip():
            errors[name] = f"Please fill in {label}: every broadcast has a title and all four parts."
    kind = values.get("audience") or "everyone"
    if kind not in {o.value for o in audience.KINDS}:
        errors["audience"] = "Choose who should get it."
    aud: dict[str, Any] = {"kind": kind}
    if kind == "teams":
        aud["teams"] = list(values.get("teams") or [])
        if not aud["teams"]:
            errors["teams"] = "Pick at least one team."
    if kind == "channels":
        aud["channels"] = list(values.get("channels") or [])
        if not aud["channels"]:
            errors["channels"] = "Pick at least one channel."
    send_at, when_error = parse_when(values, ctx.rollout, ctx.now())
    if when_error:
        errors["time"] = when_error
    if not errors:
        count = len(await audience.resolve(ctx.session, ctx.runtime, ctx.rollout, aud))
        if count == 0:
            errors["audience"] = f"Nobody is in {audience.describe(aud)} yet, so nothing was created."
    if errors:
        return Reply.invalid(await compose_form(ctx, values, state), errors)
    b = await _editable(ctx, int(state)) if state else None
    if b is None:
        b = Broadcast(rollout_id=ctx.rollout.id, author_id=ctx.person.id, created_at=ctx.now())
        ctx.session.add(b)
    b.title = str(values["title"]).strip()
    b.why, b.changing = str(values["why"]).strip(), str(values["changing"]).strip()
    b.boundaries, b.support = str(values["boundaries"]).strip(), str(values["support"]).strip()
    b.audience, b.send_at = aud, send_at
    b.ask_ack, b.mandatory = bool(values.get("ask_ack")), bool(values.get("mandatory"))
    await ctx.session.flush()
    ctx.audit("broadcast.edit" if state else "broadcast.draft", "broadcast", b.id, b.title[:200])
    return await preview(ctx, b)


async def _editable(ctx: Ctx, broadcast_id: int) -> Broadcast:
    """The broadcast, back to a draft: a scheduled one loses its (not yet started) rows and gets a new revision."""
    b = await load(ctx, broadcast_id)
    if b.status == "cancelled":
        raise UserError("That broadcast was cancelled; start a new one with `broadcast`.")
    if b.status == "scheduled":
        await unschedule(ctx.session, b, "edited before sending")
    elif b.status == "awaiting_approval":
        b.revision += 1  # the approval request out there was for the old text
    b.status = "draft"
    return b


async def load(ctx: Ctx, broadcast_id: int) -> Broadcast:
    b = await ctx.session.get(Broadcast, broadcast_id)
    if b is None or b.rollout_id != ctx.rollout.id:
        raise UserError("I can't find that broadcast any more.")
    return b


def broadcast_id(request: Request) -> int:
    """The id carried by a button (`broadcasts.send:12`) or typed after a command."""
    action_id = getattr(request.intent, "action_id", "")
    raw = action_id.rsplit(":", 1)[-1] if ":" in action_id else request.text.strip().lstrip("#")
    try:
        return int(raw)
    except ValueError:
        raise UserError("That button belongs to a broadcast I can't find.") from None


# ---------------------------------------------------------------- what people receive


def broadcast_message(b: Broadcast, author: str, rollout: Rollout, *, reminder: bool = False) -> Message:
    blocks: list[Any] = [Section(heading=("Reminder: " if reminder else "") + lit(b.title))]
    for name, label, _hint in PARTS:
        blocks.append(Section(heading=label, user_text=getattr(b, name)))
    foot = f"From {lit(author)} · {lit(rollout.name)}"
    if b.mandatory:
        foot += " · mandatory announcement"
    blocks.append(Context(foot))
    if b.ask_ack:
        blocks.append(Actions((Button("👍 Got it", f"broadcasts.ack:{b.id}", style=Style.primary),)))
    return Message(text=("Reminder: " if reminder else "") + lit(b.title), blocks=tuple(blocks))


async def author_name(session: AsyncSession, b: Broadcast) -> str:
    person = await session.get(Person, b.author_id) if b.author_id else None
    return person.display_name if person else "your change lead"


def local_time(at: dt.datetime | None, rollout: Rollout) -> str:
    if at is None:
        return "now"
    from handlers.broadcasts.audience import _zone

    return at.astimezone(_zone(rollout.timezone, "UTC")).strftime("%a %Y-%m-%d %H:%M ") + rollout.timezone


async def preview(ctx: Ctx, b: Broadcast) -> Reply:
    rec = await audience.resolve(ctx.session, ctx.runtime, ctx.rollout, b.audience)
    msg = broadcast_message(b, await author_name(ctx.session, b), ctx.rollout)
    shown = msg.blocks[:-1] if b.ask_ack else msg.blocks  # no live "Got it" on the preview: it would count an ack
    buttons = [Button("Send now", f"broadcasts.send:{b.id}", style=Style.primary)]
    if b.send_at is not None:
        buttons.append(Button(f"Schedule for {local_time(b.send_at, ctx.rollout)}", f"broadcasts.schedule:{b.id}"))
    buttons += [
        Button("Edit", f"broadcasts.edit:{b.id}"),
        Button("Cancel", f"broadcasts.cancel:{b.id}", style=Style.danger, confirm=confirm_cancel()),
    ]
    who = f"{len(rec.people)} people" + (f" and {len(rec.channels)} channel(s)" if rec.channels else "")
    note = f"Preview — only you see this. It goes to {audience.describe(b.audience)} ({who})."
    if b.ask_ack:
        note += " Readers are asked to acknowledge."
    return Reply.say(note, *shown, Actions(tuple(buttons)))


# ---------------------------------------------------------------- send, schedule, approve


async def go(request: Request, ctx: Ctx, *, now: bool) -> Reply:
    b = await load(ctx, broadcast_id(request))
    if b.status == "scheduled":
        return Reply.say(f"Already scheduled for {local_time(b.send_at, ctx.rollout)}; nothing changed.")
    if b.status == "awaiting_approval":
        return Reply.say("It is waiting for another change lead's approval; nothing changed.")
    if b.status == "cancelled":
        raise UserError("That broadcast was cancelled.")
    if now:
        b.send_at = None
    elif b.send_at is None:
        raise UserError("Give it a date and time first (Edit), or use Send now.")
    elif b.send_at <= ctx.now():
        raise UserError("The scheduled time has already passed. Edit it, or use Send now.")
    rec = await audience.resolve(ctx.session, ctx.runtime, ctx.rollout, b.audience)
    if len(rec) == 0:
        raise UserError(f"Nobody is in {audience.describe(b.audience)} any more, so nothing was sent.")
    limit = int((ctx.rollout.config or {}).get("broadcast_approval_over", DEFAULT_APPROVAL_OVER))
    others = [p for p in await people_with_role(ctx.session, ctx.rollout, Role.change_lead) if p.id != ctx.person.id]
    if len(rec) > limit and others:
        b.status = "awaiting_approval"
        msg = broadcast_message(b, ctx.person.display_name, ctx.rollout)
        shown = msg.blocks[:-1] if b.ask_ack else msg.blocks  # no "Got it" on the approval copy
        ask = Message(
            text=f"{lit(ctx.person.display_name)} asks you to approve a broadcast to {len(rec)} recipients.",
            blocks=(
                Section(
                    text=f"{lit(ctx.person.display_name)} asks you to approve a broadcast to {len(rec)} "
                    f"recipients ({audience.describe(b.audience)}), {local_time(b.send_at, ctx.rollout)}."
                ),
                *shown,
                Actions(
                    (
                        # The revision: a request for an older version can't approve (or reject) a newer one.
                        Button("Approve", f"broadcasts.approve:{b.id}", str(b.revision), style=Style.primary),
                        Button("Send back", f"broadcasts.reject:{b.id}", str(b.revision)),
                    )
                ),
            ),
        )
        for lead in others:
            await ctx.notify(
                f"broadcast:{b.id}:r{b.revision}:approve:{lead.id}",
                ask,
                person_id=lead.id,
                kind="approval",
                mandatory=True,
            )
        ctx.audit("broadcast.approval_requested", "broadcast", b.id, f"{len(rec)} recipients")
        return Reply.say(
            f"It goes to {len(rec)} recipients, more than {limit}, so I've asked "
            f"{', '.join(lit(p.display_name) for p in others)} to approve it. I'll tell you when it's approved."
        )
    count = await schedule(ctx.session, ctx.runtime, ctx.rollout, b, ctx.now())
    ctx.audit("broadcast.schedule", "broadcast", b.id, f"{count} recipients")
    follow = Actions((Button("Progress", f"broadcasts.progress:{b.id}"),))
    return Reply.say(scheduled_text(b, count, ctx.rollout), follow, replace=True)


def scheduled_text(b: Broadcast, count: int, rollout: Rollout) -> str:
    when = "now" if b.send_at is None else f"at {local_time(b.send_at, rollout)}"
    return (
        f"“{lit(b.title)}” is scheduled to {count} recipients, {when} (direct messages wait for the end of quiet "
        "hours). Type `broadcasts` to follow delivery and acknowledgements."
    )


async def schedule(session: AsyncSession, rt: Runtime, rollout: Rollout, b: Broadcast, now: dt.datetime) -> int:
    """Write every outbox row of the broadcast in this transaction; returns the recipient count.

    Keys are unique per (broadcast, revision, recipient): scheduling twice writes nothing new.
    """
    rec = await audience.resolve(session, rt, rollout, b.audience, b.author_id)
    at = b.send_at or now
    msg = broadcast_message(b, await author_name(session, b), rollout)
    from bot.codec import dump_message

    payload = dump_message(msg)
    group = f"broadcast:{b.id}:r{b.revision}"
    common = {"rollout_id": rollout.id, "kind": KIND, "group_key": group, "payload": payload, "mandatory": b.mandatory}
    rows: list[dict[str, Any]] = [
        {**common, "key": f"{group}:p{p.id}", "person_id": p.id, "not_before": audience.deliver_at(p, at, rollout)}
        for p in rec.people
    ]
    rows += [{**common, "key": f"{group}:c{c[0]}:{c[2]}", "channel": c, "not_before": at} for c in rec.channels]
    await enqueue_many(session, rows)
    b.status, b.recipients, b.scheduled_at = "scheduled", len(rec), now
    await session.flush()
    return len(rec)


async def unschedule(session: AsyncSession, b: Broadcast, reason: str) -> None:
    """Cancel a scheduled broadcast's rows, refusing once any of them has started."""
    group = f"broadcast:{b.id}:r{b.revision}"
    started = await session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.group_key == group, OutboxMessage.status.in_(("sending", "sent", "failed")))
        .limit(1)
    )
    if started is not None:
        raise UserError("It has started sending, so it can no longer be changed or cancelled.")
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.group_key == group, OutboxMessage.status == "pending")
        .values(status="cancelled", error=reason)
    )
    b.revision += 1


def _stale_request(request: Request, b: Broadcast) -> Reply | None:
    """The answer to a click on an approval request for another status or an older version, else None."""
    if b.status != "awaiting_approval":
        return Reply.say("It is no longer waiting for approval; nothing changed.", replace=True)
    value = getattr(request.intent, "value", "")
    if value and value != str(b.revision):
        return Reply.say(
            "It was changed since this request; I've sent you the new version to approve. Nothing changed.",
            replace=True,
        )
    return None


async def approve(request: Request, ctx: Ctx) -> Reply:
    b = await load(ctx, broadcast_id(request))
    if b.author_id == ctx.person.id:
        raise UserError("A second change lead has to approve it; you can't approve your own broadcast.")
    if (stale := _stale_request(request, b)) is not None:
        return stale
    b.approved_by = ctx.person.id
    count = await schedule(ctx.session, ctx.runtime, ctx.rollout, b, ctx.now())
    ctx.audit("broadcast.approve", "broadcast", b.id, f"{count} recipients")
    if b.author_id:
        text = f"{lit(ctx.person.display_name)} approved your broadcast. " + scheduled_text(b, count, ctx.rollout)
        await ctx.notify(
            f"broadcast:{b.id}:r{b.revision}:approved",
            Message(text),
            person_id=b.author_id,
            kind="approval",
            mandatory=True,
        )
    return Reply.say(f"Approved. {scheduled_text(b, count, ctx.rollout)}", replace=True)


async def reject(request: Request, ctx: Ctx) -> Reply:
    b = await load(ctx, broadcast_id(request))
    if (stale := _stale_request(request, b)) is not None:
        return stale
    b.status = "draft"
    b.revision += 1  # asking again is a new request (new outbox keys), and this one's buttons go stale
    ctx.audit("broadcast.reject", "broadcast", b.id)
    if b.author_id:
        text = f"{lit(ctx.person.display_name)} sent your broadcast “{lit(b.title)}” back to you; it is a draft again."
        await ctx.notify(
            f"broadcast:{b.id}:r{b.revision - 1}:rejected",  # the revision that was sent back
            Message(text),
            person_id=b.author_id,
            kind="approval",
            mandatory=True,
        )
    return Reply.say("Sent back to the author as a draft.", replace=True)


async def edit(request: Request, ctx: Ctx) -> Reply:
    b = await load(ctx, broadcast_id(request))
    if b.status == "cancelled":
        raise UserError("That broadcast was cancelled; start a new one with `broadcast`.")
    if b.status == "scheduled":
        group = f"broadcast:{b.id}:r{b.revision}"
        started = await ctx.session.scalar(
            select(OutboxMessage.id)
            .where(OutboxMessage.group_key == group, OutboxMessage.status.in_(("sending", "sent", "failed")))
            .limit(1)
        )
        if started is not None:
            raise UserError("It has started sending, so it can no longer be edited.")
    values = form_values(b)
    if b.send_at is not None:
        from handlers.broadcasts.audience import _zone

        local = b.send_at.astimezone(_zone(ctx.rollout.timezone, "UTC"))
        values.update(date=local.date().isoformat(), time=local.strftime("%H:%M"))
    return Reply.open(await compose_form(ctx, values, state=str(b.id)))


async def cancel(request: Request, ctx: Ctx) -> Reply:
    b = await load(ctx, broadcast_id(request))
    if b.status == "cancelled":
        return Reply.say("It was already cancelled.", replace=True)
    if b.status == "scheduled":
        await unschedule(ctx.session, b, "cancelled by a change lead")
    b.status = "cancelled"
    ctx.audit("broadcast.cancel", "broadcast", b.id)
    return Reply.say(f"Cancelled “{lit(b.title)}”. Nothing more will be sent.", replace=True)


async def open_form(request: Request, ctx: Ctx) -> Reply:
    return Reply.open(await compose_form(ctx))


def confirm_cancel() -> Confirm:
    return Confirm("Cancel this broadcast?", "Nothing more will be sent.", yes="Cancel it", no="Keep it")
