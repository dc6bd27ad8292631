"""Teams HTTP benchmark: Uptake's /api/messages vs a bare botbuilder echo bot vs a raw aiohttp floor, same run.

Each target runs in its own process on 127.0.0.1 and replies through one local mock Bot Connector process:
- uptake:   the real server (bot.web, emulator mode, SQLite in a temp dir), answering `help` with its card;
- baseline: botbuilder 4.17's CloudAdapter + ActivityHandler echo, out of the box (per-turn ConnectorClient);
- pooled:   the same echo bot on Uptake's adapter plumbing (teams_auth.py pool), no database: the SDK cost alone;
- floor:    a raw aiohttp handler that posts a card of the same size with one shared ClientSession.
Then Uptake again with credentials (signed JWTs, app tokens from the mock's token endpoint) to count token fetches.

    python bench/teams_http.py                  # table; concurrency 1, 10, 50
    python bench/teams_http.py --json           # one JSON object per concurrency, then the credentials run
    python bench/teams_http.py --requests 400 --concurrency 50

Only loopback traffic; every loop is bounded by --requests and a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

APP_ID = "11111111-2222-3333-4444-555555555555"
TENANT = "bench-tenant"
# Teams allows a bot 50 requests/s per tenant and Uptake's in-turn replies respect it; the 200 people are spread
# over 100 tenants so the bench measures Uptake, not that (correct) throttle (20 tenants capped it at 1,000 rps,
# which Uptake reaches since session 4).
TENANTS = 100
PEOPLE = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- server roles (run in child processes)


async def role_mock(port: int) -> None:
    from aiohttp import web

    from tests.support.teams_mock import MockConnector

    mock = MockConnector()

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"activities": len(mock.posted), "token_requests": len(mock.token_requests)})

    mock.posted = _Counter()  # type: ignore[assignment]  # count, don't keep, under load
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/v3/conversations", mock._create)
    app.router.add_post("/v3/conversations/{cid}/activities", mock._send)
    app.router.add_post("/v3/conversations/{cid}/activities/{aid}", mock._send)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", mock._token)
    app.router.add_get("/stats", stats)
    await _run(app, port)


class _Counter(list):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def append(self, _: Any) -> None:
        self.n += 1

    def __len__(self) -> int:
        return self.n


async def _run(app: Any, port: int) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()


async def role_uptake(port: int) -> None:
    import logging

    from bot.cli import prepare
    from bot.config import get_settings
    from bot.web import serve

    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    settings.port = port
    rt = await prepare(settings)
    await serve(rt, host="127.0.0.1", port=port, worker=False)


async def role_baseline(port: int) -> None:
    from aiohttp import web
    from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

    class Config:
        APP_ID = ""
        APP_PASSWORD = ""
        APP_TYPE = "MultiTenant"
        APP_TENANTID = ""

    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(Config()))

    class Echo(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))

    bot = Echo()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    await _run(app, port)


async def role_pooled(port: int) -> None:
    """The same echo bot on Uptake's adapter plumbing (process-lifetime connector pool), without the database."""
    from aiohttp import web
    from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

    from bot.adapters.teams_auth import CachedBotFrameworkAuthentication, ConnectorPool

    class Config:
        APP_ID = ""
        APP_PASSWORD = ""
        APP_TYPE = "MultiTenant"
        APP_TENANTID = ""

    pool = ConnectorPool(app_id=None, password=None, token_url=None)
    auth = CachedBotFrameworkAuthentication(ConfigurationBotFrameworkAuthentication(Config()), pool, emulator=True)
    adapter = CloudAdapter(auth)

    class Echo(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))

    bot = Echo()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    await _run(app, port)


async def role_floor(port: int) -> None:
    import aiohttp
    from aiohttp import web

    from bot.adapters.teams_cards import CARD_CONTENT_TYPE, message_cards
    from bot.model import Message, Section

    lines = "\n".join(f"• `command{i}` — what command {i} does for you" for i in range(6))
    card = message_cards(Message("Here's what I can do.", (Section(heading="What I can do", text=lines),)))[0]
    session: aiohttp.ClientSession | None = None

    async def messages(request: web.Request) -> web.Response:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession()
        a = await request.json()
        reply = {
            "type": "message",
            "from": a["recipient"],
            "recipient": a["from"],
            "conversation": a["conversation"],
            "replyToId": a["id"],
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}],
        }
        url = f"{a['serviceUrl'].rstrip('/')}/v3/conversations/{a['conversation']['id']}/activities"
        async with session.post(url, json=reply) as resp:
            await resp.read()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    await _run(app, port)


ROLES = {
    "mock": role_mock,
    "uptake": role_uptake,
    "baseline": role_baseline,
    "pooled": role_pooled,
    "floor": role_floor,
}
TARGETS = ("uptake", "baseline", "pooled", "floor")


# ---------------------------------------------------------------- the load generator


def start(role: str, port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, "--port", str(port)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"port {port} never opened")


_ids = itertools.count(1)


def activity(service_url: str, user: int, spread: bool = True) -> dict[str, Any]:
    """A `help` message from person `user`; `spread=False` keeps everyone in the app's own tenant (single-tenant)."""
    aad = f"bench-{user}"
    tenant = f"{TENANT}-{user % TENANTS}" if spread else TENANT
    return {
        "type": "message",
        "id": f"b{next(_ids)}-{time.time_ns()}",
        "text": "help",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": f"29:{aad}", "name": f"User {user}", "aadObjectId": aad},
        "conversation": {"id": f"a:personal-{aad}", "conversationType": "personal", "tenantId": tenant},
        "recipient": {"id": "28:bench-bot", "name": "Uptake"},
        "channelData": {"tenant": {"id": tenant}},
        "locale": "en-US",
    }


async def load(
    url: str, service_url: str, requests: int, concurrency: int, token: str | None = None
) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    spread = token is None  # a single-tenant bot with credentials refuses other tenants
    conn = aiohttp.TCPConnector(limit=concurrency + 5)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def worker() -> None:
            nonlocal errors
            while (i := next(counter)) < requests:
                body = activity(service_url, i % PEOPLE, spread)
                t0 = time.perf_counter()
                async with session.post(url, json=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status >= 300 and resp.status != 201:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
        "rps": round(len(latencies) / elapsed, 1),
        "errors": errors,
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) of a target process: the cost of a message independent of how busy
    the machine is, which throughput on a shared machine is not (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stats(mock_url: str) -> dict[str, int]:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(f"{mock_url}/stats") as resp:
        return dict(await resp.json())


async def bench(levels: list[int], requests: int, warmup: int) -> list[dict[str, Any]]:
    mock_port = free_port()
    procs = [start("mock", mock_port)]
    tmp = tempfile.mkdtemp(prefix="uptake-bench-")
    ports = {name: free_port() for name in (*TARGETS, "secure")}
    base_env = {"UPTAKE_HOST": "127.0.0.1", "UPTAKE_LOG_LEVEL": "WARNING"}
    try:
        await wait_ready(mock_port)
        mock_url = f"http://127.0.0.1:{mock_port}"
        service_url = mock_url + "/"
        by_name = {"uptake": start("uptake", ports["uptake"], {**base_env, "UPTAKE_DATA_DIR": f"{tmp}/emu"})}
        by_name.update({name: start(name, ports[name]) for name in TARGETS[1:]})
        procs.extend(by_name.values())
        for name in TARGETS:
            await wait_ready(ports[name])
        results: list[dict[str, Any]] = []
        for c in levels:
            db = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
            row: dict[str, Any] = {"concurrency": c, "requests": requests, "db": db}
            for name in TARGETS:
                url = f"http://127.0.0.1:{ports[name]}/api/messages"
                await load(url, service_url, warmup, min(c, 10))
                cpu0 = cpu_seconds(by_name[name].pid)
                row[name] = await load(url, service_url, requests, c)
                row[name]["cpu_ms_per_request"] = round((cpu_seconds(by_name[name].pid) - cpu0) * 1000 / requests, 2)
            row["ratio_rps"] = round(row["uptake"]["rps"] / row["baseline"]["rps"], 2)
            row["ratio_floor"] = round(row["uptake"]["rps"] / row["floor"]["rps"], 2)
            row["ratio_pooled_echo"] = round(row["pooled"]["rps"] / row["baseline"]["rps"], 2)
            results.append(row)
        results.append(await bench_credentials(ports["secure"], mock_url, tmp, base_env, requests, warmup, procs))
        return results
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)


async def bench_credentials(
    port: int, mock_url: str, tmp: str, base_env: dict[str, str], requests: int, warmup: int, procs: list[Any]
) -> dict[str, Any]:
    """Uptake with credentials at concurrency 50: JWT validated per request, app token fetched once."""
    from tests.support.teams_mock import OpenIdServer

    openid = OpenIdServer()
    openid.start()
    env = {
        **base_env,
        "UPTAKE_DATA_DIR": f"{tmp}/secure",
        "MicrosoftAppId": APP_ID,
        "MicrosoftAppPassword": "bench-secret",
        "MicrosoftAppType": "SingleTenant",
        "MicrosoftAppTenantId": TENANT,
        "UPTAKE_TEAMS_OPENID_METADATA_URL": openid.metadata_url,
        "UPTAKE_TEAMS_LOGIN_URL": mock_url,
    }
    procs.append(start("uptake", port, env))
    try:
        await wait_ready(port)
        service_url = mock_url + "/"
        token = openid.sign(audience=APP_ID, service_url=service_url)
        url = f"http://127.0.0.1:{port}/api/messages"
        before = (await stats(mock_url))["token_requests"]
        await load(url, service_url, warmup, 10, token)
        t0 = time.monotonic()
        result = await load(url, service_url, requests, 50, token)
        elapsed = time.monotonic() - t0
        after = await stats(mock_url)
        return {
            "credentials": {
                **result,
                "concurrency": 50,
                "requests": requests + warmup,
                "token_requests": after["token_requests"] - before,
                "token_lifetime_s": 3600,
                "seconds": round(elapsed, 1),
            }
        }
    finally:
        openid.stop()


def table(results: list[dict[str, Any]]) -> str:
    def cell(m: dict[str, Any]) -> str:
        return f"{m['p50_ms']:>7}/{m['p99_ms']:<7} {m['rps']:>6} {m.get('cpu_ms_per_request', 0):>5}ms"

    out = [
        f"{'c':>3} | {'uptake p50/p99 rps cpu':>29} | {'botbuilder echo':>29} | {'pooled echo':>29} | "
        f"{'raw floor':>29} | ×echo ×floor pooled×echo"
    ]
    for r in results:
        if "credentials" in r:
            c = r["credentials"]
            out.append(
                f"with credentials, c=50: p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, {c['rps']} rps; token requests: "
                f"{c['token_requests']} for {c['requests']} replies (token lifetime {c['token_lifetime_s']} s)"
            )
            continue
        cells = " | ".join(cell(r[name]) for name in TARGETS)
        out.append(
            f"{r['concurrency']:>3} | {cells} | {r['ratio_rps']:>5} {r['ratio_floor']:>6} {r['ratio_pooled_echo']:>6}"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, action="append", help="repeatable; default 1, 10, 50")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per target and level")
    parser.add_argument(
        "--warmup", type=int, default=PEOPLE, help="requests before each measurement (default: every person once)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--db", "--database-url", dest="database_url", help="Uptake's database (default: SQLite in a temp dir)"
    )
    args = parser.parse_args()
    if args.role:
        asyncio.run(ROLES[args.role](args.port))
        return
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    results = asyncio.run(bench(args.concurrency or [1, 10, 50], args.requests, args.warmup))
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        print(table(results))


if __name__ == "__main__":
    main()
