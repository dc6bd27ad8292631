"""FAQ analytics for change leads (`faq stats`, the digest section): what people ask, what Uptake answers, what
helps, what needs a person and how fast, which topics Uptake cannot answer yet, and entries nobody needs."""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Ctx
from bot.digest import DigestSection, Period
from bot.model import Context, Fact, Reply, Role, Section, UserError, lit
from bot.tables import Rollout
from handlers.faq.index import current_index
from handlers.faq.matcher import normalise_question
from handlers.faq.tables import FaqAddedEntry, FaqEscalation, FaqLearnedExample, FaqQuestion

TOPIC_SIMILARITY = 0.25
TOP_TOPICS = 5


@dataclass
class Topic:
    label: str
    count: int


@dataclass
class Figures:
    asked: int = 0
    answered: int = 0
    helpful: int = 0
    not_helpful: int = 0
    escalations: int = 0
    escalations_answered: int = 0
    median_answer_hours: float | None = None
    topics: list[Topic] = field(default_factory=list)
    never_matched: list[str] = field(default_factory=list)
    new_entries: list[str] = field(default_factory=list)
    new_examples: int = 0

    @property
    def answered_rate(self) -> float | None:
        return self.answered / self.asked if self.asked else None

    @property
    def helpful_rate(self) -> float | None:
        rated = self.helpful + self.not_helpful
        return self.helpful / rated if rated else None

    def metrics(self) -> dict[str, float | int | None]:
        return {
            "faq_asked": self.asked,
            "faq_answered_rate": _round(self.answered_rate),
            "faq_helpful_rate": _round(self.helpful_rate),
            "faq_escalations": self.escalations,
            "faq_median_hours_to_human_answer": _round(self.median_answer_hours),
            "faq_new_entries": len(self.new_entries),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "it",
        "its",
        "is",
        "are",
        "was",
        "be",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "and",
        "or",
        "but",
        "if",
        "so",
        "this",
        "that",
        "there",
        "what",
        "whats",
        "how",
        "when",
        "where",
        "who",
        "why",
        "which",
        "too",
        "also",
        "please",
    ]
)


def _features(text: str) -> Counter[str]:
    """Content words (twice) and their character trigrams: typos and plural forms still overlap."""
    words = [w for w in re.findall(r"\w+", normalise_question(text)) if w not in STOP and len(w) > 1]
    grams: Counter[str] = Counter()
    for w in words:
        grams[f"w:{w}"] += 2
        padded = f" {w} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def cluster_topics(texts: Sequence[str], threshold: float = TOPIC_SIMILARITY, top: int = TOP_TOPICS) -> list[Topic]:
    """Greedy grouping: each question joins the first group whose seed is similar enough (words + char trigrams).
    Good enough for the tens to hundreds of unanswered questions a rollout sees in a period."""
    groups: list[tuple[Counter[str], list[str]]] = []
    for text in texts:
        feats = _features(text)
        for seed, members in groups:
            if _cosine(seed, feats) >= threshold:
                members.append(text)
                break
        else:
            groups.append((feats, [text]))
    groups.sort(key=lambda g: -len(g[1]))
    return [Topic(label=min(members, key=len), count=len(members)) for _, members in groups[:top]]


async def figures(
    session: AsyncSession, rollout: Rollout, start: dt.datetime, end: dt.datetime, entry_ids: Sequence[str]
) -> Figures:
    f = Figures()
    in_period = (FaqQuestion.rollout_id == rollout.id, FaqQuestion.asked_at >= start, FaqQuestion.asked_at < end)
    rows = list(await session.execute(select(FaqQuestion).where(*in_period)))
    questions = [r[0] for r in rows]
    f.asked = len(questions)
    f.answered = sum(q.outcome == "answered" or q.chosen_entry_id is not None for q in questions)
    f.helpful = sum(q.feedback == "helpful" for q in questions)
    f.not_helpful = sum(q.feedback == "not_helpful" for q in questions)
    unanswered = [
        q.text
        for q in questions
        if (q.outcome != "answered" and q.chosen_entry_id is None) or q.feedback == "not_helpful"
    ]
    f.topics = cluster_topics(unanswered)
    escs = list(
        await session.scalars(
            select(FaqEscalation).where(
                FaqEscalation.rollout_id == rollout.id,
                FaqEscalation.created_at >= start,
                FaqEscalation.created_at < end,
            )
        )
    )
    f.escalations = len(escs)
    waits = [(e.answered_at - e.created_at).total_seconds() / 3600 for e in escs if e.answered_at]
    f.escalations_answered = len(waits)
    f.median_answer_hours = statistics.median(waits) if waits else None
    matched = set(
        await session.scalars(
            select(FaqQuestion.entry_id)
            .where(FaqQuestion.rollout_id == rollout.id, FaqQuestion.outcome == "answered")
            .distinct()
        )
    ) | set(
        await session.scalars(
            select(FaqQuestion.chosen_entry_id)
            .where(FaqQuestion.rollout_id == rollout.id, FaqQuestion.chosen_entry_id.is_not(None))
            .distinct()
        )
    )
    f.never_matched = [e for e in entry_ids if e not in matched]
    f.new_entries = list(
        await session.scalars(
            select(FaqAddedEntry.slug)
            .where(
                FaqAddedEntry.rollout_id == rollout.id,
                FaqAddedEntry.created_at >= start,
                FaqAddedEntry.created_at < end,
            )
            .order_by(FaqAddedEntry.id)
        )
    )
    f.new_examples = int(
        await session.scalar(
            select(func.count(FaqLearnedExample.id)).where(
                FaqLearnedExample.rollout_id == rollout.id,
                FaqLearnedExample.created_at >= start,
                FaqLearnedExample.created_at < end,
                or_(FaqLearnedExample.source == "expert", FaqLearnedExample.source == "helpful"),
            )
        )
        or 0
    )
    return f


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _hours(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 60:.0f} min" if x < 1 else f"{x:.1f} h"


def figure_facts(f: Figures) -> list[Fact]:
    return [
        Fact("Questions asked", str(f.asked)),
        Fact("Answered", f"{_pct(f.answered_rate)} ({f.answered})"),
        Fact("Helpful", f"{_pct(f.helpful_rate)} of {f.helpful + f.not_helpful} rated"),
        Fact("Asked a person", f"{f.escalations} ({f.escalations_answered} answered)"),
        Fact("Median time to a person's answer", _hours(f.median_answer_hours)),
    ]


def topic_lines(f: Figures) -> list[str]:
    return [f"• {lit(t.label)} — {t.count} question{'s' if t.count > 1 else ''}" for t in f.topics]


async def stats_command(ctx: Ctx, args: str) -> Reply:
    """`faq stats [DAYS]` (default 30)."""
    ctx.require(Role.change_lead, "see FAQ statistics")
    days = args.strip() or "30"
    if not days.isdigit() or not 1 <= int(days) <= 3650:
        raise UserError("Usage: `faq stats [DAYS]`, e.g. `faq stats 7` (default 30 days).")
    end = ctx.now() + dt.timedelta(seconds=1)
    start = end - dt.timedelta(days=int(days))
    index = await current_index(ctx.runtime, ctx.session, ctx.rollout)
    f = await figures(ctx.session, ctx.rollout, start, end, sorted(index.entries))
    blocks: list[Section | Context] = [Section(heading=f"FAQ — last {days} days", facts=tuple(figure_facts(f)))]
    blocks.append(
        Section(heading="Top unanswered topics", text="\n".join(topic_lines(f)) or "None — everything was answered.")
    )
    never = f.never_matched
    shown = ", ".join(f"`{e}`" for e in never[:15]) + (f" and {len(never) - 15} more" if len(never) > 15 else "")
    blocks.append(Section(heading=f"Entries never matched ({len(never)})", text=shown or "None."))
    if f.new_entries:
        blocks.append(Section(heading="Added in chat", text=", ".join(f"`{lit(e)}`" for e in f.new_entries)))
    blocks.append(
        Context(
            f"Matcher: {index.matcher_name}; answer at {index.thresholds.answer:.0%}, suggest at "
            f"{index.thresholds.suggest:.0%}; {len(index.entries)} entries."
        )
    )
    return Reply.say(f"FAQ statistics for the last {days} days.", *blocks)


async def digest_section(session: AsyncSession, rollout: Rollout, period: Period, rt: Any) -> DigestSection | None:
    """The weekly update's FAQ section: the same figures, plus what was added to the FAQ this period."""
    index = await current_index(rt, session, rollout)
    f = await figures(session, rollout, period.start, period.end, sorted(index.entries))
    if not (f.asked or f.escalations or f.new_entries):
        return None
    lines = [
        f"{f.asked} questions asked this {period.kind}; {_pct(f.answered_rate)} answered, "
        f"{_pct(f.helpful_rate)} of rated answers helpful; {f.escalations} went to a person."
    ]
    if f.topics:
        lines.append("Questions Uptake couldn't answer yet:")
        lines.extend(topic_lines(f)[:3])
    if f.new_entries:
        lines.append("New FAQ entries: " + ", ".join(f"`{lit(e)}`" for e in f.new_entries) + ".")
    if f.new_examples:
        lines.append(f"{f.new_examples} new ways of asking learned from people.")
    return DigestSection(
        title="Questions and answers", kind="learning", lines=lines, facts=figure_facts(f), metrics=f.metrics()
    )
