"""The weekly update and the monthly review: drafted by jobs from digest sections and Jinja2 templates,
approved by a change lead (or auto-sent when the rollout says so), posted to the announcement channels."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import ContentError
from bot.context import Ctx, JobCtx
from bot.digest import DigestSection, Period
from bot.model import (
    Actions,
    Button,
    Context,
    Form,
    FormField,
    Message,
    Reply,
    Request,
    Role,
    Section,
    Style,
    Submission,
    UserError,
    lit,
)
from bot.outbox import enqueue, enqueue_many
from bot.people import people_with_role
from bot.runtime import Runtime
from bot.tables import Rollout
from handlers.broadcasts.audience import _zone, workspace_of
from handlers.broadcasts.tables import LearningExample, RolloutUpdate, WorkflowChange

log = logging.getLogger("uptake.broadcasts")

TEMPLATES = {"weekly": "weekly_update.md.j2", "monthly": "monthly_review.md.j2"}
TITLES = {"weekly": "Weekly update", "monthly": "Monthly review"}
SECTION_KINDS = ("progress", "what_changed", "learning", "top_friction", "next", "metrics")


def load_templates(content_dir: Path) -> dict[str, jinja2.Template]:
    """Content loader: the two templates compile, or a ContentError names file and line."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(content_dir) / "templates")),
        autoescape=False,  # output is Uptake's chat text; person text inside is marked with lit() and escaped later
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )
    out: dict[str, jinja2.Template] = {}
    for kind, name in TEMPLATES.items():
        path = Path(content_dir) / "templates" / name
        try:
            out[kind] = env.get_template(name)
        except jinja2.TemplateNotFound:
            raise ContentError(path, 1, "", "template missing") from None
        except jinja2.TemplateSyntaxError as e:
            raise ContentError(path, e.lineno or 1, "", f"template error: {e.message}") from None
    return out


# ---------------------------------------------------------------- periods


def weekly_period(fire: dt.datetime) -> Period:
    return Period(start=fire - dt.timedelta(days=7), end=fire, kind="week")


def monthly_period(fire: dt.datetime, tz_name: str) -> Period:
    """The previous calendar month in the rollout's timezone."""
    tz = _zone(tz_name, "UTC")
    local = fire.astimezone(tz)
    this_month = dt.datetime(local.year, local.month, 1, tzinfo=tz)
    prev = (this_month - dt.timedelta(days=1)).replace(day=1)
    return Period(start=prev.astimezone(dt.UTC), end=this_month.astimezone(dt.UTC), kind="month")


def first_business_day(day: dt.date) -> bool:
    """Monday–Friday and no earlier weekday this month (public holidays are not modelled)."""
    return day.weekday() < 5 and all(day.replace(day=d).weekday() >= 5 for d in range(1, day.day))


# ---------------------------------------------------------------- drafting


async def collect(session: AsyncSession, rt: Runtime, rollout: Rollout, period: Period) -> dict[str, list[Any]]:
    """Every registered digest section for the period, grouped by kind; a failing provider is left out."""
    sections: dict[str, list[Any]] = defaultdict(list)
    for spec in rt.registry.digests:
        try:
            section = await spec.fn(session, rollout, period, rt)
        except Exception:
            log.exception("digest section %s (%s) failed; left out", spec.name, spec.capability)
            continue
        if isinstance(section, DigestSection):
            sections[section.kind if section.kind in SECTION_KINDS else "progress"].append(section)
    return {k: sections.get(k, []) for k in SECTION_KINDS}


async def render_body(session: AsyncSession, rt: Runtime, rollout: Rollout, kind: str, period: Period) -> str:
    templates = rt.content.get("broadcasts.templates") or load_templates(rt.settings.content_dir)
    sections = await collect(session, rt, rollout, period)
    return str(templates[kind].render(sections=sections, rollout=rollout, period=period).strip())


async def refresh_drafts(session: AsyncSession, rt: Runtime, rollout: Rollout) -> tuple[int, int]:
    """Re-render the open weekly drafts from their sections (after a noted workflow change, say).

    Drafts a change lead edited by hand are left alone. Returns (re-rendered, edited by hand)."""
    drafts = list(
        await session.scalars(
            select(RolloutUpdate).where(
                RolloutUpdate.rollout_id == rollout.id, RolloutUpdate.kind == "weekly", RolloutUpdate.status == "draft"
            )
        )
    )
    by_hand = [u for u in drafts if u.edited]
    for u in drafts:
        if not u.edited:
            u.body = await render_body(session, rt, rollout, u.kind, Period(u.period_start, u.period_end, "week"))
    await session.flush()
    return len(drafts) - len(by_hand), len(by_hand)


async def draft(
    session: AsyncSession, rt: Runtime, rollout: Rollout, kind: str, period: Period, now: dt.datetime
) -> tuple[RolloutUpdate, bool]:
    """Draft the update for the period (once: a second call returns the existing one). Returns (update, new)."""
    existing = await session.scalar(
        select(RolloutUpdate).where(
            RolloutUpdate.rollout_id == rollout.id,
            RolloutUpdate.kind == kind,
            RolloutUpdate.period_start == period.start,
        )
    )
    if existing is not None:
        return existing, False
    body = await render_body(session, rt, rollout, kind, period)
    tz = _zone(rollout.timezone, "UTC")
    last_day = (period.end - dt.timedelta(seconds=1)).astimezone(tz).date()
    label = f"week to {last_day:%d %b %Y}" if kind == "weekly" else f"{period.start.astimezone(tz):%B %Y}"
    update = RolloutUpdate(
        rollout_id=rollout.id,
        kind=kind,
        period_start=period.start,
        period_end=period.end,
        title=f"{TITLES[kind]} — {lit(rollout.name)} — {label}",
        body=body,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(update)
    except IntegrityError:  # drafted concurrently (a manual draft and the job)
        return await draft(session, rt, rollout, kind, period, now)
    return update, True


def update_message(u: RolloutUpdate) -> Message:
    body = Section(user_text=u.body) if u.edited else Section(text=u.body)
    return Message(text=u.title, blocks=(Section(heading=u.title), body))


def review_buttons(u: RolloutUpdate) -> Actions:
    return Actions(
        (
            Button("Approve & send", f"broadcasts.update_send:{u.id}", style=Style.primary),
            Button("Edit", f"broadcasts.update_edit:{u.id}"),
            Button("Skip this time", f"broadcasts.update_skip:{u.id}"),
            *((Button("Note a workflow change", "broadcasts.workflow_new"),) if u.kind == "weekly" else ()),
        )
    )


async def announce_channels(
    session: AsyncSession, rollout: Rollout, by: int | None = None
) -> list[tuple[str, str, str]]:
    """(platform, workspace, channel) of the announcement channels; `by` (who approved) decides unnamed workspaces."""
    return [
        (platform, await workspace_of(session, rollout, platform, by), cid)
        for platform in sorted((rollout.channels or {}).keys())
        for cid in rollout.channel_ids(platform, "announce")
    ]


async def post(
    session: AsyncSession, rollout: Rollout, u: RolloutUpdate, now: dt.datetime, by: int | None = None
) -> int:
    """Queue the update to every announcement channel (in this transaction); the keys make it once per channel."""
    channels = await announce_channels(session, rollout, by)
    if not channels:
        raise UserError(
            "No announcement channels are configured (channels → slack/teams → announce in content/rollout.yml), "
            "so there is nowhere to post it."
        )
    msg = update_message(u)
    rows = [
        {
            "key": f"update:{u.id}:{c[0]}:{c[2]}",
            "rollout_id": rollout.id,
            "channel": c,
            "kind": "update",
            "group_key": f"update:{u.id}",
            "message": msg,
            "not_before": now,
            "mandatory": True,
        }
        for c in channels
    ]
    await enqueue_many(session, rows)
    u.status = "sent"
    if u.kind == "weekly":  # the pending workflow changes are in it (a noted change re-renders the open draft)
        await session.execute(
            sql_update(WorkflowChange)
            .where(WorkflowChange.rollout_id == rollout.id, WorkflowChange.update_id.is_(None))
            .values(update_id=u.id)
        )
    return len(channels)


async def ask_leads(session: AsyncSession, rollout: Rollout, u: RolloutUpdate, now: dt.datetime) -> int:
    leads = await people_with_role(session, rollout, Role.change_lead)
    msg = update_message(u)
    review = Message(
        f"Draft for your approval: {u.title}",
        (Section(text=f"Draft for your approval: {u.title}"), *msg.blocks[1:], review_buttons(u)),
    )
    for lead in leads:
        await enqueue(
            session,
            key=f"update:{u.id}:review:{lead.id}",
            message=review,
            rollout_id=rollout.id,
            person_id=lead.id,
            kind="approval",
            not_before=now,
            mandatory=True,
        )
    return len(leads)


async def produce(ctx: JobCtx, kind: str, period: Period) -> None:
    u, new = await draft(ctx.session, ctx.runtime, ctx.rollout, kind, period, ctx.now())
    if not new:
        return
    if (ctx.rollout.config or {}).get("auto_send_updates") and await announce_channels(ctx.session, ctx.rollout):
        await post(ctx.session, ctx.rollout, u, ctx.now())
        u.decided_at = ctx.now()
        return
    if not await ask_leads(ctx.session, ctx.rollout, u, ctx.now()):
        log.warning("rollout %s has no change lead to approve the %s", ctx.rollout.slug, kind)


async def weekly_job(ctx: JobCtx) -> None:
    """Monday 09:00 (rollout time): draft the weekly update and send it for approval."""
    await produce(ctx, "weekly", weekly_period(ctx.fire_time))


async def monthly_job(ctx: JobCtx) -> None:
    """09:00 on the first business day of the month: draft the monthly review."""
    if not first_business_day(ctx.fire_time.astimezone(_zone(ctx.rollout.timezone, "UTC")).date()):
        return
    await produce(ctx, "monthly", monthly_period(ctx.fire_time, ctx.rollout.timezone))


# ---------------------------------------------------------------- the change lead's decisions


async def _load(ctx: Ctx, request: Request) -> RolloutUpdate:
    action_id = getattr(request.intent, "action_id", "")
    raw = action_id.rsplit(":", 1)[-1] if ":" in action_id else getattr(request.intent, "state", "") or request.text
    u = await ctx.session.get(RolloutUpdate, int(raw)) if raw.strip().isdigit() else None
    if u is None or u.rollout_id != ctx.rollout.id:
        raise UserError("I can't find that update any more.")
    return u


async def approve_update(request: Request, ctx: Ctx) -> Reply:
    u = await _load(ctx, request)
    if u.status != "draft":
        return Reply.say(f"It was already {u.status}; nothing changed.", replace=True)
    n = await post(ctx.session, ctx.rollout, u, ctx.now(), by=ctx.person.id)
    u.decided_by, u.decided_at = ctx.person.id, ctx.now()
    ctx.audit("update.send", "update", u.id, u.kind)
    return Reply.say(f"Approved: {u.title} goes to {n} announcement channel(s).", replace=True)


async def skip_update(request: Request, ctx: Ctx) -> Reply:
    u = await _load(ctx, request)
    if u.status != "draft":
        return Reply.say(f"It was already {u.status}; nothing changed.", replace=True)
    u.status, u.decided_by, u.decided_at = "skipped", ctx.person.id, ctx.now()
    ctx.audit("update.skip", "update", u.id, u.kind)
    return Reply.say(f"Skipped {u.title} this time.", replace=True)


EDIT_FORM = "broadcasts.update_edit"


async def edit_update(request: Request, ctx: Ctx) -> Reply:
    u = await _load(ctx, request)
    if u.status != "draft":
        raise UserError(f"It was already {u.status}, so it can't be edited.")
    from bot.model import plain

    field = FormField("body", "Text", kind="long_text", initial=plain(u.body), max_length=3900)
    return Reply.open(Form(EDIT_FORM, f"Edit {TITLES[u.kind].lower()}", (field,), submit_label="Save", state=str(u.id)))


async def save_update(request: Request, ctx: Ctx) -> Reply:
    assert isinstance(request.intent, Submission)
    u = await _load(ctx, request)
    text = str(request.intent.values.get("body") or "").strip()
    if not text:
        field = FormField("body", "Text", kind="long_text", max_length=3900)
        form = Form(EDIT_FORM, f"Edit {TITLES[u.kind].lower()}", (field,), state=str(u.id))
        return Reply.invalid(form, {"body": "The update can't be empty. Use Skip this time instead."})
    if u.status != "draft":
        raise UserError(f"It was already {u.status}, so it can't be edited.")
    u.body, u.edited = text, True
    ctx.audit("update.edit", "update", u.id, u.kind)
    msg = update_message(u)
    return Reply.say("Saved. This is what will be posted:", *msg.blocks, review_buttons(u))


async def list_updates(request: Request, ctx: Ctx) -> Reply:
    """`updates`: past weekly updates and monthly reviews (change leads also see drafts and skipped ones)."""
    arg = request.text.strip().lower()
    if arg.startswith("draft"):
        return await draft_now(ctx, arg.removeprefix("draft").strip() or "weekly")
    stmt = select(RolloutUpdate).where(RolloutUpdate.rollout_id == ctx.rollout.id)
    if not ctx.may(Role.change_lead):
        stmt = stmt.where(RolloutUpdate.status == "sent")
    items = list(await ctx.session.scalars(stmt.order_by(RolloutUpdate.period_start.desc()).limit(12)))
    if not items:
        return Reply.say("No updates yet. The weekly update is drafted on Mondays at 09:00.")
    blocks = [
        Section(text=f"{u.title} · *{u.status}*", buttons=(Button("Read", f"broadcasts.update_read:{u.id}"),))
        for u in items
    ]
    return Reply.say("Past updates", *blocks)


async def read_update(request: Request, ctx: Ctx) -> Reply:
    u = await _load(ctx, request)
    if u.status != "sent" and not ctx.may(Role.change_lead):
        raise UserError("That update was not published.")
    msg = update_message(u)
    extra = [review_buttons(u)] if u.status == "draft" and ctx.may(Role.change_lead) else []
    return Reply.say(msg.text, *msg.blocks, Context(f"Status: {u.status}"), *extra)


async def draft_now(ctx: Ctx, kind: str) -> Reply:
    """`updates draft weekly|monthly`: draft now for the period ending now, and show it for approval."""
    ctx.require(Role.change_lead, "draft an update")
    if kind not in TEMPLATES:
        raise UserError("Usage: `updates draft weekly` or `updates draft monthly`.")
    now = ctx.now()
    period = weekly_period(now) if kind == "weekly" else monthly_period(now, ctx.rollout.timezone)
    u, _new = await draft(ctx.session, ctx.runtime, ctx.rollout, kind, period, now)
    msg = update_message(u)
    return Reply.say(f"Draft: {u.title}", *msg.blocks[1:], review_buttons(u))


# ---------------------------------------------------------------- wins and tips


SHARE_FORM = "broadcasts.share"


def share_form(kind: str = "win") -> Form:
    return Form(
        SHARE_FORM,
        "Share a win or a tip",
        (
            FormField("kind", "What is it", kind="select", options=_share_kinds(), initial=kind),
            FormField(
                "text",
                "Tell us",
                kind="long_text",
                max_length=1000,
                hint="What did you do with the assistant, and what did it save or improve?",
            ),
        ),
        submit_label="Share",
    )


def _share_kinds() -> tuple[Any, ...]:
    from bot.model import Option

    return (Option("A win", "win"), Option("A tip", "tip"))


async def store_example(ctx: Ctx, kind: str, text: str) -> Reply:
    ctx.session.add(
        LearningExample(rollout_id=ctx.rollout.id, person_id=ctx.person.id, kind=kind, text=text, created_at=ctx.now())
    )
    await ctx.session.flush()
    what = "win" if kind == "win" else "tip"
    return Reply.say(
        f"Thanks for sharing your {what}: “{lit(text[:200])}”. The latest one shared each week becomes the "
        "learning example in the weekly update."
    )


async def win(request: Request, ctx: Ctx) -> Reply:
    """Share a win: something the assistant helped you do."""
    if not request.text.strip():
        return Reply.open(share_form("win"))
    return await store_example(ctx, "win", request.text.strip())


async def tip(request: Request, ctx: Ctx) -> Reply:
    """Share a tip: a practical way to use the assistant well."""
    if not request.text.strip():
        return Reply.open(share_form("tip"))
    return await store_example(ctx, "tip", request.text.strip())


async def share_submitted(request: Request, ctx: Ctx) -> Reply:
    assert isinstance(request.intent, Submission)
    values = request.intent.values
    text = str(values.get("text") or "").strip()
    kind = values.get("kind") if values.get("kind") in ("win", "tip") else "win"
    if not text:
        return Reply.invalid(share_form(str(kind)), {"text": "Write a sentence or two about it."})
    return await store_example(ctx, str(kind), text)


async def learning_section(
    session: AsyncSession, rollout: Rollout, period: Period, rt: Runtime
) -> DigestSection | None:
    """Digest provider: the latest win or tip shared in the period."""
    from bot.tables import Person

    ex = await session.scalar(
        select(LearningExample)
        .where(
            LearningExample.rollout_id == rollout.id,
            LearningExample.created_at >= period.start,
            LearningExample.created_at < period.end,
        )
        .order_by(LearningExample.created_at.desc(), LearningExample.id.desc())
        .limit(1)
    )
    if ex is None:
        return None
    person = await session.get(Person, ex.person_id) if ex.person_id else None
    who = lit(person.display_name) if person else "a colleague"
    label = "A win" if ex.kind == "win" else "A tip"
    return DigestSection(title="One learning example", kind="learning", lines=[f"_{label} from {who}:_ {lit(ex.text)}"])
