"""Keeping answers true (like Guru's verification): entries past their review interval go to their owners.

An entry's `owner` is a person (name or email) or a role word from the playbook (change-lead, process-owner …);
role words and unknown owners go to the change leads. `UPTAKE_FAQ_REVIEW_DAYS` sets the interval (default 90).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, func, select

from bot.context import Ctx, JobCtx
from bot.model import Context, Message, Reply, Role, Section, lit
from bot.outbox import enqueue
from bot.people import people_with_role
from bot.tables import Person
from handlers.faq.index import FaqIndex, current_index
from handlers.faq.matcher import FaqEntry

LIST_LIMIT = 25


def stale_entries(index: FaqIndex, today: dt.date, days: int) -> list[tuple[FaqEntry, str]]:
    """Entries never reviewed or reviewed more than `days` ago, with why, oldest first."""
    out: list[tuple[FaqEntry, str]] = []
    for entry in index.entries.values():
        if entry.reviewed is None:
            out.append((entry, "no review date"))
        elif (today - entry.reviewed).days > days:
            out.append((entry, f"last reviewed {entry.reviewed.isoformat()}"))
    return sorted(out, key=lambda pair: (pair[0].reviewed is None, pair[0].reviewed or dt.date.min, pair[0].id))


def owned_by(entry: FaqEntry, person: Person) -> bool:
    owner = (entry.owner or "").strip().lower()
    return bool(owner) and owner in {(person.display_name or "").lower(), (person.email or "").lower()}


def _lines(items: list[tuple[FaqEntry, str]]) -> str:
    shown = [
        f"• `{e.id}` — {lit(e.question)} ({why}; owner {lit(e.owner or 'not set')})" for e, why in items[:LIST_LIMIT]
    ]
    if len(items) > LIST_LIMIT:
        shown.append(f"… and {len(items) - LIST_LIMIT} more")
    return "\n".join(shown)


async def stale_command(ctx: Ctx) -> Reply:
    """`faq stale`: change leads see every entry due for review; others see the ones they own."""
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    days = int(ctx.settings.faq_review_days)
    items = stale_entries(index, ctx.now().date(), days)
    if ctx.role < Role.change_lead:
        items = [(e, why) for e, why in items if owned_by(e, ctx.person)]
    if not items:
        return Reply.say(
            f"Nothing to review: every FAQ entry {'you own ' if ctx.role < Role.change_lead else ''}"
            f"was reviewed in the last {days} days."
        )
    return Reply.say(
        f"{len(items)} FAQ entries are due for review (interval {days} days).",
        Section(heading="Due for review", text=_lines(items)),
        Context(
            "Check each answer is still true, then update `reviewed: YYYY-MM-DD` in its file and `content reload`."
        ),
    )


async def remind_owners(ctx: JobCtx) -> None:
    """`faq.stale` (weekly): each owner gets their entries due for review; unmatched owners go to change leads."""
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    items = stale_entries(index, ctx.now().date(), int(ctx.runtime.settings.faq_review_days))
    if not items:
        return
    names = {e.owner.strip().lower() for e, _ in items if e.owner}
    people = (
        list(
            await ctx.session.scalars(
                select(Person).where(or_lower(Person.display_name, names) | or_lower(Person.email, names))
            )
        )
        if names
        else []
    )
    leads = await people_with_role(ctx.session, ctx.rollout, Role.change_lead)
    by_person: dict[int, list[tuple[FaqEntry, str]]] = defaultdict(list)
    for entry, why in items:
        owners = [p for p in people if owned_by(entry, p)] or leads
        for p in owners:
            by_person[p.id].append((entry, why))
    week = ctx.now().strftime("%G-W%V")
    for person_id, mine in by_person.items():
        msg = Message(
            text=f"{len(mine)} FAQ entries you look after are due for review.",
            blocks=(
                Section(heading="FAQ entries due for review", text=_lines(mine)),
                Context("Type `faq stale` for the list any time."),
            ),
        )
        await enqueue(
            ctx.session,
            key=f"faq:stale:{week}:p{person_id}",
            message=msg,
            rollout_id=ctx.rollout.id,
            person_id=person_id,
            kind="faq_review",
            not_before=ctx.now(),
        )


def or_lower(column: Any, names: set[str]) -> ColumnElement[bool]:
    return func.lower(column).in_(sorted(names))
