"""Friction reports: people report what blocks adoption, change leads triage it and close the loop.

Everything this capability offers is registered here, in one place; the modules beside it hold the logic
(filing, triage, lifecycle, aging, metrics, export, demo) and never touch the registry themselves.
"""

from __future__ import annotations

import re

from bot.context import Ctx
from bot.model import Block, Button, Context, Reply, Request, Role, Section, Style
from bot.registry import Capability
from handlers.friction import aging, demo, export, filing, metrics, triage
from handlers.friction.access import mine, vote_counts
from handlers.friction.taxonomy import load_taxonomy, taxonomy
from handlers.friction.views import summary_line

friction = Capability("friction")

EXPORT = re.compile(r"^export(?:\s+(csv|json))?$", re.IGNORECASE)
SHOW = re.compile(r"^#?(\d{1,9})$")


@friction.command(
    "report", aliases=("friction",), usage="report [what happened]", help="Report something that blocks you"
)
async def report(request: Request, ctx: Ctx) -> Reply:
    """`report` opens the form; `report <text>` files in one step; `report #12` shows one; `friction export`."""
    text = request.text.strip()
    if m := EXPORT.match(text):
        return await export.export_in_chat(ctx, (m.group(1) or "csv").lower())
    if m := SHOW.match(text):
        return await triage.show(ctx, int(m.group(1)))
    if not text:
        return Reply.open(filing.report_form(ctx))
    return await filing.one_step(ctx, text)


friction.command("reports", help="Your friction reports and the ones you +1'd")(triage.my_reports)
friction.command(
    "triage", usage="triage [status:new] [category:slow] [team:NAME] [age:DAYS] [votes:N] [sort:score]",
    help="Open friction reports, sorted by impact × votes × age", role=Role.champion,
)(triage.triage_list)  # fmt: skip

friction.form(filing.FORM_ID)(filing.submit_form)
friction.shortcut("friction.report_message", "Report friction")(filing.report_message)
friction.action("friction.new")(filing.open_form)
friction.action("friction.draft_file")(filing.draft_file)
friction.action("friction.draft_form")(filing.draft_form)
friction.action("friction.draft_category")(filing.draft_category)
friction.action("friction.vote")(filing.vote)
friction.action("friction.fixed")(triage.fixed)

friction.action("friction.take")(triage.take)
friction.action("friction.assign")(triage.assign_button)
friction.action("friction.status")(triage.status_button)
friction.action("friction.duplicate")(triage.duplicate_button)
friction.action("friction.reply")(triage.reply_button)
friction.form("friction.assign")(triage.assign_submit)
friction.form("friction.set_status")(triage.status_submit)
friction.form("friction.mark_duplicate")(triage.duplicate_submit)
friction.form("friction.reply")(triage.reply_submit)

friction.job("friction.aging", cron="0 9 * * mon-fri")(aging.flag_aging)
friction.digest(order=40)(metrics.friction_progress)
friction.digest(order=20)(metrics.friction_changes)
friction.demo(order=50)(demo.seed_reports)
friction.content("friction")(load_taxonomy)
friction.cli("friction", help="Friction reports: export them as CSV or JSON.").command("export")(export.cli_export)


@friction.home(order=30)
async def my_reports_home(ctx: Ctx) -> list[Block]:
    """App Home "My reports": where each of your reports (and +1s) stands, and a button to file one."""
    reports = await mine(ctx.session, ctx.rollout.id, ctx.person.id, limit=5)
    tax = taxonomy(ctx.runtime)
    votes = await vote_counts(ctx.session, [r.id for r in reports])
    lines = [summary_line(r, tax, votes.get(r.id, 0), ctx.now()) for r in reports]
    new = Button("Report friction", "friction.new", style=Style.primary)
    blocks: list[Block] = [
        Section(heading="My reports", text="\n".join(lines) or "Nothing reported yet.", buttons=(new,))
    ]
    if reports:
        blocks.append(Context("Type `reports` for the full list, `report #N` for one."))
    return blocks
