"""Slack HTTP benchmark: signed `/uptake help` slash commands and DM events against the real Uptake server, and
the same load against a minimal Bolt app on the same aiohttp stack that acks with a static text.

    python bench/slack_http.py                       # SQLite, concurrency 1, 10 and 50
    python bench/slack_http.py --db postgresql://postgres@127.0.0.1:5432/test --concurrency 50 --json

Each server runs in its own process, as does the mock Slack Web API that receives Uptake's answers. Latency is
the time to Slack's ack (what Slack's 3-second rule measures); `answered_rps` also counts Uptake's work after the
ack: requests divided by the time until the mock received an answer for every one. `--json` prints one object
per concurrency level (one line each): {"uptake": {"p50_ms", "p99_ms", "rps", "answered_rps"}, "baseline":
{…}, "ratio_rps", "concurrency", "db"}. Requests and time are bounded; only 127.0.0.1 is contacted.

Also reported, because requests/s swing with whatever else runs on the machine: each server's CPU per request
(`cpu_ms_per_req` over the acks; for Uptake `cpu_ms_per_answered` up to its last answer), the mock's CPU per
answer, how many answers went out while the acks were still coming (`answered_during_acks`), and the load
average. `--concurrency` may be repeated (e.g. 50 three times) for several samples from one start.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-T1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- the three server processes


async def serve_mock(port: int) -> None:
    from aiohttp import web

    from tests.support.slack_mock import SlackMock

    mock = SlackMock()
    await mock.start()
    # re-expose on the requested port: a tiny proxy-free way is to start a second site on the same runner
    assert mock._runner is not None
    await web.TCPSite(mock._runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


class GcPauses:
    """Collector pauses of a server process (`--gc-stats`), printed when it stops: a full (generation 2)
    collection walks every tracked object and holds the event loop meanwhile, which shows as a latency tail."""

    def __init__(self, name: str) -> None:
        import gc

        self.name = name
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self.started = 0.0
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self.started)
            if info["generation"] == 2 and os.environ.get("BENCH_GC_TRACE"):
                import gc

                print(
                    f"gc2 {self.name} at {time.time():.3f} took {(time.perf_counter() - self.started) * 1000:.1f} ms,"
                    f" objects {len(gc.get_objects())}",
                    file=sys.stderr,
                    flush=True,
                )
                if os.environ.get("BENCH_GC_TRACE") == "types":
                    import collections

                    counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
                    if getattr(self, "last_counts", None):
                        print("   growth:", (counts - self.last_counts).most_common(25), file=sys.stderr)
                    self.last_counts = counts

    def report(self) -> None:
        parts = []
        for gen, pauses in self.pauses.items():
            if pauses:
                total, worst = sum(pauses) * 1000, max(pauses) * 1000
                parts.append(f"gen{gen} {len(pauses)}× total {total:.1f} ms max {worst:.1f} ms")
        print(f"gc pauses, {self.name}: " + ("; ".join(parts) or "none"), file=sys.stderr, flush=True)


async def serve_uptake(port: int, db: str, mock_port: int, gc_stats: bool = False) -> None:
    from bot.cli import prepare, setup_logging
    from bot.config import Settings
    from bot.web import serve

    settings = Settings(
        database_url=db,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_app_token=None,
        slack_client_id=None,
        slack_client_secret=None,
        slack_api_url=f"http://127.0.0.1:{mock_port}/api/",
        log_level="WARNING",
    )
    setup_logging(settings)
    rt = await prepare(settings)
    pauses = GcPauses("uptake") if gc_stats else None
    await serve(rt, host="127.0.0.1", port=port, worker=False)
    if pauses:
        pauses.report()
        queue = rt.extras["slack"].answers
        print(
            f"answer steps, uptake: {queue.spent:.3f} s in all, {queue.held:.3f} s while acks were waiting",
            file=sys.stderr,
            flush=True,
        )


async def serve_baseline(port: int, mock_port: int, gc_stats: bool = False) -> None:
    import logging

    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    logging.basicConfig(level=logging.WARNING)
    client = AsyncWebClient(token=TOKEN, base_url=f"http://127.0.0.1:{mock_port}/api/")
    bolt = AsyncApp(client=client, signing_secret=SECRET, process_before_response=True)

    @bolt.command("/uptake")
    async def command(ack: Any) -> None:
        await ack("Here's what I can do.")

    @bolt.event("message")
    async def message(ack: Any) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", lambda r: web.json_response({"status": "ok"}))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    pauses = GcPauses("bare Bolt") if gc_stats else None
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    if pauses:
        pauses.report()


# ---------------------------------------------------------------- load


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def request_body(i: int, mock_port: int) -> tuple[str, str]:
    user = f"U{i % 20:03d}"
    if i % 2 == 0:
        fields = {
            "team_id": "T1",
            "channel_id": "C1",
            "channel_name": "general",
            "user_id": user,
            "command": "/uptake",
            "text": "help",
            "response_url": f"http://127.0.0.1:{mock_port}/response/{i}",
            "trigger_id": f"trig.{uuid.uuid4().hex}",
            "api_app_id": "A1",
        }
        return urlencode(fields), "application/x-www-form-urlencoded"
    ts = f"{time.time():.6f}"
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": "D" + user[1:],
        "user": user,
        "text": "help",
        "ts": ts,
        "event_ts": ts,
    }
    body = {
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex}",
        "event_time": int(time.time()),
        "event": event,
    }
    return json.dumps(body), "application/json"


async def answered(http: aiohttp.ClientSession, mock_port: int) -> int:
    async with http.get(f"http://127.0.0.1:{mock_port}/_stats") as resp:
        counts = await resp.json()
    return int(counts.get("response_url", 0)) + int(counts.get("chat.postMessage", 0))


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere). Per-request CPU is far steadier
    than requests/s on a machine shared with other work, so both servers report it next to their rates."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    url: str,
    n: int,
    concurrency: int,
    mock_port: int,
    *,
    wait_answers: bool,
    pid: int | None = None,
    mock_pid: int | None = None,
) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(n))
    errors = 0
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:
        before = await answered(http, mock_port) if wait_answers else 0

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                body, ctype = request_body(i, mock_port)
                headers = {"Content-Type": ctype, **signed(body)}
                t0 = time.perf_counter()
                async with http.post(url + "/slack/events", data=body.encode(), headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        cpu0, mock0 = cpu_seconds(pid), cpu_seconds(mock_pid)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        if os.environ.get("BENCH_GC_TRACE"):
            print(f"load {url} from {time.time() - elapsed:.3f} acks done {time.time():.3f}", file=sys.stderr)
        result = {
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000, 2),
            "rps": round(n / elapsed, 1),
            "errors": errors,
            # server CPU while the acks were sent (for Uptake this includes the answers done meanwhile)
            "cpu_ms_per_req": round((cpu_seconds(pid) - cpu0) * 1000 / n, 3),
        }
        if wait_answers:
            # answers Uptake had sent by the time its last ack came back (work that shared the CPU with the acks)
            result["answered_during_acks"] = await answered(http, mock_port) - before
            deadline = time.perf_counter() + 120
            # the mock lives in another process: poll its counter (bounded by the deadline)
            while await answered(http, mock_port) - before < n and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            done = time.perf_counter() - start
            result["answered"] = await answered(http, mock_port) - before
            result["answered_rps"] = round(result["answered"] / done, 1)
            # all of the server's work per request: the ack and the answer after it
            result["cpu_ms_per_answered"] = round((cpu_seconds(pid) - cpu0) * 1000 / max(1, result["answered"]), 3)
            # the mock Slack's share (it stands in for Slack's servers but runs on the same cores)
            result["mock_cpu_ms_per_answered"] = round(
                (cpu_seconds(mock_pid) - mock0) * 1000 / max(1, result["answered"]), 3
            )
    return result


async def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def spy(pid: int, output: str) -> subprocess.Popen[bytes]:
    """py-spy (in the venv) sampling one server without pausing it, collapsed stacks written when interrupted."""
    exe = Path(sys.executable).with_name("py-spy")
    cmd = [str(exe), "record", "--pid", str(pid), "--format", "raw", "--rate", "250", "--nonblocking", "-o", output]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the load starts
    return proc


def temp_database(db: str | None) -> tuple[str, Any]:
    """A fresh database for the run (a temp SQLite file, or a new PostgreSQL database dropped afterwards)."""
    if not db:
        path = Path(tempfile.mkdtemp()) / "bench.db"
        return f"sqlite+aiosqlite:///{path}", None
    from tests.conftest import _create_database, _drop_database, normalise_db_url

    server = normalise_db_url(db)
    url = asyncio.run(_create_database(server))
    return url, lambda: asyncio.run(_drop_database(server, url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=os.environ.get("BENCH_DATABASE_URL"), help="PostgreSQL server URL")
    parser.add_argument("--concurrency", type=int, action="append", help="repeatable; default 1, 10, 50")
    parser.add_argument("--requests", type=int, default=2000, help="per target and concurrency level")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--gc-stats", action="store_true", help="servers print their collector pauses at the end")
    parser.add_argument(
        "--profile", metavar="PREFIX", help="py-spy both servers during the measured levels: PREFIX.uptake.txt, …"
    )
    parser.add_argument("--role", choices=["mock", "uptake", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mock-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "mock":
        asyncio.run(serve_mock(args.port))
        return
    if args.role == "uptake":
        asyncio.run(serve_uptake(args.port, args.db, args.mock_port, args.gc_stats))
        return
    if args.role == "baseline":
        asyncio.run(serve_baseline(args.port, args.mock_port, args.gc_stats))
        return

    db_url, drop = temp_database(args.db)
    ports = {"mock": free_port(), "uptake": free_port(), "baseline": free_port()}
    procs: list[subprocess.Popen[bytes]] = []
    me = [sys.executable, str(Path(__file__).resolve())]
    gc_flag = ["--gc-stats"] if args.gc_stats else []
    try:
        procs.append(subprocess.Popen([*me, "--role", "mock", "--port", str(ports["mock"])]))
        procs.append(
            subprocess.Popen(
                [
                    *me,
                    "--role",
                    "uptake",
                    "--port",
                    str(ports["uptake"]),
                    "--db",
                    db_url,
                    "--mock-port",
                    str(ports["mock"]),
                    *gc_flag,
                ]
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    *me,
                    "--role",
                    "baseline",
                    "--port",
                    str(ports["baseline"]),
                    "--mock-port",
                    str(ports["mock"]),
                    *gc_flag,
                ]
            )
        )
        uptake, baseline = f"http://127.0.0.1:{ports['uptake']}", f"http://127.0.0.1:{ports['baseline']}"
        asyncio.run(wait_up(uptake))
        asyncio.run(wait_up(baseline))
        # warm-up: caches (users.info, auth.test), connection pools, SQLite pages
        asyncio.run(load(uptake, 200, 10, ports["mock"], wait_answers=True))
        asyncio.run(load(baseline, 200, 10, ports["mock"], wait_answers=False))
        pids = {"uptake": procs[1].pid, "baseline": procs[2].pid, "mock": procs[0].pid}
        spies = (
            []
            if not args.profile
            else [spy(pids[name], f"{args.profile}.{name}.txt") for name in ("uptake", "baseline")]
        )
        rows = []
        for c in args.concurrency or [1, 10, 50]:
            n = args.requests if c > 1 else max(200, args.requests // 4)
            up = asyncio.run(
                load(uptake, n, c, ports["mock"], wait_answers=True, pid=pids["uptake"], mock_pid=pids["mock"])
            )
            base = asyncio.run(load(baseline, n, c, ports["mock"], wait_answers=False, pid=pids["baseline"]))
            row = {
                "uptake": up,
                "baseline": base,
                "ratio_rps": round(up["rps"] / base["rps"], 3),
                "concurrency": c,
                "db": "postgresql" if args.db else "sqlite",
                "requests": n,
                "loadavg": os.getloadavg()[0],
            }
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
        for s in spies:
            s.send_signal(signal.SIGINT)
            s.wait(timeout=60)
        if not args.json:
            print(
                f"{'db':<10} {'c':>3} {'uptake p50':>10} {'p99':>8} {'rps':>7} {'answered/s':>10} | "
                f"{'bolt p50':>8} {'p99':>7} {'rps':>7} | ratio | cpu ms/req: uptake ack, answered; bolt | load"
            )
            for r in rows:
                u, b = r["uptake"], r["baseline"]
                print(
                    f"{r['db']:<10} {r['concurrency']:>3} {u['p50_ms']:>10} {u['p99_ms']:>8} {u['rps']:>7} "
                    f"{u.get('answered_rps', 0):>10} | {b['p50_ms']:>8} {b['p99_ms']:>7} {b['rps']:>7} | "
                    f"{r['ratio_rps']:.2f} | {u['cpu_ms_per_req']:.2f} {u.get('cpu_ms_per_answered', 0):.2f}; "
                    f"{b['cpu_ms_per_req']:.2f} | {r['loadavg']:.1f}"
                )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
        if drop:
            drop()


if __name__ == "__main__":
    main()
