"""The shared request path alone: `bot.router.handle` for `help` (a DM and a slash command, 20 people), in
process, no HTTP. Prints ms per request (p50/p99/mean) and the process CPU ms per request (all threads; steadier
than wall time on a shared machine); with `--profile`, the top of a cProfile (`--sort cumulative|tottime`).

    python bench/router_path.py                                     # SQLite in a temp dir
    python bench/router_path.py --db postgresql://postgres@127.0.0.1:5432/test --profile

This is what every Slack/Teams/console request pays after the platform layer; compare runs in the same minutes
(the machine is shared). Bounded by --requests; touches only the given database.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def requests(n: int) -> list[Any]:
    from bot.model import Command, Identity, Request, Text

    out = []
    for i in range(n):
        identity = Identity("slack", "T1", f"U{i % 20:03d}", display_name=f"User {i % 20}")
        intent = Command("help", "") if i % 2 else Text("help")
        out.append(Request(identity, intent, event_id=f"Ev{uuid.uuid4().hex}"))
    return out


async def run(db: str, n: int, concurrency: int, profile: bool, sort: str = "cumulative") -> dict[str, Any]:
    from bot.cli import prepare
    from bot.config import Settings
    from bot.router import handle

    settings = Settings(database_url=db, log_level="WARNING")
    rt = await prepare(settings)
    try:
        for r in requests(100):  # warm-up: people created, caches and pools filled
            await handle(rt, r)
        todo = iter(requests(n))
        latencies: list[float] = []

        async def worker() -> None:
            for r in todo:
                t0 = time.perf_counter()
                await handle(rt, r)
                latencies.append(time.perf_counter() - t0)

        prof = cProfile.Profile() if profile else None
        t0, cpu0 = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if prof:
            prof.disable()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        latencies.sort()
        result: dict[str, Any] = {
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
            "rps": round(n / elapsed, 1),
            "cpu_ms": round(cpu / n * 1000, 2),  # CPU of this process (all threads) per request: robust under load
        }
        if prof:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(sort).print_stats(45)
            result["profile"] = out.getvalue()
        return result
    finally:
        await rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="PostgreSQL server URL (a fresh database is created and dropped)")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"], help="profile order")
    args = parser.parse_args()
    if args.db:
        from tests.conftest import _create_database, _drop_database, normalise_db_url

        server = normalise_db_url(args.db)
        url = asyncio.run(_create_database(server))
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'router.db'}"
    try:
        result = asyncio.run(run(url, args.requests, args.concurrency, args.profile, args.sort))
    finally:
        if args.db:
            asyncio.run(_drop_database(server, url))
    profile = result.pop("profile", None)
    print(result)
    if profile:
        print(profile)


if __name__ == "__main__":
    main()
