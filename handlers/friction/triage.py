"""Triage: the buttons on a report card, the forms behind them, `triage` lists and `report #N`.

Buttons carry "id:version" so a triager acting on an outdated card is told it changed instead of overwriting
someone else's decision. Replies to the reporter are relayed by Uptake, so the triager never learns who filed
an anonymous report.
"""

from __future__ import annotations

import datetime as dt
import shlex
from typing import Any

from sqlalchemy import select

from bot import permissions
from bot.context import Ctx
from bot.model import Form, FormField, Message, Option, Reply, Request, Role, Section, UserError, lit
from bot.people import find_person
from handlers.friction.access import get_report, mine, visible, vote_counts
from handlers.friction.lifecycle import (
    answer_fixed,
    assign,
    changed_text,
    record,
    resolve_duplicate_target,
    transition,
)
from handlers.friction.tables import CLOSED, OPEN, STATUS_LABELS, FrictionHiddenFollower, FrictionReport
from handlers.friction.taxonomy import taxonomy
from handlers.friction.views import card, parse_stamp, stamp, summary_line, triage_buttons

SETTABLE = ("triaged", "in_progress", "resolved", "wont_fix")


def _stamp(value: str) -> tuple[int, int | None]:
    try:
        return parse_stamp(value)
    except ValueError:
        raise UserError("That button or form is broken; type `report #N` to see the report.") from None


async def _load(ctx: Ctx, value: str) -> tuple[FrictionReport, int | None]:
    number, version = _stamp(value)
    return await get_report(ctx.session, ctx.rollout.id, number), version


async def _card_reply(ctx: Ctx, report: FrictionReport, intro: str) -> Reply:
    votes = (await vote_counts(ctx.session, [report.id])).get(report.id, 0)
    buttons = triage_buttons(report) if permissions.allowed("friction.triage", ctx, report) else ()
    msg = await card(ctx.session, report, taxonomy(ctx.runtime), votes, buttons=buttons, intro=intro)
    return Reply(message=msg, replace=True, private=False)


async def _guard(ctx: Ctx, value: str, rule: str, what: str) -> FrictionReport:
    report, version = await _load(ctx, value)
    permissions.ensure(rule, ctx, report, what=what, needed=Role.change_lead)
    if version is not None and version != report.version:
        raise UserError(await changed_text(ctx, report))
    return report


# ---------------------------------------------------------------- buttons


async def take(request: Request, ctx: Ctx) -> Reply:
    report, version = await _load(ctx, request.text)
    report = await assign(ctx, report, version, ctx.person.id)
    return await _card_reply(ctx, report, f"{lit(ctx.person.display_name)} took it.")


async def assign_button(request: Request, ctx: Ctx) -> Reply:
    report = await _guard(ctx, request.text, "friction.triage", "assign a friction report")
    field = FormField("who", "Who should own it?", hint="A name, an email or a person number like #12.")
    return Reply.open(Form("friction.assign", f"Assign #{report.id}", (field,), "Assign", state=stamp(report)))


async def status_button(request: Request, ctx: Ctx) -> Reply:
    report = await _guard(ctx, request.text, "friction.triage", "change the status of a friction report")
    return Reply.open(status_form(report))


def status_form(report: FrictionReport) -> Form:
    fields = (
        FormField("status", "New status", "select", options=tuple(Option(STATUS_LABELS[s], s) for s in SETTABLE)),
        FormField(
            "note",
            "What we changed / why not",
            "long_text",
            required=False,
            max_length=3000,
            hint="Required for resolved (what we changed) and won't fix (the reason). The reporter sees it.",
        ),
    )
    return Form("friction.set_status", f"Status of #{report.id}", fields, "Save", state=stamp(report))


async def duplicate_button(request: Request, ctx: Ctx) -> Reply:
    report = await _guard(ctx, request.text, "friction.triage", "mark a friction report as a duplicate")
    field = FormField("of", "Duplicate of report number", hint="e.g. 12")
    return Reply.open(
        Form("friction.mark_duplicate", f"#{report.id} duplicates…", (field,), "Merge", state=stamp(report))
    )


async def reply_button(request: Request, ctx: Ctx) -> Reply:
    report = await _guard(ctx, request.text, "friction.reply", "reply to a friction reporter")
    field = FormField("message", "Your message to the reporter", "long_text", max_length=3000)
    intro = "Uptake relays it; you won't see who filed an anonymous report, and they see your name."
    return Reply.open(Form("friction.reply", f"Reply about #{report.id}", (field,), "Send", intro, stamp(report)))


async def fixed(request: Request, ctx: Ctx) -> Reply:
    number, token, answer = [*request.text.split(":"), "", "", ""][:3]
    if not number.isdigit() or not token:
        raise UserError("That button is broken; type `reports` to see your reports.")
    report = await get_report(ctx.session, ctx.rollout.id, int(number))
    return Reply.say(await answer_fixed(ctx, report, token, answer == "yes"), replace=True)


# ---------------------------------------------------------------- forms


def _values(request: Request) -> tuple[dict[str, Any], str]:
    return dict(getattr(request.intent, "values", {})), str(getattr(request.intent, "state", ""))


async def assign_submit(request: Request, ctx: Ctx) -> Reply:
    values, state = _values(request)
    report, version = await _load(ctx, state)
    who = str(values.get("who") or "").strip()
    if not who:
        form = Form("friction.assign", f"Assign #{report.id}", (FormField("who", "Who should own it?"),), state=state)
        return Reply.invalid(form, {"who": "Tell me who should own it."})
    try:
        person = await find_person(ctx.session, who)
    except UserError as e:
        form = Form("friction.assign", f"Assign #{report.id}", (FormField("who", "Who should own it?"),), state=state)
        return Reply.invalid(form, {"who": e.message})
    report = await assign(ctx, report, version, person.id)
    return await _card_reply(ctx, report, f"Assigned to {lit(person.display_name)}.")


async def status_submit(request: Request, ctx: Ctx) -> Reply:
    values, state = _values(request)
    report, version = await _load(ctx, state)
    to = str(values.get("status") or "")
    note = str(values.get("note") or "").strip() or None
    errors: dict[str, str] = {}
    if to not in SETTABLE:
        errors["status"] = "Choose a status."
    elif to == "resolved" and not note:
        errors["note"] = "Tell the reporter what we changed — it's required to resolve."
    elif to == "wont_fix" and not note:
        errors["note"] = "Tell the reporter why we won't change it — a reason is required."
    if errors:
        return Reply.invalid(Form(**{**status_form(report).__dict__, "state": state}), errors)
    report = await transition(ctx, report, version, to, note=note)
    return await _card_reply(ctx, report, f"Now {STATUS_LABELS[to]}; everyone following it was told.")


async def duplicate_submit(request: Request, ctx: Ctx) -> Reply:
    values, state = _values(request)
    report, version = await _load(ctx, state)
    try:
        target = await resolve_duplicate_target(ctx, report, str(values.get("of") or ""))
    except UserError as e:
        form = Form(
            "friction.mark_duplicate", f"#{report.id} duplicates…", (FormField("of", "Duplicate of"),), state=state
        )
        return Reply.invalid(form, {"of": e.message})
    report = await transition(ctx, report, version, "duplicate", duplicate_of=target)
    return await _card_reply(ctx, report, f"Merged into #{target.id}; its followers now follow #{target.id}.")


async def reply_submit(request: Request, ctx: Ctx) -> Reply:
    values, state = _values(request)
    report, _ = await _load(ctx, state)
    permissions.ensure("friction.reply", ctx, report, what="reply to a friction reporter", needed=Role.change_lead)
    text = str(values.get("message") or "").strip()
    if not text:
        form = Form(
            "friction.reply",
            f"Reply about #{report.id}",
            (FormField("message", "Your message", "long_text"),),
            state=state,
        )
        return Reply.invalid(form, {"message": "Write a message first."})
    recipients = (
        [report.reporter_id]
        if report.reporter_id
        else list(
            await ctx.session.scalars(
                select(FrictionHiddenFollower.person_id).where(
                    FrictionHiddenFollower.report_id == report.id, FrictionHiddenFollower.reporter.is_(True)
                )
            )
        )
    )
    if not recipients:
        raise UserError(f"I can't reach the reporter of #{report.id} any more: it was anonymous and is now closed.")
    event = record(ctx, report, "replied", note=text, actor_id=ctx.person.id)
    now = ctx.now()
    report.updated_at = now
    if report.first_response_at is None:
        report.first_response_at = now
    await ctx.session.flush()
    msg = Message(
        text=f"{lit(ctx.person.display_name)} from the change team replied about your friction report #{report.id}.",
        blocks=(
            Section(heading=f"About #{report.id}", text=f"*{lit(ctx.person.display_name)}* wrote:", user_text=text),
        ),
    )
    for pid in recipients:
        key = f"friction:{report.id}:ev{event.id}:p{pid}"
        await ctx.notify(key, msg, person_id=pid, kind="friction", private=report.reporter_id is None)
    ctx.audit("friction.reply", "friction_report", report.id)
    return Reply.say(f"Sent to the reporter of #{report.id}.")


# ---------------------------------------------------------------- lists


async def show(ctx: Ctx, number: int) -> Reply:
    seen = await visible(ctx, number)
    report = seen.report
    votes = (await vote_counts(ctx.session, [report.id])).get(report.id, 0)
    buttons = triage_buttons(report) if permissions.allowed("friction.triage", ctx, report) else ()
    return Reply(message=await card(ctx.session, report, taxonomy(ctx.runtime), votes, buttons=buttons))


FILTER_KEYS = {"status", "category", "team", "age", "older", "votes", "sort"}


def parse_filters(text: str) -> dict[str, str]:
    """`triage status:new category:slow team:"Claims Intake" age:3 votes:2 sort:votes` (or key=value)."""
    try:
        parts = shlex.split(text)
    except ValueError:
        raise UserError("I couldn't read those filters; check the quotes.") from None
    out: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.replace("=", ":", 1).partition(":")
        if not sep or key.lower() not in FILTER_KEYS:
            raise UserError(
                f"Unknown filter {lit(part)}. Use status:, category:, team:, age: (days), votes: (at least), "
                "sort: (score, votes, age, impact)."
            )
        out["age" if key.lower() == "older" else key.lower()] = value.strip()
    return out


def score(report: FrictionReport, votes: int, weight: int, now: dt.datetime) -> float:
    """Impact × votes × age: blockers many people share that wait longest come first."""
    return weight * (1 + votes) * (1 + (now - report.created_at).total_seconds() / 86400)


async def triage_list(request: Request, ctx: Ctx) -> Reply:
    """Open reports you may triage (champions: your team), filtered and sorted by impact × votes × age."""
    f = parse_filters(request.text)
    tax = taxonomy(ctx.runtime)
    stmt = select(FrictionReport).where(FrictionReport.rollout_id == ctx.rollout.id)
    status = f.get("status", "open").replace(" ", "_")
    if status == "open":
        stmt = stmt.where(FrictionReport.status.in_(OPEN))
    elif status in STATUS_LABELS or status == "closed":
        stmt = stmt.where(FrictionReport.status.in_(CLOSED) if status == "closed" else FrictionReport.status == status)
    else:
        raise UserError(f"Status is one of: open, closed, {', '.join(STATUS_LABELS)}.")
    if "category" in f:
        cat = next((c.key for c in tax.categories if f["category"].lower() in (c.key, c.label.lower())), None)
        if cat is None:
            raise UserError("Category is one of: " + ", ".join(c.key for c in tax.categories) + ".")
        stmt = stmt.where(FrictionReport.category == cat)
    if ctx.role < Role.change_lead:
        stmt = stmt.where(FrictionReport.team == (ctx.person.team or ""))
    if "team" in f:
        stmt = stmt.where(FrictionReport.team == f["team"])
    now = ctx.now()
    if "age" in f:
        days = f["age"].rstrip("d")
        if not days.isdigit():
            raise UserError("age: takes a number of days, e.g. age:3")
        stmt = stmt.where(FrictionReport.created_at <= now - dt.timedelta(days=int(days)))
    reports = list(await ctx.session.scalars(stmt))
    votes = await vote_counts(ctx.session, [r.id for r in reports])
    if "votes" in f:
        if not f["votes"].isdigit():
            raise UserError("votes: takes a number, e.g. votes:2")
        reports = [r for r in reports if votes.get(r.id, 0) >= int(f["votes"])]
    sort = f.get("sort", "score")
    keys = {
        "score": lambda r: -score(r, votes.get(r.id, 0), tax.weight(r.impact), now),
        "votes": lambda r: (-votes.get(r.id, 0), r.id),
        "age": lambda r: (r.created_at, r.id),
        "impact": lambda r: (-tax.weight(r.impact), r.id),
    }
    if sort not in keys:
        raise UserError("sort: is one of score, votes, age, impact.")
    reports.sort(key=keys[sort])
    scope = "all teams" if ctx.role >= Role.change_lead else f"team {lit(ctx.person.team or 'not set')}"
    if not reports:
        return Reply.say(f"No reports match ({scope}).")
    lines = [summary_line(r, tax, votes.get(r.id, 0), now) for r in reports[:20]]
    more = f"\n…and {len(reports) - 20} more; narrow it with filters." if len(reports) > 20 else ""
    return Reply.say(
        f"{len(reports)} report(s), {scope}, sorted by {sort}. Type `report #N` to act on one.",
        Section(heading="Friction to triage", text="\n".join(lines) + more),
    )


async def my_reports(request: Request, ctx: Ctx) -> Reply:
    """Your reports and the ones you +1'd, with where each stands."""
    reports = await mine(ctx.session, ctx.rollout.id, ctx.person.id)
    if not reports:
        return Reply.say("You haven't reported or +1'd anything yet. Type `report` when something gets in your way.")
    tax = taxonomy(ctx.runtime)
    votes = await vote_counts(ctx.session, [r.id for r in reports])
    lines = [summary_line(r, tax, votes.get(r.id, 0), ctx.now()) for r in reports]
    return Reply.say("Your friction reports and +1s:", Section(heading="My reports", text="\n".join(lines)))
