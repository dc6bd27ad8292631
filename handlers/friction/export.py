"""Data out: every report of a rollout as CSV or JSON, in chat for change leads and on the command line.

Anonymous reports carry no identity at all (the reporter column says "anonymous"). In chat the export comes
back as text split into message-sized parts; past ~30,000 characters it is written to the data directory and
the reply names the file (use `uptake friction export` for large exports).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Ctx
from bot.model import Message, Reply, Role, Section, UserError
from bot.tables import Person, Rollout
from handlers.friction.access import vote_counts
from handlers.friction.tables import STATUS_LABELS, FrictionReport
from handlers.friction.taxonomy import Taxonomy

COLUMNS = (
    "number", "created_at", "status", "category", "impact", "frequency", "workflow_step", "team", "reporter",
    "owner", "votes", "text", "resolution", "duplicate_of", "source_link", "first_response_at", "closed_at",
)  # fmt: skip
CHAT_LIMIT = 30_000
PART = 2_800


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


async def export_rows(session: AsyncSession, rollout: Rollout, tax: Taxonomy) -> list[dict[str, Any]]:
    reports = list(
        await session.scalars(
            select(FrictionReport).where(FrictionReport.rollout_id == rollout.id).order_by(FrictionReport.id)
        )
    )
    votes = await vote_counts(session, [r.id for r in reports])
    ids = {r.reporter_id for r in reports if r.reporter_id and not r.anonymous} | {r.owner_id for r in reports}
    names = {p.id: p.display_name for p in await session.scalars(select(Person).where(Person.id.in_(ids - {None})))}
    return [
        {
            "number": r.id,
            "created_at": _iso(r.created_at),
            "status": STATUS_LABELS[r.status],
            "category": tax.label("categories", r.category),
            "impact": tax.label("impacts", r.impact),
            "frequency": tax.label("frequencies", r.frequency),
            "workflow_step": r.workflow_step,
            "team": r.team or "",
            "reporter": "anonymous" if r.anonymous else names.get(r.reporter_id or 0, ""),
            "owner": names.get(r.owner_id or 0, ""),
            "votes": votes.get(r.id, 0),
            "text": r.text,
            "resolution": r.resolution or "",
            "duplicate_of": r.duplicate_of_id or "",
            "source_link": r.source_link or "",
            "first_response_at": _iso(r.first_response_at),
            "closed_at": _iso(r.closed_at),
        }
        for r in reports
    ]


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def parts(text: str, size: int = PART) -> list[str]:
    """Split on line ends into pieces of at most `size` characters (a longer single line is cut)."""
    out: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > size:
            if current:
                out.append(current)
                current = ""
            out.append(line[:size])
            line = line[size:]
        if len(current) + len(line) > size:
            out.append(current)
            current = ""
        current += line
    if current:
        out.append(current)
    return out


async def export_in_chat(ctx: Ctx, fmt: str) -> Reply:
    ctx.require(Role.change_lead, "export friction reports")
    if fmt not in ("csv", "json"):
        raise UserError("Usage: `friction export csv` or `friction export json`.")
    from handlers.friction.taxonomy import taxonomy

    rows = await export_rows(ctx.session, ctx.rollout, taxonomy(ctx.runtime))
    text = render(rows, fmt)
    ctx.audit("friction.export", "friction_report", "", f"{fmt}, {len(rows)} rows")
    if len(text) > CHAT_LIMIT:
        folder = Path(ctx.settings.data_dir) / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"friction-{ctx.rollout.slug}-{ctx.now():%Y%m%d-%H%M%S}.{fmt}"
        path.write_text(text, encoding="utf-8")
        return Reply.say(
            f"{len(rows)} reports is too much for chat; I wrote the {fmt.upper()} to `{path}` on the Uptake server. "
            f"`uptake friction export --format {fmt}` does the same from a terminal."
        )
    chunks = parts(text)
    follow = tuple(
        Message(text=f"friction-export.{fmt} part {i}/{len(chunks)}", blocks=(Section(user_text=c),))
        for i, c in enumerate(chunks, 1)
    )
    return Reply(
        message=Message(text=f"{len(rows)} friction reports as {fmt.upper()} (anonymous reports without identity):"),
        follow_ups=follow,
    )


def cli_export(
    format: str = typer.Option("csv", "--format", "-f", help="csv or json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout"),
) -> None:
    """Export the default rollout's friction reports (CSV or JSON) to stdout or a file."""
    from bot.cli import export_command, fail
    from handlers.friction.taxonomy import taxonomy

    if format not in ("csv", "json"):
        fail("--format is csv or json")

    async def produce(session: Any, rollout: Any, rt: Any) -> str:
        return render(await export_rows(session, rollout, taxonomy(rt)), format)

    export_command(produce, output)
