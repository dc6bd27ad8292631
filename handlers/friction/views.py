"""How friction reports look: the triage card, one-line summaries and the "You said … — we did …" updates.

Report text is person-provided, so it goes into `Section.user_text` or through `lit()`; an anonymous report's
card says "anonymous" and nothing else about who filed it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import Button, Context, Fact, Message, Section, Style, lit
from bot.tables import Person
from handlers.friction.tables import STATUS_LABELS, FrictionReport
from handlers.friction.taxonomy import Taxonomy


def excerpt(text: str, limit: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def stamp(report: FrictionReport) -> str:
    """What a triage button carries: the report and the version the triager saw (optimistic check)."""
    return f"{report.id}:{report.version}"


def parse_stamp(value: str) -> tuple[int, int | None]:
    head, _, version = value.partition(":")
    if not head.strip().lstrip("#").isdigit():
        raise ValueError(value)
    return int(head.strip().lstrip("#")), int(version) if version.isdigit() else None


async def name_of(session: AsyncSession, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    person = await session.get(Person, person_id)
    return person.display_name if person else None


def triage_buttons(report: FrictionReport) -> tuple[Button, ...]:
    value = stamp(report)
    buttons = [
        Button("Take it", "friction.take", value, Style.primary),
        Button("Assign…", "friction.assign", value),
        Button("Set status…", "friction.status", value),
        Button("Mark duplicate…", "friction.duplicate", value),
        Button("Reply to reporter", "friction.reply", value),
    ]
    if not report.is_open:
        buttons = [b for b in buttons if b.action_id in ("friction.status", "friction.reply")]
    return tuple(buttons)


async def card(
    session: AsyncSession,
    report: FrictionReport,
    tax: Taxonomy,
    votes: int,
    *,
    buttons: tuple[Button, ...] = (),
    intro: str | None = None,
) -> Message:
    """The report as triagers see it (channel post, `report #N`, the reply after a triage action)."""
    owner = await name_of(session, report.owner_id)
    reporter = "anonymous" if report.anonymous else lit(await name_of(session, report.reporter_id) or "unknown")
    facts = [
        Fact(
            "Status",
            STATUS_LABELS[report.status] + (f" (of #{report.duplicate_of_id})" if report.duplicate_of_id else ""),
        ),
        Fact(
            "Category", tax.label("categories", report.category) + ("" if report.category_confirmed else " (suggested)")
        ),
        Fact("Impact", tax.label("impacts", report.impact)),
        Fact("How often", tax.label("frequencies", report.frequency)),
        Fact("Workflow step", lit(report.workflow_step)),
        Fact("Team", lit(report.team or "—")),
        Fact("Reported by", reporter),
        Fact("Owner", lit(owner) if owner else "nobody yet"),
        Fact("+1s", str(votes)),
    ]
    blocks: list[Section | Context] = [
        Section(
            heading=f"#{report.id} · {tax.label('categories', report.category)}",
            text=intro or "",
            user_text=report.text,
            facts=tuple(facts),
            buttons=buttons,
        )
    ]
    if report.resolution:
        label = "What we changed" if report.status == "resolved" else "Why"
        blocks.append(Section(heading=label, user_text=report.resolution))
    if report.source_link:
        blocks.append(Context(f"From message: {lit(report.source_link)}"))
    blocks.append(Context(f"Filed {report.created_at:%Y-%m-%d %H:%M} UTC · version {report.version}"))
    return Message(text=f"Friction report #{report.id}: {lit(excerpt(report.text, 80))}", blocks=tuple(blocks))


def summary_line(report: FrictionReport, tax: Taxonomy, votes: int, now: dt.datetime) -> str:
    age = (now - report.created_at).days
    return (
        f"• *#{report.id}* · {tax.label('categories', report.category)} · {tax.label('impacts', report.impact)} · "
        f"{votes} +1 · {age}d · {STATUS_LABELS[report.status]} — {lit(excerpt(report.text, 90))}"
    )


WE_DID = {
    "triaged": "{owner} has picked it up and will look into it.",
    "in_progress": "we're working on it now ({owner} owns it).",
    "resolved": "we changed this:",
    "wont_fix": "we decided not to change this, and here is why:",
    "duplicate": "it's the same problem as #{dup}, so we merged them; you now get the updates of #{dup}.",
    "reopened": "it's open again, because someone told us it isn't fixed yet.",
    "assigned": "{owner} now owns it.",
}


def update_message(
    report: FrictionReport,
    kind: str,
    *,
    owner: str | None,
    note: str | None = None,
    buttons: tuple[Button, ...] = (),
) -> Message:
    """ "You said … — we did …": one update to the reporter or a +1, in the product's words."""
    did = WE_DID[kind].format(owner=lit(owner) if owner else "The change team", dup=report.duplicate_of_id)
    text = f"Update on friction report #{report.id}. You said: “{lit(excerpt(report.text))}” — {did}"
    blocks: list[Section | Context] = [
        Section(
            heading=f"#{report.id}: {STATUS_LABELS[report.status]}",
            text="*You said*",
            user_text=excerpt(report.text, 300),
        ),
        Section(text=f"*What we did:* {did}", user_text=note),
    ]
    if buttons:
        blocks.append(Section(text="Is it fixed for you?", buttons=buttons))
    blocks.append(Context("You get this because you reported it or gave it a +1."))
    return Message(text=text, blocks=tuple(blocks))
