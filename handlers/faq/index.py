"""The FAQ index: the matcher fitted on file entries + entries added in chat + learned examples, with thresholds.

Built once per (content version, database stamp, settings) and cached in `rt.extras["faq"]`; the build runs in a
thread so the event loop keeps serving. The database stamp is cheap (counts and max ids), so every process sees
an entry added anywhere on its next question, and nothing is rebuilt per question.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import Runtime
from bot.tables import Rollout
from handlers.faq.matcher import (
    FaqEntry,
    Match,
    Matcher,
    Thresholds,
    choose_thresholds,
    load_faq_dir,
    make_matcher,
)
from handlers.faq.model import training_texts
from handlers.faq.tables import FaqAddedEntry, FaqLearnedExample
from handlers.faq.tuning import Tuner

log = logging.getLogger("uptake.faq")

Stamp = tuple[Any, ...]


def load_faq_content(content_dir: Path) -> list[FaqEntry]:
    """`@faq.content("faq")`: every `content/faq/*.yml`; errors name file:line (duplicate ids, no examples …)."""
    folder = Path(content_dir) / "faq"
    if not folder.is_dir():
        return []
    return load_faq_dir(folder)


@dataclass
class FaqIndex:
    """One fitted matcher and what it was fitted on."""

    key: Stamp
    entries: dict[str, FaqEntry]
    matcher: Matcher
    thresholds: Thresholds
    matcher_name: str
    added: set[str] = field(default_factory=set)  # ids of entries that live in the database
    build_ms: float = 0.0
    model: str | None = None  # the encoder that answers (a tuned model directory once tuning has finished)

    def rank(self, text: str, k: int = 3) -> list[Match]:
        return [m for m in self.matcher.rank(text, k) if m.entry_id in self.entries]


def added_entry(row: FaqAddedEntry) -> FaqEntry:
    return FaqEntry(
        id=row.slug,
        question=row.question,
        examples=tuple(str(e) for e in row.examples or ()),
        answer=row.answer,
        tags=tuple(str(t) for t in row.tags or ()),
        owner=row.owner,
        reviewed=row.reviewed or row.created_at.date(),
        source="db",
    )


async def db_stamp(session: AsyncSession, rollout_id: int) -> Stamp:
    """Changes whenever an added entry or a learned example is added, edited or removed."""
    entries = select(
        func.count(FaqAddedEntry.id), func.max(FaqAddedEntry.id), func.sum(func.length(FaqAddedEntry.answer))
    )
    learned = select(func.count(FaqLearnedExample.id), func.max(FaqLearnedExample.id))
    e = (await session.execute(entries.where(FaqAddedEntry.rollout_id == rollout_id))).one()
    w = (await session.execute(learned.where(FaqLearnedExample.rollout_id == rollout_id))).one()
    return (*tuple(e), *tuple(w))


def settings_key(rt: Runtime) -> Stamp:
    s = rt.settings
    return (s.faq_matcher, s.faq_model, s.faq_answer_threshold, s.faq_suggest_threshold, s.faq_tune)


def tuned_for(tuner: Tuner, entries: Sequence[FaqEntry], model: str | None) -> str | None:
    """The encoder tuned on this content if it is ready; otherwise tuning starts in the background.

    Keyed by the entries' own phrasings, not the 👍-learned examples: a vote must not cost a re-tuning (the
    learned examples still reach the head and centroids of the tuned model at every rebuild).
    """
    from handlers.faq.semantic import default_model_path, semantic_available

    if not semantic_available() and model is None:
        return None
    texts, labels = training_texts(entries, {})
    return tuner.request(model or default_model_path(), texts, labels) if texts else None


def _merged(file_entries: Sequence[FaqEntry], added: Sequence[FaqEntry]) -> tuple[list[FaqEntry], set[str]]:
    entries = {e.id: e for e in file_entries}
    added_ids: set[str] = set()
    for entry in added:
        if entry.id in entries:
            log.warning("faq entry %s added in chat is shadowed by a content file entry", entry.id)
            continue
        entries[entry.id] = entry
        added_ids.add(entry.id)
    return list(entries.values()), added_ids


def build(
    key: Stamp,
    file_entries: Sequence[FaqEntry],
    added: Sequence[FaqEntry],
    learned: Mapping[str, Sequence[str]],
    matcher_name: str,
    model: str | None,
    answer: float | None,
    suggest: float | None,
    tuner: Tuner | None = None,
) -> FaqIndex:
    """Fit the matcher (blocking: call it in a thread). File entries win over an added entry with the same id.

    With a `tuner` (semantic or hybrid), the matcher and its thresholds both use the tuned encoder once it exists.
    """
    started = time.perf_counter()
    merged, added_ids = _merged(file_entries, added)
    entries = {e.id: e for e in merged}
    name = matcher_name
    if tuner is not None and name != "lexical":
        try:
            model = tuned_for(tuner, merged, model) or model
        except (ImportError, RuntimeError, OSError) as e:
            log.warning("faq encoder tuning unavailable (%s)", e)
    try:
        matcher = make_matcher(name, model)  # type: ignore[arg-type]
        if entries:
            matcher.fit(list(entries.values()), learned)
    except (ImportError, RuntimeError, OSError) as e:
        log.warning("faq matcher %s unavailable (%s); using the lexical matcher", name, e)
        name = "lexical"
        matcher = make_matcher("lexical")
        if entries:
            matcher.fit(list(entries.values()), learned)
    thresholds = thresholds_for(list(entries.values()), name, model, answer, suggest)
    ms = (time.perf_counter() - started) * 1000
    log.info("faq index built entries=%s matcher=%s thresholds=%s ms=%.0f", len(entries), name, thresholds, ms)
    return FaqIndex(key, entries, matcher, thresholds, name, added_ids, ms, model if name != "lexical" else None)


def thresholds_for(
    entries: list[FaqEntry], name: str, model: str | None, answer: float | None, suggest: float | None
) -> Thresholds:
    if answer is not None and suggest is not None:
        return Thresholds(answer=answer, suggest=min(suggest, answer))
    if len(entries) < 2:
        chosen = Thresholds(answer=0.9, suggest=0.5)
    else:
        chosen = choose_thresholds(entries, lambda: make_matcher(name, model))  # type: ignore[arg-type]
    a = answer if answer is not None else chosen.answer
    s = suggest if suggest is not None else chosen.suggest
    return Thresholds(answer=a, suggest=min(s, a))


def _lock(rt: Runtime) -> asyncio.Lock:
    lock = rt.extras.get("faq.lock")
    if lock is None:
        lock = rt.extras["faq.lock"] = asyncio.Lock()
    return lock


def _tuner(rt: Runtime) -> Tuner | None:
    """One per process, when UPTAKE_FAQ_TUNE is on; a finished tuning changes the index key, so it is rebuilt."""
    if not rt.settings.faq_tune or rt.settings.faq_matcher == "lexical":
        return None
    tuner = rt.extras.get("faq.tuner")
    if tuner is None:

        def ready(key: str) -> None:  # runs in the tuner's thread; a plain assignment is atomic
            rt.extras["faq.tuned"] = key

        tuner = rt.extras["faq.tuner"] = Tuner(ready)
    return tuner


async def current_index(rt: Runtime, session: AsyncSession, rollout: Rollout) -> FaqIndex:
    """The index for this content version and database state, built off the event loop when it is stale."""
    stamp = await db_stamp(session, rollout.id)
    key = (rollout.id, rt.content.version, stamp, settings_key(rt), rt.extras.get("faq.tuned"))
    index: FaqIndex | None = rt.extras.get("faq")
    if index is not None and index.key == key:
        return index
    async with _lock(rt):
        index = rt.extras.get("faq")
        if index is not None and index.key == key:
            return index
        added = [added_entry(r) for r in await session.scalars(_added_rows(rollout.id))]
        learned: dict[str, list[str]] = {}
        for entry_id, text in await session.execute(
            select(FaqLearnedExample.entry_id, FaqLearnedExample.text)
            .where(FaqLearnedExample.rollout_id == rollout.id)
            .order_by(FaqLearnedExample.id)
        ):
            learned.setdefault(entry_id, []).append(text)
        s = rt.settings
        file_entries = list(rt.content.get("faq", []) or [])
        index = await asyncio.to_thread(
            build,
            key,
            file_entries,
            added,
            learned,
            s.faq_matcher,
            s.faq_model,
            s.faq_answer_threshold,
            s.faq_suggest_threshold,
            _tuner(rt),
        )
        rt.extras["faq"] = index
        return index


def _added_rows(rollout_id: int) -> Any:
    return select(FaqAddedEntry).where(FaqAddedEntry.rollout_id == rollout_id).order_by(FaqAddedEntry.id)
