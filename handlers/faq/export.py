"""Data out: what people added in chat, back to the content file format (`uptake faq export`), and `uptake faq
eval` — the evaluation contract of issue 5 on the same decision path as the bot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.tables import Rollout
from handlers.faq.index import added_entry
from handlers.faq.matcher import MATCHERS, FaqEntry
from handlers.faq.tables import FaqAddedEntry, FaqLearnedExample

HEADER = """\
# Uptake FAQ export: entries and examples added in chat ({rollout}).
# New entries can go into content/faq/ as they are. Entries that also exist in a content file carry the file's
# examples plus the ones added in chat: replace the entry in its file with this one.
"""


class _Dumper(yaml.SafeDumper):
    """Multi-line answers as literal blocks, the way people write them by hand."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def entry_dict(entry: FaqEntry, extra_examples: list[str]) -> dict[str, Any]:
    examples = list(entry.examples)
    seen = {e.casefold() for e in examples} | {entry.question.casefold()}
    for text in extra_examples:
        if text.casefold() not in seen:
            seen.add(text.casefold())
            examples.append(text)
    out: dict[str, Any] = {"id": entry.id, "question": entry.question, "examples": examples}
    out["answer"] = entry.answer.rstrip() + "\n" if "\n" in entry.answer.strip() else entry.answer
    if entry.links:
        out["links"] = [{"title": link.title, "url": link.url} for link in entry.links]
    if entry.tags:
        out["tags"] = list(entry.tags)
    if entry.owner:
        out["owner"] = entry.owner
    if entry.reviewed:
        out["reviewed"] = entry.reviewed
    return out


async def export_yaml(
    session: AsyncSession, rollout: Rollout, file_entries: list[FaqEntry], *, learned: bool = False
) -> str:
    """Entries added in chat, and file entries that gained examples from people who answered (or, with
    `learned`, from 👍 too), as one YAML list in the content format."""
    sources = ("expert", "helpful") if learned else ("expert",)
    extra: dict[str, list[str]] = {}
    for entry_id, text in await session.execute(
        select(FaqLearnedExample.entry_id, FaqLearnedExample.text)
        .where(FaqLearnedExample.rollout_id == rollout.id, FaqLearnedExample.source.in_(sources))
        .order_by(FaqLearnedExample.id)
    ):
        extra.setdefault(entry_id, []).append(text)
    by_file = {e.id: e for e in file_entries}
    items = [entry_dict(by_file[i], texts) for i, texts in extra.items() if i in by_file]
    rows = await session.scalars(
        select(FaqAddedEntry).where(FaqAddedEntry.rollout_id == rollout.id).order_by(FaqAddedEntry.id)
    )
    for row in rows:
        if row.slug not in by_file:
            items.append(entry_dict(added_entry(row), extra.get(row.slug, [])))
    body = yaml.dump(items, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120) if items else "[]\n"
    return HEADER.format(rollout=rollout.slug) + body


def cli_export(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout"),
    learned: bool = typer.Option(False, "--learned", help="Also include wordings learned from 👍"),
) -> None:
    """Export FAQ entries and examples added in chat as YAML (the content/faq format)."""
    from bot.cli import export_command

    async def produce(session: Any, rollout: Any, rt: Any) -> str:
        return await export_yaml(session, rollout, list(rt.content.get("faq", []) or []), learned=learned)

    export_command(produce, output)


def cli_eval(
    faq: Path = typer.Option(..., "--faq", help="FAQ YAML file or directory"),
    questions: Path = typer.Option(..., "--questions", help='JSON lines: {"text": …, "expected": id | null}'),
    matcher: str = typer.Option("lexical", "--matcher", help="lexical | semantic | hybrid"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """Score an FAQ on a questions file through the bot's own matching and decision path."""
    from bot.cli import fail
    from bot.config import get_settings
    from bot.content import ContentError
    from handlers.faq.evaluation import evaluate, load_faq
    from handlers.faq.index import thresholds_for

    if matcher not in MATCHERS:
        fail(f"--matcher is one of {', '.join(MATCHERS)}")
    settings = get_settings()
    try:
        thresholds = None
        if settings.faq_answer_threshold is not None or settings.faq_suggest_threshold is not None:
            entries = load_faq(faq)
            thresholds = thresholds_for(
                entries, matcher, settings.faq_model, settings.faq_answer_threshold, settings.faq_suggest_threshold
            )
        result = evaluate(faq, questions, matcher, thresholds)  # type: ignore[arg-type]
    except ContentError as e:
        fail(f"content error: {e}")
        return
    except (OSError, ValueError) as e:
        fail(str(e))
        return
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:>18}  {value}")
