"""Broadcasts: four-part announcements with approval, receipts and acknowledgements; the weekly update and the
monthly review; wins and tips; message settings. Everything this capability registers is listed here.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Ctx
from bot.digest import DigestSection, Period
from bot.model import Reply, Request, Role
from bot.outbox import message_kind
from bot.registry import Capability
from bot.runtime import Runtime
from bot.tables import OutboxMessage, Rollout
from handlers.broadcasts import compose, preferences, receipts, updates, workflow
from handlers.broadcasts.tables import Broadcast, BroadcastAck, LearningExample, RolloutUpdate, WorkflowChange

__all__ = ["Broadcast", "BroadcastAck", "LearningExample", "RolloutUpdate", "WorkflowChange", "broadcasts"]

broadcasts = Capability("broadcasts")

message_kind(compose.KIND, "Broadcasts from the change team")
message_kind(receipts.REMINDER_KIND, "Reminders to acknowledge a broadcast")
message_kind("broadcast_report", "Delivery reports of broadcasts you sent")

lead = Role.change_lead

# --- composing (change leads only; the router audits denials)
broadcasts.command("broadcast", help="Write a broadcast (Why / What's changing / Boundaries / Support)", role=lead)(
    compose.open_form
)
broadcasts.form(compose.FORM_ID, role=lead)(compose.submit)
broadcasts.action("broadcasts.new", role=lead)(compose.open_form)
broadcasts.action("broadcasts.edit", role=lead)(compose.edit)
broadcasts.action("broadcasts.cancel", role=lead)(compose.cancel)
broadcasts.action("broadcasts.approve", role=lead)(compose.approve)
broadcasts.action("broadcasts.reject", role=lead)(compose.reject)


async def _send_now(request: Request, ctx: Ctx) -> Reply:
    return await compose.go(request, ctx, now=True)


async def _schedule(request: Request, ctx: Ctx) -> Reply:
    return await compose.go(request, ctx, now=False)


broadcasts.action("broadcasts.send", role=lead)(_send_now)
broadcasts.action("broadcasts.schedule", role=lead)(_schedule)

# --- after sending
broadcasts.command("broadcasts", help="Drafts, scheduled and sent broadcasts with delivery figures", role=lead)(
    receipts.list_broadcasts
)
broadcasts.action("broadcasts.progress", role=lead)(receipts.progress)
broadcasts.action("broadcasts.ack")(receipts.acknowledge)
broadcasts.job("broadcasts.follow_up", cron="*/10 * * * *", grace_seconds=1800)(receipts.follow_up)

# --- weekly update and monthly review
broadcasts.job("broadcasts.weekly_update", cron="0 9 * * mon", grace_seconds=6 * 3600)(updates.weekly_job)
broadcasts.job("broadcasts.monthly_review", cron="0 9 1-3 * mon-fri", grace_seconds=6 * 3600)(updates.monthly_job)
broadcasts.command("updates", help="Past weekly updates and monthly reviews", usage="updates [draft weekly|monthly]")(
    updates.list_updates
)
broadcasts.action("broadcasts.update_read")(updates.read_update)
broadcasts.action("broadcasts.update_send", role=lead)(updates.approve_update)
broadcasts.action("broadcasts.update_skip", role=lead)(updates.skip_update)
broadcasts.action("broadcasts.update_edit", role=lead)(updates.edit_update)
broadcasts.form(updates.EDIT_FORM, role=lead)(updates.save_update)
broadcasts.content("broadcasts.templates")(updates.load_templates)

# --- workflow changes (change leads), listed under "What changed" in the next weekly update
broadcasts.command(
    "workflow",
    help="Note a workflow change for the next weekly update",
    usage="workflow change TEXT | workflow changes",
    role=lead,
)(workflow.command)
broadcasts.form(workflow.FORM_ID, role=lead)(workflow.submitted)
broadcasts.action("broadcasts.workflow_new", role=lead)(workflow.open_form)
broadcasts.action("broadcasts.workflow_edit", role=lead)(workflow.edit)
broadcasts.action("broadcasts.workflow_remove", role=lead)(workflow.remove)
broadcasts.digest(order=5)(workflow.section)

# --- wins and tips (everyone), the weekly "one learning example"
broadcasts.command("win", help="Share a win with the assistant", usage="win TEXT")(updates.win)
broadcasts.command("tip", help="Share a tip for using the assistant", usage="tip TEXT")(updates.tip)
broadcasts.form(updates.SHARE_FORM)(updates.share_submitted)
broadcasts.digest(order=50)(updates.learning_section)

# --- message settings (everyone)
broadcasts.command("settings", help="Choose which kinds of messages you receive", usage="settings")(
    preferences.settings
)
broadcasts.form(preferences.FORM_ID)(preferences.settings_saved)


@broadcasts.digest(order=90)
async def broadcasts_section(
    session: AsyncSession, rollout: Rollout, period: Period, rt: Runtime
) -> DigestSection | None:
    """Digest provider: broadcasts delivered in the period."""
    sent = await session.scalar(
        select(func.count()).where(
            OutboxMessage.rollout_id == rollout.id,
            OutboxMessage.kind == compose.KIND,
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at >= period.start,
            OutboxMessage.sent_at < period.end,
        )
    )
    if not sent:
        return None
    from bot.model import Fact

    return DigestSection(title="Broadcasts", kind="progress", facts=[Fact("Broadcast messages delivered", str(sent))])
