"""Fan-out bench: one broadcast to 10,000 people through the outbox against rate-limited mock platforms.

Scenarios (Slack and Teams): one worker on SQLite; one worker SIGKILLed at half way and restarted; three workers on
PostgreSQL at once. Each worker is `bot.delivery.worker_sender` with Uptake's real platform senders: Slack's
`SlackSender` (slack_sdk AsyncWebClient with its retry handlers, `SLACK_API_URL` pointed at the mock) and Teams'
`TeamsSender` (botbuilder's connector client through the shared pool, stored conversation references). The mock
(bench/fanout_mock.py) enforces a workspace/tenant-wide and a per-conversation limit, answers 429 with Retry-After
beyond them and fails 1% of calls with a 5xx. Every worker is configured with the whole deployment's rate and
divides it by the live workers itself (heartbeats). Reported per scenario: delivered, duplicates, lost, seconds
from the first worker ready to the last message accepted against the theoretical minimum (recipients / workspace
rate), wall time including process start, peak RSS of the workers.

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

from bot.adapters.teams_store import TeamsConversation  # noqa: E402
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
RATE = {"slack": 100, "teams": 50}  # the mock's workspace/tenant limit per second (Teams: the real 50/s per tenant)
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


async def seed(url: str, n: int, platform: str, mock: str) -> None:
    """A rollout, n people with an identity each (on Teams: a stored personal conversation reference each), and
    the broadcast's n outbox rows in one transaction."""
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
        if platform == "teams":
            await s.execute(
                insert(TeamsConversation),
                [
                    {
                        "conversation_id": f"a:1conv-{i:06d}",
                        "tenant_id": "W1",
                        "kind": "personal",
                        "service_url": mock + "/",
                        "user_aad_id": f"U{i:06d}",
                        "active": True,
                        "reference": {
                            "conversation": {"id": f"a:1conv-{i:06d}", "conversationType": "personal"},
                            "user": {"id": f"29:U{i:06d}", "aadObjectId": f"U{i:06d}"},
                            "bot": {"id": "28:bench-bot"},
                            "channelId": "msteams",
                            "serviceUrl": mock + "/",
                        },
                        "created_at": db_now(),
                        "updated_at": db_now(),
                    }
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
    from bot.adapters.slack import register_sender
    from bot.adapters.teams_auth import ConnectorPool
    from bot.adapters.teams_sender import TeamsSender
    from bot.runtime import Runtime

    try:
        from bot.delivery import worker_sender
    except ImportError:  # a baseline checkout from before worker_sender: what its run_sender ran
        from bot.delivery import OutboxSender

        def worker_sender(rt: Runtime) -> OutboxSender:
            return OutboxSender(rt, hold=5.0)

        rate = rate / int(os.environ.get("FANOUT_WORKERS", "1"))  # no shared limits there: divide by hand

    per_2s = max(1, round(rate * 2))  # two-second windows, so a fractional rate (47.5/s) is kept exactly
    limits = {platform: {"rules": {METHOD[platform]: {"workspace": [[per_2s, 2.0]]}}}}
    settings = Settings(
        database_url=db,
        rate_limits=json.dumps(limits),
        outbox_lease_seconds=LEASE,
        outbox_batch=100,
        outbox_concurrency=32,
        content_dir=ROOT / "content",
        slack_bot_token="xoxb-bench" if platform == "slack" else None,
        slack_api_url=f"{mock}/api/",
    )
    rt = Runtime(settings)
    if platform == "slack":
        await register_sender(rt)
    else:  # emulator mode (no app credentials): the connector client sends without a token, as to the Playground
        rt.senders["teams"] = TeamsSender(rt, ConnectorPool(app_id=None, password=None, token_url=None))
    sender = worker_sender(rt)
    stop = asyncio.Event()

    async def until_settled() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            async with rt.db.session() as s:
                left = await s.scalar(select(OutboxMessage.id).where(OutboxMessage.status.in_(("pending", "sending"))))
            if left is None:
                stop.set()

    print(f"ready {time.monotonic():.6f}", flush=True)
    cpu = time.process_time()
    await asyncio.gather(sender.run(stop, idle=0.2), until_settled())
    print(f"cpu {time.process_time() - cpu:.3f}", flush=True)  # CPU seconds spent sending (not starting)
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


def spawn_worker(db: str, platform: str, mock: str, rate: float, workers: int) -> subprocess.Popen[bytes]:
    profile = os.environ.get("FANOUT_PROFILE")  # a directory: each worker writes a cProfile there
    prof = ["-m", "cProfile", "-o", f"{profile}/worker-{time.monotonic_ns()}.prof"] if profile else []
    cmd = [sys.executable, *prof, str(Path(__file__)), "--worker", db, platform, mock, str(rate)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FANOUT_WORKERS": str(workers)}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE)


def cpu_of(proc: subprocess.Popen[bytes]) -> float | None:
    """CPU seconds a finished worker spent sending (None if it was killed)."""
    assert proc.stdout is not None
    for line in proc.stdout.read().splitlines():
        if line.startswith(b"cpu "):
            return float(line.split()[1])
    return None


async def ready_at(proc: subprocess.Popen[bytes]) -> float:
    """The monotonic time at which a worker was about to start sending (it prints `ready <time>`)."""
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    return float(line.split()[1]) if line.startswith(b"ready ") else time.monotonic()


async def run_scenario(name: str, n: int, rates: dict[str, int], headroom: float, pg: str, tmp: Path) -> dict[str, Any]:
    platform, db_kind, workers, kill = SCENARIOS[name]
    rate = rates[platform]
    url = await make_db(db_kind, pg, tmp)
    port = free_port()
    await seed(url, n, platform, f"http://127.0.0.1:{port}")
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
        deployment_rate = rate * headroom  # every worker gets the whole budget and divides it by the live workers
        start = time.monotonic()
        procs = [spawn_worker(url, platform, base, deployment_rate, workers) for _ in range(workers)]
        first_ready = min(await asyncio.gather(*(ready_at(p) for p in procs)))
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
                    procs.append(spawn_worker(url, platform, base, deployment_rate, workers))
        wall = time.monotonic() - start
        stats = (await client.get("/stats")).json()
        seconds = (stats["last"] or time.monotonic()) - first_ready
        cpus = [c for p in procs if (c := cpu_of(p)) is not None]
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
        "wall_seconds_incl_start": round(wall, 2),
        "min_seconds": round(min_seconds, 2),
        "ratio_to_min": round(seconds / min_seconds, 3),
        "peak_rss_mb": round(peak, 1),
        "worker_cpu_ms_per_message": round(1000 * sum(cpus) / max(1, stats["accepted"]), 3) if cpus else None,
        "workers": workers,
        "rate_per_s": rate,
        "throttled_429": stats["throttled"],
        "errors_5xx": stats["errors"],
        "in_flight_at_kill": in_flight if kill else None,
        "send_span_seconds": round(stats["span"], 2),
        "start_seconds": round(stats["first"] - first_ready, 2) if stats["first"] else None,
        "per_second": stats["per_second"],
        "flagged_possibly_duplicate": counts.get("possibly_duplicate", 0),
        "rows": {k: v for k, v in counts.items() if k != "possibly_duplicate"},
    }


async def main_async(args: argparse.Namespace) -> None:
    pg = normalise_db_url(args.pg)
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for name in args.scenarios:
            rates = {**RATE, **({"slack": args.rate, "teams": args.rate} if args.rate else {})}
            result = await run_scenario(name, args.recipients, rates, args.headroom, pg, Path(tmp))
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
    p.add_argument(
        "--rate",
        type=int,
        default=0,
        help="the mock's workspace/tenant limit per second (default: 100 for Slack, 50 for Teams)",
    )
    p.add_argument("--headroom", type=float, default=0.95, help="share of the platform limit the senders use")
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    p.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
