"""How long the duplicate suggestion takes before a report is saved, by number of open reports.

Before: `handlers.friction.similarity.similarities` scored every open report per new report (TF-IDF fitted per
call; features cached, as in a running server). After: `handlers.friction.duplicates.DuplicateFinder` — the FAQ
matcher's lexical index over the open reports, cached per rollout: per new report one version query on the
database plus one `rank()`. The rebuild (after open reports changed; in a worker thread) is timed separately.
difflib's SequenceMatcher.ratio is the naive baseline. Everything in the same run; table, or JSON with --json.

    PYTHONPATH=. python bench/friction_similarity.py [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import difflib
import json
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import create_async_engine

import handlers  # noqa: F401  (every capability's tables in the metadata)
from bot.config import ROOT
from bot.db import Base, Database
from bot.tables import Rollout
from handlers.friction.demo import SAMPLES
from handlers.friction.duplicates import DuplicateFinder, _fit, background
from handlers.friction.similarity import features, similarities
from handlers.friction.tables import FrictionReport
from handlers.friction.taxonomy import load_taxonomy

WORDS = " ".join(s[0] for s in SAMPLES).split()
QUERY = "the claims screen takes 40 seconds to load and then freezes"
SIZES = (100, 1000, 5000)


def corpus(n: int, rng: random.Random) -> list[str]:
    return [" ".join(rng.choices(WORDS, k=rng.randint(8, 40))) for _ in range(n)]


def timed(fn: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


async def atimed(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


async def prepare(db: Database) -> int:
    engine = create_async_engine(db.url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()
    async with db.session() as session:
        rollout = Rollout(slug=f"bench-{time.time_ns()}", name="bench")
        session.add(rollout)
        await session.commit()
        return rollout.id


async def fill(db: Database, rollout_id: int, docs: list[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    async with db.session() as session:
        await session.execute(delete(FrictionReport).where(FrictionReport.rollout_id == rollout_id))
        session.add_all(
            FrictionReport(rollout_id=rollout_id, submit_key=f"k{i}", text=d, category="slow", created_at=now,
                           updated_at=now)
            for i, d in enumerate(docs)
        )  # fmt: skip
        await session.commit()


async def run(db_url: str, repeat: int) -> list[dict[str, Any]]:
    db = Database(db_url)
    tax = load_taxonomy(ROOT / "content")
    rollout_id = await prepare(db)
    rng = random.Random(1)
    results = []
    try:
        for n in SIZES:
            docs = corpus(n, rng)
            await fill(db, rollout_id, docs)
            similarities(QUERY, docs)  # warm the feature cache, as a running server has it
            before = timed(lambda d=docs: similarities(QUERY, d), repeat)
            base = timed(lambda d=docs: [difflib.SequenceMatcher(None, QUERY, x).ratio() for x in d], repeat)
            finder = DuplicateFinder()
            async with db.session() as session:
                await finder.similar(session, rollout_id, QUERY, tax)  # builds the index once

                async def after(s: Any = session, f: DuplicateFinder = finder) -> None:
                    await f.similar(s, rollout_id, QUERY, tax)

                warm = await atimed(after, repeat * 4)
                index = await finder.index(session, rollout_id, tax)
            assert index is not None
            rank = timed(lambda i=index: i.matcher.rank(QUERY, k=i.size), repeat * 4)
            entries = [(str(i), d) for i, d in enumerate(docs)]
            rebuild = timed(lambda e=entries: _fit(_entries(e, tax)), max(3, repeat // 2))
            results.append(
                {
                    "open_reports": n,
                    "before_ms": round(before, 2),
                    "after_ms": round(warm, 2),
                    "after_rank_only_ms": round(rank, 2),
                    "rebuild_ms": round(rebuild, 1),
                    "difflib_ms": round(base, 1),
                    "speedup": round(before / warm, 1),
                }
            )
    finally:
        await db.close()
    return results


def _entries(pairs: list[tuple[str, str]], tax: Any) -> list[Any]:
    from handlers.faq.matcher import FaqEntry

    return [FaqEntry(id=i, question=d, examples=(), answer="") for i, d in pairs] + background(tax)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    features.cache_clear()
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"  # the version query runs on SQLite
    results = asyncio.run(run(url, args.repeat))
    if args.json:
        print(json.dumps(results))
        return
    head = ("open reports", "before ms", "after ms", "rank only ms", "rebuild ms", "difflib ms", "before/after")
    print(" ".join(f"{h:>13}" for h in head))
    for r in results:
        cols = ("open_reports", "before_ms", "after_ms", "after_rank_only_ms", "rebuild_ms", "difflib_ms", "speedup")
        print(" ".join(f"{r[c]:>13}" for c in cols))


if __name__ == "__main__":
    main()
