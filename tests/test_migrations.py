"""Migrations reach head and back to base on SQLite and PostgreSQL, and agree with the ORM metadata."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

import handlers  # noqa: F401
from bot.db import Base, downgrade, upgrade
from tests.conftest import _create_database, _drop_database, pg_server_url


def _diff_and_tables(url: str) -> tuple[list, set[str]]:
    async def run() -> tuple[list, set[str]]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:

            def check(sync_conn):  # type: ignore[no-untyped-def]
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(ctx, Base.metadata), set(inspect(sync_conn).get_table_names())

            result = await conn.run_sync(check)
        await engine.dispose()
        return result

    return asyncio.run(run())


def _round_trip(url: str) -> None:
    upgrade(url)
    diff, tables = _diff_and_tables(url)
    assert diff == [], f"ORM and migrations disagree: {diff}"
    assert {"rollouts", "people", "audit_log", "processed_events", "outbox"} <= tables
    downgrade(url, "base")
    _, tables = _diff_and_tables(url)
    assert tables <= {"alembic_version"}
    upgrade(url)


def test_sqlite_upgrade_downgrade_and_autogenerate_agree(tmp_path: Path) -> None:
    _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


def test_postgres_upgrade_downgrade_and_autogenerate_agree() -> None:
    server = pg_server_url()
    if server is None:
        pytest.skip("PostgreSQL not configured: set TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    url = asyncio.run(_create_database(server))
    try:
        _round_trip(url)
    finally:
        asyncio.run(_drop_database(server, url))
