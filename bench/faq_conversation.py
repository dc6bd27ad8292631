"""The whole FAQ question path through the router (person, matcher, decision, recording the question, reply) on
SQLite, with the index cached vs rebuilt on every question (the baseline the cache avoids), and the index build.

Prints a table, or JSON with --json. Run from the repository root: `python bench/faq_conversation.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bot.clock import FrozenClock
from bot.config import ROOT, Settings
from bot.db import Database, upgrade
from bot.model import Identity, Request, Text
from bot.router import handle
from bot.runtime import Runtime

QUESTIONS = [
    "is the survey anonymous",
    "how do I mute notifications",
    "recipe for banana bread",
    "who owns this rollout",
    "what data can I put in the AI",
    "the tool is slow what can I do",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(n: int, rebuild: bool) -> tuple[list[float], float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}"
        await asyncio.to_thread(upgrade, url)
        settings = Settings(database_url=url, content_dir=ROOT / "content", data_dir=Path(tmp))  # type: ignore[call-arg]
        rt = Runtime(settings, db=Database(url), clock=FrozenClock())
        rt.load_content()
        who = Identity("console", "local", "bench", display_name="Bench")
        started = time.perf_counter()
        await handle(rt, Request(who, Text("warm up"), event_id="warm"))
        build_ms = (time.perf_counter() - started) * 1000
        times = []
        for i in range(n):
            if rebuild:
                rt.extras.pop("faq", None)
            started = time.perf_counter()
            await handle(rt, Request(who, Text(QUESTIONS[i % len(QUESTIONS)]), event_id=f"q{i}"))
            times.append((time.perf_counter() - started) * 1000)
        await rt.close()
        return times, build_ms


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    cached, build_ms = await run(args.n, rebuild=False)
    rebuilt, _ = await run(max(10, args.n // 20), rebuild=True)
    result = {
        "entries": "starter pack (content/faq)",
        "first_question_incl_index_build_ms": round(build_ms, 1),
        "cached_p50_ms": round(statistics.median(cached), 2),
        "cached_p99_ms": round(pct(cached, 0.99), 2),
        "rebuild_each_p50_ms": round(statistics.median(rebuilt), 1),
        "speedup_p50": round(statistics.median(rebuilt) / statistics.median(cached), 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>36}  {value}")


if __name__ == "__main__":
    asyncio.run(main())
