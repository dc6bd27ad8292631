"""Test fixtures: a migrated database per test (SQLite by default, PostgreSQL with TEST_DATABASE_URL),
a runtime with a frozen clock, and a chat harness where a scenario reads like a conversation."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.clock import FrozenClock
from bot.config import ROOT, Settings, normalise_db_url
from bot.db import Base, Database, upgrade
from bot.runtime import Runtime
from tests.chat import Chat

pytest_plugins = ["tests.support.slack_fixtures", "tests.support.teams_fixtures"]

PG_ENV = "TEST_DATABASE_URL"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def pg_server_url() -> str | None:
    """The PostgreSQL server to test against, if it answers (TEST_DATABASE_URL, else the local default)."""
    url = os.environ.get(PG_ENV)
    return normalise_db_url(url) if url else None


async def _create_database(server_url: str) -> str:
    name = f"uptake_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per session: a SQLite file to copy, or a fresh PostgreSQL database to truncate."""
    server = pg_server_url()
    if server:
        url = asyncio.run(_create_database(server))
        upgrade(url)
        yield url
        asyncio.run(_drop_database(server, url))
    else:
        path = tmp_path_factory.mktemp("template") / "uptake.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url


async def _truncate(url: str) -> None:
    engine = create_async_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture
async def db_url(migrated_template: str, tmp_path: Path) -> str:
    if migrated_template.startswith("postgresql"):
        await _truncate(migrated_template)
        return migrated_template
    src = Path(migrated_template.split("///", 1)[1])
    dst = tmp_path / "uptake.db"
    shutil.copy(src, dst)
    return f"sqlite+aiosqlite:///{dst}"


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "content_dir": ROOT / "content",
        "admins": "console:local:root",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def runtime(db_url: str, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = Runtime(make_settings(db_url, data_dir=tmp_path / "data"), db=Database(db_url), clock=clock)
    rt.load_content()
    yield rt
    await rt.close()


@pytest.fixture
async def chat(runtime: Runtime) -> Chat:
    return Chat(runtime)
