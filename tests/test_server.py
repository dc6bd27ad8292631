"""The real aiohttp server: health on a live database, 503 without one, graceful start and stop."""

from __future__ import annotations

import asyncio
import socket

import aiohttp

from bot.clock import FrozenClock
from bot.db import Database
from bot.runtime import Runtime
from bot.web import RUNTIME, serve
from tests.conftest import make_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start(rt: Runtime, port: int) -> tuple[asyncio.Task[None], asyncio.Event]:
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(rt, host="127.0.0.1", port=port, worker=True, ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 15)
    return task, stop


async def test_health_ok_then_graceful_stop(db_url: str) -> None:
    rt = Runtime(make_settings(db_url), db=Database(db_url), clock=FrozenClock())
    port = free_port()
    task, stop = await _start(rt, port)
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["status"] == "ok"
    stop.set()
    await asyncio.wait_for(task, 20)
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(f"http://127.0.0.1:{port}/healthz"):
                raise AssertionError("server still accepting after stop")
        except aiohttp.ClientConnectionError:
            pass


async def test_in_flight_request_finishes_during_shutdown(db_url: str) -> None:
    rt = Runtime(make_settings(db_url), db=Database(db_url), clock=FrozenClock())
    port = free_port()
    from aiohttp import web

    import bot.web as web_mod

    original = web_mod.build_app

    async def build_with_slow(rt_: Runtime) -> web.Application:
        app = await original(rt_)

        async def slow(request: web.Request) -> web.Response:
            await asyncio.sleep(1.0)
            return web.Response(text="done")

        app.router.add_get("/slow", slow)
        return app

    web_mod.build_app = build_with_slow  # type: ignore[assignment]
    try:
        task, stop = await _start(rt, port)
        async with aiohttp.ClientSession() as http:
            pending = asyncio.create_task(http.get(f"http://127.0.0.1:{port}/slow"))
            await asyncio.sleep(0.3)
            stop.set()
            resp = await pending
            assert resp.status == 200 and await resp.text() == "done"
        await asyncio.wait_for(task, 20)
    finally:
        web_mod.build_app = original  # type: ignore[assignment]


async def test_health_503_when_database_is_down(tmp_path) -> None:
    url = "postgresql+asyncpg://nobody:pw@127.0.0.1:1/none"
    rt = Runtime(make_settings(url), db=Database(url), clock=FrozenClock())
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web import healthz

    app = web.Application()
    app[RUNTIME] = rt
    app.router.add_get("/healthz", healthz)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/healthz")
        assert resp.status == 503
        assert (await resp.json())["status"] == "error"
    await rt.close()
