"""Fan-out bench: one broadcast to 10,000 people through the outbox against rate-limited mock platforms.

Scenarios (Slack and Teams): one worker on SQLite; one worker SIGKILLed at half way and restarted; three workers on
PostgreSQL at once. The mock (bench/fanout_mock.py) enforces a workspace/tenant-wide and a per-conversation limit,
answers 429 with Retry-After beyond them and fails 1% of calls with a 5xx. Reported per scenario: delivered,
duplicates, lost, seconds against the theoretical minimum (recipients / workspace rate), peak RSS of the workers.

    python bench/fanout.py                 # table
    python bench/fanout.py --json          # one JSON object per scenario
    python bench/fanout.py --scenarios slack-sqlite --recipients 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bot.config import Settings, normalise_db_url  # noqa: E402
from bot.db import Database, upgrade  # noqa: E402
from bot.model import Message, Section  # noqa: E402
from bot.outbox import enqueue_many  # noqa: E402
from bot.tables import OutboxMessage, Person, PlatformIdentity, Rollout  # noqa: E402

SCENARIOS = {
    "slack-sqlite": ("slack", "sqlite", 1, False),
    "slack-sqlite-kill": ("slack", "sqlite", 1, True),
    "slack-pg-3-workers": ("slack", "pg", 3, False),
    "teams-sqlite": ("teams", "sqlite", 1, False),
    "teams-sqlite-kill": ("teams", "sqlite", 1, True),
    "teams-pg-3-workers": ("teams", "pg", 3, False),
}
METHOD = {"slack": "chat.postMessage", "teams": "send"}
LEASE = 10.0  # seconds; short so the restarted worker recovers the killed one's rows quickly


# ---------------------------------------------------------------- database


async def make_db(kind: str, pg_server: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / f'fanout-{uuid.uuid4().hex[:6]}.db'}"
    name = f"uptake_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(pg_server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return pg_server.rsplit("/", 1)[0] + f"/{name}"


async def drop_db(url: str, pg_server: str) -> None:
    if url.startswith("sqlite"):
        return
    admin = create_async_engine(pg_server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    await admin.dispose()


async def seed(url: str, n: int, platform: str) -> None:
    """A rollout, n people with an identity each, and the broadcast's n outbox rows in one transaction."""
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    async with db.session() as s:
        rollout = Rollout(slug="default", name="Bench rollout")
        s.add(rollout)
        await s.flush()
        await s.execute(
            insert(Person), [{"id": i, "display_name": f"P{i}", "notify_prefs": {}} for i in range(1, n + 1)]
        )
        await s.execute(
            insert(PlatformIdentity),
            [
                {"person_id": i, "platform": platform, "workspace": "W1", "user_id": f"U{i:06d}", "reachable": True}
                for i in range(1, n + 1)
            ],
        )
        msg = Message("Claims triage: week 3", (Section(heading="Why", user_text="Cut triage time."),))
        now = db_now()
        rows = [
            {
                "key": f"broadcast:1:r1:p{i}",
                "rollout_id": rollout.id,
                "person_id": i,
                "kind": "broadcast",
                "group_key": "broadcast:1:r1",
                "message": msg,
                "not_before": now,
            }
            for i in range(1, n + 1)
        ]
        await enqueue_many(s, rows)
        await s.commit()
    await db.close()


def db_now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


async def outbox_counts(url: str) -> dict[str, int]:
    db = Database(url)
    async with db.session() as s:
        rows = await s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        counts = {status: int(c) for status, c in rows}
        counts["possibly_duplicate"] = int(
            await s.scalar(select(func.count()).where(OutboxMessage.possibly_duplicate.is_(True))) or 0
        )
    await db.close()
    return counts


# ---------------------------------------------------------------- the worker process


async def worker_main(db: str, platform: str, mock: str, rate: float) -> None:
    from bench.fanout_senders import BenchSlackSender, BenchTeamsSender
    from bot.delivery import OutboxSender
    from bot.runtime import Runtime

    limits = {platform: {"rules": {METHOD[platform]: {"workspace": [[max(1, int(rate)), 1.0]]}}}}
    settings = Settings(
        database_url=db,
        rate_limits=json.dumps(limits),
        outbox_lease_seconds=LEASE,
        outbox_batch=100,
        outbox_concurrency=32,
        content_dir=ROOT / "content",
    )
    rt = Runtime(settings)
    rt.senders[platform] = BenchSlackSender(mock) if platform == "slack" else BenchTeamsSender(mock)
    sender = OutboxSender(rt, hold=5.0)
    stop = asyncio.Event()

    async def until_settled() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            async with rt.db.session() as s:
                left = await s.scalar(select(OutboxMessage.id).where(OutboxMessage.status.in_(("pending", "sending"))))
            if left is None:
                stop.set()

    await asyncio.gather(sender.run(stop, idle=0.2), until_settled())
    await rt.close()


# ---------------------------------------------------------------- orchestration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def spawn_worker(db: str, platform: str, mock: str, rate: float) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(Path(__file__)), "--worker", db, platform, mock, str(rate)]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


async def run_scenario(name: str, n: int, rate: int, headroom: float, pg: str, tmp: Path) -> dict[str, Any]:
    platform, db_kind, workers, kill = SCENARIOS[name]
    url = await make_db(db_kind, pg, tmp)
    await seed(url, n, platform)
    port = free_port()
    mock = subprocess.Popen(  # noqa: ASYNC220  (started once per scenario, before timing)
        [sys.executable, str(ROOT / "bench" / "fanout_mock.py"), platform, str(port), str(rate)],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(100):
            try:
                await client.get("/stats")
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        per_worker = rate * headroom / workers  # K workers share the platform's budget
        start = time.monotonic()
        procs = [spawn_worker(url, platform, base, per_worker) for _ in range(workers)]
        peak, killed, in_flight = 0.0, False, 0
        while any(p.poll() is None for p in procs):
            await asyncio.sleep(0.2)
            peak = max([peak, *(peak_rss_mb(p.pid) for p in procs if p.poll() is None)])
            if kill and not killed:
                stats = (await client.get("/stats")).json()
                if stats["unique"] >= n // 2:
                    os.kill(procs[0].pid, signal.SIGKILL)
                    procs[0].wait()
                    killed = True
                    in_flight = (await outbox_counts(url)).get("sending", 0)
                    procs.append(spawn_worker(url, platform, base, per_worker))
        seconds = time.monotonic() - start
        stats = (await client.get("/stats")).json()
    mock.terminate()
    mock.wait()
    counts = await outbox_counts(url)
    await drop_db(url, pg)
    min_seconds = n / rate
    return {
        "scenario": name,
        "recipients": n,
        "delivered": stats["unique"],
        "duplicates": stats["duplicates"],
        "lost": n - stats["unique"],
        "seconds": round(seconds, 2),
        "min_seconds": round(min_seconds, 2),
        "ratio_to_min": round(seconds / min_seconds, 3),
        "peak_rss_mb": round(peak, 1),
        "workers": workers,
        "rate_per_s": rate,
        "throttled_429": stats["throttled"],
        "errors_5xx": stats["errors"],
        "in_flight_at_kill": in_flight if kill else None,
        "send_span_seconds": round(stats["span"], 2),
        "flagged_possibly_duplicate": counts.get("possibly_duplicate", 0),
        "rows": {k: v for k, v in counts.items() if k != "possibly_duplicate"},
    }


async def main_async(args: argparse.Namespace) -> None:
    pg = normalise_db_url(args.pg)
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for name in args.scenarios:
            result = await run_scenario(name, args.recipients, args.rate, args.headroom, pg, Path(tmp))
            results.append(result)
            if args.json:
                print(json.dumps(result), flush=True)
    if not args.json:
        print(
            f"{'scenario':22} {'deliv':>6} {'dup':>4} {'lost':>4} {'sec':>7} {'min':>6} {'ratio':>6} {'rss MB':>7} "
            f"{'429':>5} {'5xx':>4} {'inflight@kill':>13}"
        )
        for r in results:
            print(
                f"{r['scenario']:22} {r['delivered']:>6} {r['duplicates']:>4} {r['lost']:>4} {r['seconds']:>7} "
                f"{r['min_seconds']:>6} {r['ratio_to_min']:>6} {r['peak_rss_mb']:>7} {r['throttled_429']:>5} "
                f"{r['errors_5xx']:>4} {r['in_flight_at_kill'] if r['in_flight_at_kill'] is not None else '-':>13}"
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        db, platform, mock, rate = sys.argv[2:6]
        asyncio.run(worker_main(db, platform, mock, float(rate)))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="one JSON object per scenario")
    p.add_argument("--recipients", type=int, default=10_000)
    p.add_argument("--rate", type=int, default=100, help="the mock's workspace/tenant limit per second")
    p.add_argument("--headroom", type=float, default=0.95, help="share of the platform limit the senders use")
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    p.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
