"""Add to FAQ: a person's answer becomes a new entry, or the question becomes another way to ask an existing one.

Both are stored in the database and active on the next question (the index follows the database stamp). Only the
person who answered, or a change lead, may do it; each escalation adds to the FAQ once.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.context import Ctx
from bot.model import (
    Actions,
    Button,
    Context,
    Form,
    FormField,
    Option,
    Reply,
    Request,
    Role,
    Section,
    Select,
    Style,
    Submission,
    UserError,
    lit,
)
from bot.permissions import ensure, rule
from handlers.faq import learning
from handlers.faq.index import current_index
from handlers.faq.tables import FaqAddedEntry, FaqEscalation, FaqQuestion

NEW_ENTRY_FORM = "faq.new_entry"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
MAX_OPTIONS = 25


@rule("faq.curate")
def may_curate(ctx: Ctx, esc: FaqEscalation) -> bool:
    """The person who answered, or a change lead."""
    return ctx.role >= Role.change_lead or (esc.responder_id is not None and esc.responder_id == ctx.person.id)


def slug_for(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    stop = {"the", "a", "an", "i", "do", "does", "is", "are", "to", "my", "of", "can", "how", "what", "when", "who"}
    kept = [w for w in words if w not in stop][:6] or words[:6] or ["question"]
    return "-".join(kept)[:60].strip("-") or "question"


async def add_to_faq_offer(ctx: Ctx, esc: FaqEscalation, question: FaqQuestion, lead: str) -> Reply:
    """After answering: "Add to FAQ" as a new entry, or the question as an example of an entry (closest first)."""
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    ranked = [m.entry_id for m in index.rank(question.text, 10)]
    rest = sorted((e for e in index.entries if e not in ranked), key=lambda e: index.entries[e].question.lower())
    options = tuple(
        Option(label=_clip(index.entries[e].question), value=e, description=e) for e in [*ranked, *rest][:MAX_OPTIONS]
    )
    blocks: list[Section | Context | Actions] = [
        Section(
            text="Add it to the FAQ so Uptake can answer the next person who asks?",
            buttons=(Button("Add to FAQ as a new entry", "faq.add_new", str(esc.id), style=Style.primary),),
        )
    ]
    if options:
        blocks.append(
            Actions(
                select=Select(
                    "…or as another way to ask an existing entry",
                    f"faq.add_example:{esc.id}",
                    options,
                    placeholder="Add as an example of…",
                )
            )
        )
    blocks.append(Context("Nothing is added unless you choose."))
    return Reply.say(lead, *blocks)


def _clip(text: str, limit: int = 75) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _curatable(ctx: Ctx, value: str) -> tuple[FaqEscalation, FaqQuestion]:
    esc = await ctx.session.get(FaqEscalation, int(value)) if value.strip().isdigit() else None
    if esc is None or esc.rollout_id != ctx.rollout.id or esc.status != "answered":
        raise UserError("Only an answered question can be added to the FAQ.")
    ensure("faq.curate", ctx, esc, what="add this answer to the FAQ", needed=Role.change_lead)
    return esc, await ctx.session.get_one(FaqQuestion, esc.question_id)


def _added_already(esc: FaqEscalation) -> Reply:
    return Reply.say(f"This question is in the FAQ already (entry `{lit(esc.added_entry_id)}`).")


def new_entry_form(esc: FaqEscalation, question: FaqQuestion, values: dict[str, str] | None = None) -> Form:
    v = values or {}
    return Form(
        form_id=NEW_ENTRY_FORM,
        title="Add to the FAQ",
        intro="Active as soon as you save it. Keep the answer true for everyone, not just this asker.",
        fields=(
            FormField(
                "id",
                "Short id",
                initial=v.get("id", slug_for(question.text)),
                max_length=80,
                hint="Lowercase words and dashes, unique across the FAQ.",
            ),
            FormField("question", "Question", initial=v.get("question", question.text), max_length=300),
            FormField("answer", "Answer", "long_text", initial=v.get("answer", esc.answer or ""), max_length=3000),
            FormField(
                "examples",
                "Other ways people ask it",
                "long_text",
                required=False,
                initial=v.get("examples", ""),
                hint="One per line.",
                max_length=2000,
            ),
            FormField("tags", "Tags", required=False, initial=v.get("tags", ""), hint="Comma-separated."),
        ),
        submit_label="Add",
        state=str(esc.id),
    )


async def add_new(request: Request, ctx: Ctx) -> Reply:
    esc, question = await _curatable(ctx, request.text)
    if esc.added_entry_id:
        return _added_already(esc)
    return Reply.open(new_entry_form(esc, question))


async def new_entry_submit(request: Request, ctx: Ctx) -> Reply:
    assert isinstance(request.intent, Submission)
    esc, question = await _curatable(ctx, request.intent.state)
    if esc.added_entry_id:
        return _added_already(esc)
    values = {k: str(v or "").strip() for k, v in request.intent.values.items()}
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    errors: dict[str, str] = {}
    slug = values.get("id", "").lower()
    if not SLUG.match(slug):
        errors["id"] = "Use 2–80 lowercase letters, digits and dashes, e.g. `expense-approval`."
    elif slug in index.entries:
        errors["id"] = f"`{slug}` is taken; choose another id."
    if not values.get("question"):
        errors["question"] = "Write the question as people would ask it."
    if not values.get("answer"):
        errors["answer"] = "Write the answer."
    examples = [line.strip(" •-\t") for line in values.get("examples", "").splitlines() if line.strip(" •-\t")]
    asked = question.text.strip()
    if asked and asked.lower() != values.get("question", "").lower() and asked not in examples:
        examples.insert(0, asked)
    if not examples and "question" not in errors:
        errors["examples"] = "Add at least one other way to ask it."
    form = new_entry_form(esc, question, values)
    if errors:
        return Reply.invalid(form, errors)
    tags = [t.strip() for t in values.get("tags", "").split(",") if t.strip()]
    row = FaqAddedEntry(
        rollout_id=ctx.rollout.id,
        slug=slug,
        question=values["question"],
        answer=values["answer"],
        examples=examples[:50],
        tags=tags[:10],
        owner=ctx.person.display_name,
        escalation_id=esc.id,
        created_by=ctx.person.id,
        created_at=ctx.now(),
        reviewed=ctx.now().date(),
    )
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(row)
    except IntegrityError:  # the same escalation added twice at once, or the id taken meanwhile
        await ctx.session.refresh(esc)
        if esc.added_entry_id:
            return _added_already(esc)
        return Reply.invalid(form, {"id": f"`{slug}` is taken; choose another id."})
    esc.added_entry_id = slug
    ctx.audit("faq.add_entry", "faq_entry", slug, f"from escalation {esc.id}")
    return Reply.say(
        f"Added `{slug}` to the FAQ — it's active now. `uptake faq export` writes it to the YAML format.",
        Section(heading=lit(values["question"]), user_text=values["answer"]),
    )


async def add_example(request: Request, ctx: Ctx) -> Reply:
    """The select `faq.add_example:ESC` with an entry id: the asker's wording becomes an example of that entry."""
    from bot.model import Action

    assert isinstance(request.intent, Action)
    esc_id = request.intent.action_id.split(":", 1)[1] if ":" in request.intent.action_id else ""
    esc, question = await _curatable(ctx, esc_id)
    if esc.added_entry_id:
        return _added_already(esc)
    entry_id = request.intent.value
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    entry = index.entries.get(entry_id)
    if entry is None:
        return Reply.say("That FAQ entry is no longer there; pick another one.")
    added = await learning.learn(ctx, entry, question, source="expert")
    esc.added_entry_id = entry_id
    ctx.audit("faq.add_example", "faq_entry", entry_id, f"from escalation {esc.id}")
    note = "" if added else " (it already knew this wording)"
    return Reply.say(f"Added as another way to ask `{lit(entry_id)}`{note}. It's active now.")


async def added_entries(ctx: Ctx) -> list[FaqAddedEntry]:
    rows = await ctx.session.scalars(select(FaqAddedEntry).where(FaqAddedEntry.rollout_id == ctx.rollout.id))
    return list(rows)
