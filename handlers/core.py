"""Core commands every rollout has: who am I, roles, content reload."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import delete

from bot.content import ContentError
from bot.context import Ctx, JobCtx
from bot.model import Fact, Reply, Request, Role, Section, UserError, lit
from bot.outbox import scrub_private
from bot.people import find_person, role_of, set_role
from bot.registry import Capability
from bot.tables import ProcessedEvent

core = Capability("core")


@core.command("whoami", aliases=("me",), help="Show who I think you are and your role")
async def whoami(request: Request, ctx: Ctx) -> Reply:
    p = ctx.person
    facts = (
        Fact("Name", lit(p.display_name)),
        Fact("Team", lit(p.team or "not set")),
        Fact("Role", ctx.role.label),
        Fact("Rollout", lit(ctx.rollout.name)),
        Fact("Timezone", p.timezone or ctx.rollout.timezone),
    )
    return Reply.say(
        f"You are {lit(p.display_name)}, {ctx.role.label} in {lit(ctx.rollout.name)}.",
        Section(heading="Your profile", facts=facts),
    )


def _parse_grant(args: str) -> tuple[str, Role]:
    parts = args.rsplit(" ", 1)
    if len(parts) != 2 or not parts[0].strip():
        raise UserError(
            "Usage: `grant PERSON ROLE`, e.g. `grant Ana Silva champion`. "
            "Roles: employee, champion, change-lead, admin."
        )
    try:
        return parts[0].strip(), Role.parse(parts[1])
    except ValueError as e:
        raise UserError(str(e)) from None


@core.command("grant", help="Give a person a role in this rollout", usage="grant PERSON ROLE", role=Role.admin)
async def grant(request: Request, ctx: Ctx) -> Reply:
    who, role = _parse_grant(request.text)
    if role > ctx.role:
        raise UserError(f"You can't grant {role.label}, which is above your own role.")
    person = await find_person(ctx.session, who)
    before = await set_role(ctx.session, ctx.rollout, person, role)
    ctx.audit("role.grant", "person", person.id, f"{before.label} -> {role.label}")
    return Reply.say(f"{lit(person.display_name)} is now {role.label} in {lit(ctx.rollout.name)} (was {before.label}).")


@core.command(
    "revoke",
    help="Take a role back (the person becomes an employee)",
    usage="revoke PERSON ROLE",
    role=Role.admin,
)
async def revoke(request: Request, ctx: Ctx) -> Reply:
    who, role = _parse_grant(request.text)
    person = await find_person(ctx.session, who)
    current = await role_of(ctx.session, person, None, ctx.rollout, set())
    if current != role:
        raise UserError(f"{lit(person.display_name)} is {current.label}, not {role.label}; nothing changed.")
    await set_role(ctx.session, ctx.rollout, person, Role.employee)
    ctx.audit("role.revoke", "person", person.id, f"{role.label} -> employee")
    return Reply.say(f"{lit(person.display_name)} is no longer {role.label}.")


@core.command("content", help="Reload content files without a restart", usage="content reload", role=Role.change_lead)
async def content(request: Request, ctx: Ctx) -> Reply:
    if request.text.strip().lower() not in ("reload", "check"):
        raise UserError("Usage: `content reload` (reloads FAQ, surveys and templates from the content folder).")
    rt = ctx.runtime
    try:
        await asyncio.to_thread(rt.load_content)
    except ContentError as e:
        ctx.audit("content.reload_failed", "content", "", str(e)[:200])
        return Reply.say(f"I kept the current content: a file has an error.\n`{lit(str(e))}`")
    ctx.audit("content.reload", "content", str(rt.content.version))
    return Reply.say(f"Content reloaded (version {rt.content.version}).")


@core.job("core.scrub_private_outbox", cron="*/15 * * * *", grace_seconds=900)
async def scrub_private_outbox(ctx: JobCtx) -> None:
    """Private messages (to anonymous reporters) keep their recipient only until they have been delivered."""
    await scrub_private(ctx.session, ctx.rollout.id)


@core.job("core.purge_processed_events", cron="17 3 * * *")
async def purge_processed_events(ctx: JobCtx) -> None:
    """Idempotency keys only matter while a platform may still retry (Slack: minutes); keep a week, then drop."""
    cutoff = ctx.now() - dt.timedelta(days=7)
    await ctx.session.execute(delete(ProcessedEvent).where(ProcessedEvent.at < cutoff))
