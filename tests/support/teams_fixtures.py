"""Pytest fixtures that start the REAL Uptake server (bot.web.build_app) with the Teams endpoint, next to a local
mock Bot Connector: `teams` in local emulator mode, `teams_secure` with credentials, a local OpenID/JWKS server and
a local app-token endpoint. See tests/support/teams_harness.py for the API (`await teams.says(...)`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

import bot.adapters.teams_store  # noqa: F401  (Teams tables in the metadata the test database is built from)
from bot.clock import FrozenClock
from bot.db import Database
from bot.runtime import Runtime
from tests.support.teams_harness import TENANT, TeamsHarness
from tests.support.teams_mock import MockConnector, OpenIdServer

APP_ID = "11111111-2222-3333-4444-555555555555"
APP_PASSWORD = "test-secret-not-real"


async def _serve(rt: Runtime) -> tuple[web.AppRunner, str]:
    from bot.web import build_app

    app = await build_app(rt)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def teams_connector() -> AsyncIterator[MockConnector]:
    mock = MockConnector()
    await mock.start()
    yield mock
    await mock.stop()


@pytest.fixture
async def teams(runtime: Runtime, teams_connector: MockConnector) -> AsyncIterator[TeamsHarness]:
    """Uptake on 127.0.0.1 with no MicrosoftAppId: local emulator mode (unauthenticated, loopback only)."""
    runner, url = await _serve(runtime)
    async with aiohttp.ClientSession() as session:
        yield TeamsHarness(url, teams_connector, session, runtime=runtime)
    await runner.cleanup()


@pytest.fixture
async def teams_openid() -> AsyncIterator[OpenIdServer]:
    server = OpenIdServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def teams_secure(
    db_url: str, clock: FrozenClock, teams_connector: MockConnector, teams_openid: OpenIdServer
) -> AsyncIterator[TeamsHarness]:
    """Uptake with credentials: every activity needs a valid JWT (signed by the local OpenID key); replies carry
    an app token from the mock token endpoint."""
    from tests.conftest import make_settings

    settings = make_settings(
        db_url,
        microsoft_app_id=APP_ID,
        microsoft_app_password=APP_PASSWORD,
        microsoft_app_type="SingleTenant",
        microsoft_app_tenant_id=TENANT,
        teams_openid_metadata_url=teams_openid.metadata_url,
        teams_login_url=teams_connector.url,
    )
    rt = Runtime(settings, db=Database(db_url), clock=clock)
    rt.load_content()
    runner, url = await _serve(rt)
    async with aiohttp.ClientSession() as session:
        yield TeamsHarness(url, teams_connector, session, openid=teams_openid, app_id=APP_ID, runtime=rt)
    await runner.cleanup()
    await rt.close()
