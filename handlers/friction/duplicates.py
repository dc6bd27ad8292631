"""Duplicate suggestions: the FAQ matcher's lexical index over a rollout's open reports, cached per rollout.

Only the FAQ matcher's public API is used (`make_matcher`, `FaqEntry`, `fit`, `rank`): each open report is an
entry whose question is its text. The index is rebuilt in a worker thread only when the open reports change,
which one aggregate query detects (count, sum of ids and latest update of the open reports); the reply path
then costs that query plus one `rank()`.

Deciding "same problem": `rank()` returns calibrated probabilities whose remaining mass is "none of them", so
`confidence / P(none)` is each report's odds against "no match" — it depends on that report's own score only,
not on how many similar reports are open (five open reports about one problem all stay suggested). The
taxonomy's descriptions and examples are added as background entries (never suggested): with two or three
open reports, word weights would otherwise treat "the" and "claim" as telling.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.faq.matcher import FaqEntry, Matcher, make_matcher
from handlers.friction.tables import OPEN, FrictionReport
from handlers.friction.taxonomy import Taxonomy

log = logging.getLogger("uptake.friction")

MIN_ODDS = 3.0  # a report at least 3× as likely as "none of them" is offered (see bench/README.md)
BACKGROUND = "bg:"
EXTRAS_KEY = "friction.duplicates"

Version = tuple[int, int, dt.datetime | None, int]


@dataclass(frozen=True)
class OpenIndex:
    version: Version
    matcher: Matcher
    size: int  # entries, background included: rank() over all of them gives P(none)


class DuplicateFinder:
    """One per process (in `Runtime.extras`): the latest index per rollout and a lock per rollout for rebuilds."""

    def __init__(self) -> None:
        self._indexes: dict[int, OpenIndex] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def similar(
        self, session: AsyncSession, rollout_id: int, text: str, tax: Taxonomy, limit: int = 3
    ) -> list[tuple[int, float]]:
        """Ids of open reports that read like `text` with their odds against "no match", best first."""
        index = await self.index(session, rollout_id, tax)
        if index is None:
            return []
        matches = index.matcher.rank(text, k=index.size)
        p_none = max(1e-12, 1.0 - sum(m.confidence for m in matches))
        found = [
            (int(m.entry_id), m.confidence / p_none)
            for m in matches
            if not m.entry_id.startswith(BACKGROUND) and m.confidence / p_none >= MIN_ODDS
        ]
        return found[:limit]

    async def index(self, session: AsyncSession, rollout_id: int, tax: Taxonomy) -> OpenIndex | None:
        version = (*await open_version(session, rollout_id), hash(tax))  # a content reload changes the background
        if version[0] == 0:
            return None
        current = self._indexes.get(rollout_id)
        if current is not None and current.version == version:
            return current
        async with self._locks.setdefault(rollout_id, asyncio.Lock()):
            current = self._indexes.get(rollout_id)  # another request may have rebuilt it meanwhile
            if current is not None and current.version == version:
                return current
            rows = (
                await session.execute(
                    select(FrictionReport.id, FrictionReport.text).where(
                        FrictionReport.rollout_id == rollout_id, FrictionReport.status.in_(OPEN)
                    )
                )
            ).all()
            entries = [FaqEntry(id=str(rid), question=text, examples=(), answer="") for rid, text in rows]
            entries += background(tax)
            matcher = await asyncio.to_thread(_fit, entries)
            built = OpenIndex(version, matcher, len(entries))
            self._indexes[rollout_id] = built
            log.debug("friction duplicate index rebuilt rollout=%s open=%s", rollout_id, len(rows))
            return built


def _fit(entries: list[FaqEntry]) -> Matcher:
    matcher = make_matcher("lexical")
    matcher.fit(entries)
    return matcher


def background(tax: Taxonomy) -> list[FaqEntry]:
    texts = [t for c in tax.categories for t in (c.description, *c.examples) if t.strip()]
    return [FaqEntry(id=f"{BACKGROUND}{i}", question=t, examples=(), answer="") for i, t in enumerate(texts)]


async def open_version(session: AsyncSession, rollout_id: int) -> tuple[int, int, dt.datetime | None]:
    """Changes whenever a report opens, closes or is reopened (ids and updated_at move with every change)."""
    row = (
        await session.execute(
            select(func.count(FrictionReport.id), func.coalesce(func.sum(FrictionReport.id), 0),
                   func.max(FrictionReport.updated_at))
            .where(FrictionReport.rollout_id == rollout_id, FrictionReport.status.in_(OPEN))
        )
    ).one()  # fmt: skip
    return int(row[0]), int(row[1]), row[2]


def finder(extras: dict[str, object]) -> DuplicateFinder:
    found = extras.get(EXTRAS_KEY)
    if not isinstance(found, DuplicateFinder):
        found = extras[EXTRAS_KEY] = DuplicateFinder()
    return found
