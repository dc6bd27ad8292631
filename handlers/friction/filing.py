"""Filing friction: the form, one-step `report <text>`, the message shortcut, duplicate suggestions and +1.

Every path ends in `file_report()`, keyed by the form's nonce or the draft's token, so a double-submitted form
or a double-clicked "File it" files one report (unique (rollout, submit_key); the router also dedupes event ids).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.channels import channel_targets
from bot.context import Ctx
from bot.model import (
    Button,
    Fact,
    Form,
    FormField,
    Message,
    Option,
    Reply,
    Request,
    Role,
    Section,
    Select,
    Style,
    UserError,
    lit,
)
from bot.people import people_with_role
from bot.tables import AuditEntry
from handlers.friction.access import get_report, relation, vote_counts
from handlers.friction.aging import first_answer_due
from handlers.friction.duplicates import finder
from handlers.friction.tables import (
    STATUS_LABELS,
    FrictionDraft,
    FrictionEvent,
    FrictionHiddenFollower,
    FrictionReport,
    FrictionVote,
)
from handlers.friction.taxonomy import Taxonomy, taxonomy
from handlers.friction.views import card, excerpt, triage_buttons

log = logging.getLogger("uptake.friction")

MAX_TEXT = 3000
FORM_ID = "friction.file"


# ---------------------------------------------------------------- the form


def workflow_steps(ctx: Ctx) -> list[str]:
    steps = [str(s) for s in (ctx.rollout.config or {}).get("workflow_steps", []) if str(s).strip()]
    return [*steps, "other"]


def report_form(
    ctx: Ctx, values: dict[str, Any] | None = None, *, key: str | None = None, link: str | None = None
) -> Form:
    """The neutral form (Slack modal, Teams card, console prompts); `state` carries the idempotency key."""
    tax = taxonomy(ctx.runtime)
    v = values or {}
    steps = workflow_steps(ctx)
    state = json.dumps({"k": key or secrets.token_hex(12), "l": link}, separators=(",", ":"))
    fields = (
        FormField(
            "step",
            "What were you trying to do?",
            "select",
            options=tuple(Option(s[:75], s[:150]) for s in steps),
            initial=v.get("step") if v.get("step") in steps else None,
        ),
        FormField(
            "what",
            "What happened?",
            "long_text",
            max_length=MAX_TEXT,
            initial=v.get("what") or None,
            hint="Describe what got in your way, in your own words.",
        ),
        FormField("category", "Category", "select", options=tax.options("categories"), initial=v.get("category")),
        FormField("impact", "Impact", "select", options=tax.options("impacts"), initial=v.get("impact")),
        FormField("frequency", "How often?", "select", options=tax.options("frequencies"), initial=v.get("frequency")),
        FormField("team", "Team", "short_text", required=False, max_length=120, initial=v.get("team", ctx.person.team)),
        FormField(
            "share", "Share my name with the change team", "checkbox", required=False, initial=v.get("share", True)
        ),
    )
    return Form(
        FORM_ID,
        "Report friction",
        fields,
        submit_label="Send",
        intro="Tell the change team what blocks you. You'll hear back at every step.",
        state=state,
    )


def parse_state(state: str) -> tuple[str | None, str | None]:
    try:
        data = json.loads(state) if state else {}
    except ValueError:
        return None, None
    key = data.get("k") if isinstance(data, dict) else None
    link = data.get("l") if isinstance(data, dict) else None
    return (str(key)[:64] if key else None), (str(link)[:500] if link else None)


def validate(values: dict[str, Any], tax: Taxonomy, steps: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean values and per-field errors (an empty `errors` means the report may be stored)."""
    errors: dict[str, str] = {}
    what = str(values.get("what") or "").strip()
    if not what:
        errors["what"] = "Please tell us what happened — this can't be empty."
    elif len(what) > MAX_TEXT:
        errors["what"] = f"Please keep it under {MAX_TEXT:,} characters (you wrote {len(what):,})."
    step = str(values.get("step") or "other")
    if step not in steps:
        errors["step"] = "Choose one of the workflow steps, or other."
    clean: dict[str, Any] = {"what": what, "step": step}
    for name, kind, default in (
        ("category", "categories", None),
        ("impact", "impacts", "slows"),
        ("frequency", "frequencies", "sometimes"),
    ):
        value = values.get(name) or default or tax.suggest(what)
        if value not in tax.keys(kind):
            errors[name] = "Choose one of the options."
        clean[name] = value
    team = str(values.get("team") or "").strip()
    if len(team) > 120:
        errors["team"] = "A team name of at most 120 characters, please."
    clean["team"] = team or None
    share = values.get("share", True)
    clean["share"] = share not in (False, "false", "no", "0", 0, None, [])
    return clean, errors


# ---------------------------------------------------------------- entry points


async def open_form(request: Request, ctx: Ctx) -> Reply:
    return Reply.open(report_form(ctx))


async def report_message(request: Request, ctx: Ctx) -> Reply:
    """The "Report friction" message shortcut: a form pre-filled from the message, keeping its link."""
    text = (request.source_text or "").strip()[:MAX_TEXT]
    values = {"what": text, "category": taxonomy(ctx.runtime).suggest(text) if text else None}
    return Reply.open(report_form(ctx, values, link=request.source_link))


async def submit_form(request: Request, ctx: Ctx) -> Reply:
    intent = request.intent
    values: dict[str, Any] = getattr(intent, "values", {})
    key, link = parse_state(getattr(intent, "state", ""))
    tax = taxonomy(ctx.runtime)
    clean, errors = validate(values, tax, workflow_steps(ctx))
    form = report_form(ctx, values, key=key, link=link)
    if errors:
        return Reply.invalid(form, errors)
    key = key or secrets.token_hex(12)
    clean["link"] = link
    existing = await by_key(ctx, key)
    if existing is not None:
        return already_filed(existing)
    similar = await similar_open(ctx, clean["what"])
    if similar:
        await save_draft(ctx, key, clean)
        return await suggest_duplicates(ctx, key, similar)
    return await file_report(ctx, clean, key)


async def one_step(ctx: Ctx, text: str) -> Reply:
    """`report <text>`: suggest a category, show similar reports, and wait for "File it"."""
    if len(text) > MAX_TEXT:
        raise UserError(f"That's more than {MAX_TEXT:,} characters; please shorten it. Nothing was saved.")
    tax = taxonomy(ctx.runtime)
    token = secrets.token_hex(12)
    values = {
        "what": text,
        "step": "other",
        "category": tax.suggest(text),
        "impact": "slows",
        "frequency": "sometimes",
        "team": ctx.person.team,
        "share": True,
        "link": None,
    }
    await save_draft(ctx, token, values)
    similar = await similar_open(ctx, text)
    return Reply(message=await draft_message(ctx, token, values, similar))


async def draft_message(
    ctx: Ctx, token: str, values: dict[str, Any], similar: list[tuple[FrictionReport, float]]
) -> Message:
    tax = taxonomy(ctx.runtime)
    label = tax.label("categories", values["category"])
    blocks: list[Section] = [
        Section(
            text=f"I'd file this as *{label}*. Is that right?",
            user_text=values["what"],
            facts=(Fact("Category", label), Fact("Impact", tax.label("impacts", values["impact"]))),
            buttons=(
                Button("File it", "friction.draft_file", token, Style.primary),
                Button("Open the full form", "friction.draft_form", token),
            ),
        ),
        Section(
            select=Select(
                "Different category?",
                f"friction.draft_category:{token}",
                tax.options("categories"),
                initial=values["category"],
            )
        ),
    ]
    if similar:
        blocks.append(await duplicates_section(ctx, token, similar))
    return Message(text=f"I'd file this as *{label}*. Is that right?", blocks=tuple(blocks))


async def draft_file(request: Request, ctx: Ctx) -> Reply:
    token = request.text
    existing = await by_key(ctx, token)
    if existing is not None:
        return already_filed(existing)
    draft = await own_draft(ctx, token)
    return await file_report(ctx, dict(draft.values), token)


async def draft_category(request: Request, ctx: Ctx) -> Reply:
    token = getattr(request.intent, "action_id", "").partition(":")[2]
    if await by_key(ctx, token) is not None:
        return already_filed(await by_key(ctx, token))  # type: ignore[arg-type]
    draft = await own_draft(ctx, token)
    if request.text not in taxonomy(ctx.runtime).keys("categories"):
        raise UserError("Choose one of the categories in the list.")
    draft.values = {**draft.values, "category": request.text, "category_confirmed": True}
    return Reply(
        message=await draft_message(ctx, token, draft.values, await similar_open(ctx, draft.values["what"])),
        replace=True,
    )


async def draft_form(request: Request, ctx: Ctx) -> Reply:
    draft = await own_draft(ctx, request.text)
    return Reply.open(report_form(ctx, draft.values, key=draft.token, link=draft.values.get("link")))


# ---------------------------------------------------------------- drafts and duplicates


async def by_key(ctx: Ctx, key: str) -> FrictionReport | None:
    return await ctx.session.scalar(
        select(FrictionReport).where(FrictionReport.rollout_id == ctx.rollout.id, FrictionReport.submit_key == key)
    )


def already_filed(report: FrictionReport) -> Reply:
    return Reply.say(
        f"That's already filed as *#{report.id}* ({STATUS_LABELS[report.status]}); I didn't file it twice."
    )


async def own_draft(ctx: Ctx, token: str) -> FrictionDraft:
    draft = await ctx.session.get(FrictionDraft, token)
    if draft is None or draft.person_id != ctx.person.id or draft.rollout_id != ctx.rollout.id:
        raise UserError("That draft has expired. Type `report` followed by what happened to start again.")
    return draft


async def save_draft(ctx: Ctx, token: str, values: dict[str, Any]) -> None:
    draft = await ctx.session.get(FrictionDraft, token)
    if draft is not None:
        draft.values = values
        return
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(
                FrictionDraft(
                    token=token, rollout_id=ctx.rollout.id, person_id=ctx.person.id, values=values, created_at=ctx.now()
                )
            )
    except IntegrityError:
        pass  # the same form submitted twice at once: the other request saved the same draft


async def similar_open(ctx: Ctx, text: str, limit: int = 3) -> list[tuple[FrictionReport, float]]:
    """Open reports in this rollout that read like `text`, most similar first."""
    found = await finder(ctx.runtime.extras).similar(ctx.session, ctx.rollout.id, text, taxonomy(ctx.runtime), limit)
    if not found:
        return []
    rows = await ctx.session.scalars(select(FrictionReport).where(FrictionReport.id.in_([rid for rid, _ in found])))
    by_id = {r.id: r for r in rows}
    return [(by_id[rid], odds) for rid, odds in found if rid in by_id and by_id[rid].is_open]


async def duplicates_section(ctx: Ctx, token: str, similar: list[tuple[FrictionReport, float]]) -> Section:
    tax = taxonomy(ctx.runtime)
    votes = await vote_counts(ctx.session, [r.id for r, _ in similar])
    lines = [
        f"• *#{r.id}* · {tax.label('categories', r.category)} · {votes.get(r.id, 0)} +1 · "
        f"{STATUS_LABELS[r.status]} — {lit(excerpt(r.text, 120))}"
        for r, _ in similar
    ]
    buttons = tuple(Button(f"+1 #{r.id}", "friction.vote", f"{r.id}:{token}") for r, _ in similar)
    return Section(heading="Same problem? +1 it instead", text="\n".join(lines), buttons=buttons)


async def suggest_duplicates(ctx: Ctx, token: str, similar: list[tuple[FrictionReport, float]]) -> Reply:
    section = await duplicates_section(ctx, token, similar)
    anyway = Section(
        text="Or, if yours is different:", buttons=(Button("File mine anyway", "friction.draft_file", token),)
    )
    return Reply.say("Before I file it: people have reported something similar.", section, anyway)


async def vote(request: Request, ctx: Ctx) -> Reply:
    """+1 a report: counts once per person, subscribes them to its updates; never on one's own report."""
    number, _, token = request.text.partition(":")
    if not number.isdigit():
        raise UserError("That +1 button is broken; type `report #N` to see the report instead.")
    report = await get_report(ctx.session, ctx.rollout.id, int(number))
    if report.duplicate_of_id is not None:
        report = await get_report(ctx.session, ctx.rollout.id, report.duplicate_of_id)
    if not report.is_open:
        raise UserError(
            f"#{report.id} is already {STATUS_LABELS[report.status]}; file yours with `report` if it still happens."
        )
    seen = await relation(ctx.session, report, ctx.person.id)
    if seen.mine:
        return Reply.say(f"#{report.id} is your own report — you already get its updates, so no +1 needed.")
    if seen.voted:
        return Reply.say(f"You've already given #{report.id} a +1; you're following it.")
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(FrictionVote(report_id=report.id, person_id=ctx.person.id, at=ctx.now()))
    except IntegrityError:
        return Reply.say(f"You've already given #{report.id} a +1; you're following it.")
    ctx.session.add(FrictionEvent(report_id=report.id, kind="voted", actor_id=ctx.person.id, at=ctx.now()))
    if token:
        await ctx.session.execute(
            delete(FrictionDraft).where(FrictionDraft.token == token, FrictionDraft.person_id == ctx.person.id)
        )
    votes = (await vote_counts(ctx.session, [report.id])).get(report.id, 0)
    return Reply.say(
        f"+1 on *#{report.id}* — it now has {votes} +1. You'll get a message whenever it changes.",
        Section(user_text=excerpt(report.text, 300), facts=(Fact("Status", STATUS_LABELS[report.status]),)),
    )


# ---------------------------------------------------------------- filing


async def file_report(ctx: Ctx, values: dict[str, Any], key: str) -> Reply:
    """Store the report (once per key), post it to the triage channels and confirm to the reporter."""
    anonymous = not values.get("share", True)
    now = ctx.now()
    report = FrictionReport(
        rollout_id=ctx.rollout.id,
        submit_key=key,
        workflow_step=str(values.get("step") or "other")[:200],
        text=values["what"],
        category=values["category"],
        category_confirmed=bool(values.get("category_confirmed")),
        impact=values.get("impact") or "slows",
        frequency=values.get("frequency") or "sometimes",
        team=values.get("team"),
        anonymous=anonymous,
        reporter_id=None if anonymous else ctx.person.id,
        source_link=values.get("link"),
        created_at=now,
        updated_at=now,
    )
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(report)
    except IntegrityError:
        existing = await by_key(ctx, key)
        if existing is None:
            raise
        return already_filed(existing)
    if anonymous:
        ctx.session.add(FrictionHiddenFollower(report_id=report.id, person_id=ctx.person.id, reporter=True))
    ctx.session.add(
        FrictionEvent(
            report_id=report.id, kind="filed", to_status="new", actor_id=None if anonymous else ctx.person.id, at=now
        )
    )
    # The audit trail must not link an anonymous report to its reporter either.
    ctx.session.add(
        AuditEntry(
            rollout_id=ctx.rollout.id,
            actor_id=None if anonymous else ctx.person.id,
            action="friction.filed",
            object_type="friction_report",
            object_id=str(report.id),
            summary="anonymous" if anonymous else "",
            at=now,
        )
    )
    await ctx.session.execute(delete(FrictionDraft).where(FrictionDraft.token == key))
    await post_to_triage(ctx, report)
    log.info("friction report filed id=%s anonymous=%s", report.id, anonymous)
    return await confirmation(ctx, report)


async def post_to_triage(ctx: Ctx, report: FrictionReport) -> None:
    tax = taxonomy(ctx.runtime)
    targets = list(channel_targets(ctx.rollout, "triage", ctx.identity))
    if not targets:
        return
    msg = await card(ctx.session, report, tax, 0, buttons=triage_buttons(report), intro="New friction report")
    for platform, workspace, channel_id in targets:
        await ctx.notify(
            f"friction:{report.id}:triage:{platform}:{channel_id}",
            msg,
            channel=(platform, workspace, channel_id),
            kind="friction_triage",
        )


async def who_looks(ctx: Ctx) -> str:
    leads = await people_with_role(ctx.session, ctx.rollout, Role.change_lead)
    if leads:
        return ", ".join(lit(p.display_name) for p in leads[:3]) + " (change team)"
    return lit(ctx.rollout.owner) if ctx.rollout.owner else "the change team"


async def confirmation(ctx: Ctx, report: FrictionReport) -> Reply:
    due = first_answer_due(report, ctx.rollout)
    tz = ZoneInfo(ctx.person.timezone or ctx.rollout.timezone or "UTC")
    due_text = due.astimezone(tz).strftime("%a %d %b")
    who = await who_looks(ctx)
    facts = (
        Fact("Number", f"#{report.id}"),
        Fact("Who looks at it", who),
        Fact("First answer by", due_text),
        Fact("Your name", "hidden from the change team" if report.anonymous else "shared with the change team"),
    )
    return Reply.say(
        f"Thanks — your report is *#{report.id}*. {who} will look at it; expect a first answer by *{due_text}*. "
        "You'll get a message at every step.",
        Section(facts=facts),
    )
