"""FAQ answers people can trust: match a question to an entry, or abstain honestly and get a person (issue 5).

Everything this capability offers is registered here, in one place. Matching itself (`matcher.py` and the modules
behind it) is pure; the modules beside it hold the conversation (`conversation`, `answers`), asking a person
(`escalation`, `curation`), the learning loop (`learning`), review (`review`), analytics (`stats`), data out
(`export`), the index cache (`index`) and demo data (`demo`).
"""

from __future__ import annotations

from bot.context import Ctx
from bot.model import Block, Context, Reply, Request, Role, Section, UserError, lit
from bot.registry import Capability
from handlers.faq import conversation, curation, demo, escalation, export, learning, review, stats
from handlers.faq.index import load_faq_content

faq = Capability("faq")

faq.content("faq")(load_faq_content)
faq.free_text(conversation.free_text)
faq.command("ask", usage="ask QUESTION", help="Ask a question about the rollout (or just type it)")(
    conversation.ask_command
)

faq.action("faq.show")(conversation.show)
faq.action("faq.helpful")(conversation.helpful)
faq.action("faq.not_helpful")(conversation.not_helpful)
faq.action("faq.escalate")(escalation.escalate)
faq.action("faq.take", role=Role.champion)(escalation.take)
faq.action("faq.answer", role=Role.champion)(escalation.answer_button)
faq.form(escalation.ANSWER_FORM, role=Role.champion)(escalation.answer_submit)
faq.action("faq.add_new", role=Role.champion)(curation.add_new)
faq.action("faq.add_example", role=Role.champion)(curation.add_example)
faq.form(curation.NEW_ENTRY_FORM, role=Role.champion)(curation.new_entry_submit)
faq.action("faq.forget", role=Role.change_lead)(learning.forget_button)

faq.job("faq.escalations", cron="*/30 * * * *")(escalation.resurface)
faq.job("faq.stale", cron="0 9 * * mon")(review.remind_owners)
faq.digest(order=30)(stats.digest_section)
faq.demo(order=40)(demo.seed)

faq_cli = faq.cli("faq", help="FAQ: export what was added in chat; evaluate matching on a questions file.")
faq_cli.command("export")(export.cli_export)
faq_cli.command("eval")(export.cli_eval)

USAGE = "Usage: `faq stale`, `faq stats [DAYS]`, `faq learned [ENTRY]`, `faq forget ID`."


@faq.command("faq", usage="faq stale|stats|learned|forget ID", help="Review and improve the FAQ")
async def faq_command(request: Request, ctx: Ctx) -> Reply:
    sub, _, rest = request.text.strip().partition(" ")
    sub = sub.lower()
    if sub == "stale":
        return await review.stale_command(ctx)
    if sub == "stats":
        return await stats.stats_command(ctx, rest)
    if sub == "learned":
        return await learning.list_learned(ctx, rest.strip())
    if sub == "forget":
        return await learning.forget(ctx, rest)
    raise UserError(USAGE)


@faq.home(order=20)
async def questions_home(ctx: Ctx) -> list[Block]:
    """App Home: how to ask, and the person's questions still waiting for a person."""
    blocks: list[Block] = [
        Section(
            heading="Ask a question",
            text="Send me a message with your question, or type `ask …`. If I don't know, I'll say so and a "
            "person from the rollout team will answer.",
        )
    ]
    waiting = await escalation.open_for(ctx.session, ctx.rollout.id, ctx.person.id)
    if waiting:
        lines = [f"• {lit(text[:120])} — {'taken' if e.status == 'taken' else 'waiting'}" for e, text in waiting]
        blocks.append(Section(heading="Your questions waiting for a person", text="\n".join(lines)))
    if ctx.role >= Role.champion:
        taken = await escalation.taken_by(ctx.session, ctx.rollout.id, ctx.person.id)
        if taken:
            lines = [f"• #{e.id} {lit(text[:120])}" for e, text in taken]
            blocks.append(Section(heading="Questions you took", text="\n".join(lines)))
            blocks.append(Context("Use the Answer button on the question's card to reply."))
    return blocks
