"""Storage: the async engine, sessions and the declarative base every table derives from."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import JSON, DateTime, MetaData, event, make_url, text
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from bot.config import ROOT

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC; always hands back an aware datetime (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Database:
    """One engine and session factory per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["async_creator"] = partial(_connect_sqlite, url)
            # The pool's rollback-on-return is one more hop to aiosqlite's thread per request even when nothing is
            # open; `_sqlite_reset` rolls back only a connection that is still inside a transaction.
            kwargs["pool_reset_on_return"] = None
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=10)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "reset", _sqlite_reset)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        memory = self.is_sqlite and (":memory:" in url or "mode=memory" in url or url.rstrip("/").endswith(":"))
        dialect = self.engine.dialect
        known = dialect.name == "sqlite" or (dialect.name == "postgresql" and dialect.driver == "asyncpg")
        self.hot: HotPath | None = HotPath(self) if known and not memory else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        session = self.sessions()
        try:
            yield session
        finally:
            await self.release(session)

    async def release(self, session: AsyncSession) -> None:
        """Close a session from `sessions()`, cheaply when it holds no connection."""
        if session.in_transaction():
            # A connection may be held: close in a task of its own that a cancellation cannot abandon.
            async with session:
                pass
        else:
            # Committed or rolled back: no connection is held and closing only forgets the objects (no I/O),
            # so skip the task and greenlet that AsyncSession's exit costs on every request.
            session.sync_session.close()

    async def ping(self, timeout: float = 3.0) -> None:
        """Raise if the database does not answer (health checks, start-up)."""
        async with asyncio.timeout(timeout), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        if self.hot is not None:
            await self.hot.close()
        await self.engine.dispose()


class Prepared:
    """A Core statement compiled once for the engine's dialect: SQL text, positional parameter order, and the
    bind/result processors SQLAlchemy would apply (dates and JSON on SQLite, time zones), so the driver can run it
    without SQLAlchemy's per-execution machinery."""

    def __init__(self, stmt: Any, dialect: Any) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        names = list(compiled.positiontup or [])
        binds = compiled._bind_processors
        self.params = [(name, binds.get(name)) for name in names]
        self.results: list[Any] = []
        self.named: dict[str, Any] | None = None  # results by "table.column", filled by the first user
        if getattr(stmt, "is_select", False):
            self.results = [c.type._cached_result_processor(dialect, None) for c in stmt.selected_columns]

    def args(self, params: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(params[n] if p is None else p(params[n]) for n, p in self.params)

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(v if p is None or v is None else p(v) for p, v in zip(self.results, raw, strict=True))


class HotPath:
    """The request path's read and its idempotency-key write straight on the driver, one round trip each.

    Every chat message costs one read (who is asking) and, when the handler wrote nothing, one write (its key).
    Through the ORM session those were ~60 % of a message's CPU (session, unit of work, greenlet, pool checkout,
    pre-ping, BEGIN/COMMIT round trips). Here: SQLite has a reader and a writer connection of its own (one thread
    each; a hop is one statement, or INSERT + COMMIT, so requests never interleave inside a transaction and
    writers queue in-process instead of sleeping in SQLite's busy handler); PostgreSQL a small asyncpg pool whose
    statements run in autocommit (one round trip, prepared once per connection). Anything unusual falls back
    to the session path, which stays the reference behaviour.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.engine.dialect
        self._prepared: dict[Any, Prepared] = {}
        self._sqlite: dict[str, aiosqlite.Connection] = {}
        self._pg: _PgConnections | None = None
        self._opening = asyncio.Lock()  # SQLite: one reader and one writer, opened once

    def prepare(self, stmt: Any) -> Prepared:
        found = self._prepared.get(stmt)
        if found is None:
            found = self._prepared[stmt] = Prepared(stmt, self.dialect)
        return found

    def _bound(self, stmt: Any, params: dict[str, Any]) -> tuple[Prepared, tuple[Any, ...]]:
        """The prepared statement and its driver arguments: every statement this class runs passes here once."""
        prep = self.prepare(stmt)
        return prep, prep.args(params)

    async def fetchone(self, stmt: Any, params: dict[str, Any], *, raw: bool = False) -> Sequence[Any] | None:
        """The first row of a SELECT, processed as SQLAlchemy would (None if there is none); `raw`: as the driver
        returned it, for a caller that processes only the columns it uses (`Prepared.results`)."""
        prep, args = self._bound(stmt, params)
        if self.db.is_sqlite:
            conn = await self._sqlite_conn("read")
            found = await conn._execute(_sqlite_fetchone, conn._conn, prep.sql, args)
        else:
            found = await self._pg_conns().run("fetchrow", prep.sql, args)
        return found if found is None or raw else prep.row(found)

    async def insert(self, stmt: Any, params: dict[str, Any]) -> bool:
        """Run one INSERT and commit it; False (nothing written) if it violates a unique constraint."""
        prep, args = self._bound(stmt, params)
        if self.db.is_sqlite:
            conn = await self._sqlite_conn("write")
            return bool(await conn._execute(_sqlite_insert_commit, conn._conn, prep.sql, args))
        import asyncpg

        try:
            await self._pg_conns().run("execute", prep.sql, args)
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def _sqlite_conn(self, role: str) -> aiosqlite.Connection:
        conn = self._sqlite.get(role)
        if conn is None:
            async with self._opening:
                conn = self._sqlite.get(role)
                if conn is None:
                    conn = await _connect_sqlite(self.db.url)
                    await conn._execute(_sqlite_pragmas, conn._conn, None)
                    self._sqlite[role] = conn
        return conn

    def _pg_conns(self) -> _PgConnections:
        if self._pg is None:
            args, kwargs = self.dialect.create_connect_args(self.db.engine.url)
            self._pg = _PgConnections(list(args), dict(kwargs), size=10)
        return self._pg

    async def close(self) -> None:
        conns, self._sqlite = list(self._sqlite.values()), {}
        for conn in conns:
            await conn.close()
        pg, self._pg = self._pg, None
        if pg is not None:
            await pg.close()


def _sqlite_fetchone(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> Any:
    cursor = conn.execute(sql, args)
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


def _sqlite_insert_commit(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> bool:
    try:
        conn.execute(sql, args).close()
    except sqlite3.IntegrityError:
        conn.rollback()
        return False
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return True


class _PgConnections:
    """Up to `size` asyncpg connections for the hot path's single autocommit statements.

    asyncpg's own Pool costs ~40 µs of CPU per use (holders, timeouts, and a reset query — one more round trip —
    on every release); these statements set no session state, so a stack of idle connections is enough. A
    connection whose statement failed other than by a constraint, or was cancelled, is closed, never reused.
    """

    def __init__(self, args: list[Any], kwargs: dict[str, Any], *, size: int) -> None:
        self._args, self._kwargs, self._size = args, kwargs, size
        self._idle: list[Any] = []
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._open = 0
        self._closed = False

    async def run(self, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        import asyncpg

        conn = await self._acquire()
        try:
            result = await getattr(conn, method)(sql, *args)
        except asyncpg.IntegrityConstraintViolationError:
            self._release(conn)
            raise
        except BaseException:
            self._discard(conn)
            raise
        self._release(conn)
        return result

    async def _acquire(self) -> Any:
        if self._closed:
            raise RuntimeError("database closed")
        if self._idle:
            return self._idle.pop()
        if self._open < self._size:
            import asyncpg

            self._open += 1
            try:
                conn = await asyncpg.connect(*self._args, **self._kwargs)
                await _pg_codecs(conn)
            except BaseException:
                self._open -= 1
                self._wake_opener()
                raise
            return conn
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            conn = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                if waiter.result() is not None:
                    self._release(waiter.result())  # handed over just as we were cancelled: pass it on
                else:
                    self._wake_opener()
            raise
        return conn if conn is not None else await self._acquire()

    def _release(self, conn: Any) -> None:
        if self._closed or conn.is_closed():
            self._discard(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _discard(self, conn: Any) -> None:
        self._open -= 1
        conn.terminate()
        self._wake_opener()

    def _wake_opener(self) -> None:
        """A slot freed up: the first waiter opens a connection of its own (None means "try again")."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._open -= 1
            await conn.close()


async def _pg_codecs(conn: Any) -> None:
    """JSON decoded as SQLAlchemy's asyncpg dialect sets it up, so its result processors apply unchanged."""
    import json

    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class _OneHopCursor:
    """An aiosqlite-compatible cursor that runs execute + fetchall + close in ONE call to the connection's thread.

    aiosqlite's own cursor costs SQLAlchemy four hops per SELECT (cursor, execute, fetchall, close) and three per
    write; each hop is a queue put, a thread wake-up, a GIL hand-over and a self-pipe wake-up of the event loop.
    Rows are buffered, as SQLAlchemy's adapter buffers them anyway (Uptake never streams results).
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []

    async def __aenter__(self) -> _OneHopCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def _run(self, many: bool, sql: str, parameters: Any) -> tuple[Any, list[Any], int, int | None]:
        # Runs in aiosqlite's thread, the only one allowed to touch the sqlite3 connection.
        cursor = self._connection._conn.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            elif parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            rows = cursor.fetchall() if cursor.description else []
            return cursor.description, rows, cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> _OneHopCursor:
        result = await self._connection._execute(self._run, False, sql, parameters)
        self.description, self._rows, self.rowcount, self.lastrowid = result
        return self

    async def executemany(self, sql: str, parameters: Any) -> _OneHopCursor:
        result = await self._connection._execute(self._run, True, sql, parameters)
        self.description, self._rows, self.rowcount, self.lastrowid = result
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchall(self) -> Sequence[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


class _OneHopConnection(aiosqlite.Connection):
    """aiosqlite's connection whose cursors take one hop per statement (see `_OneHopCursor`)."""

    def cursor(self) -> _OneHopCursor:  # type: ignore[override]
        return _OneHopCursor(self)


async def _connect_sqlite(url: str) -> aiosqlite.Connection:
    """What SQLAlchemy's aiosqlite dialect would open (same file and options), with one-hop cursors."""
    args, options = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    options["timeout"] = 30
    connection = _OneHopConnection(partial(sqlite3.connect, *args, **options), iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy does: a forgotten connection must not block exit
    return await connection


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_reset(dbapi_conn: Any, record: Any, state: Any) -> None:
    """Return a connection to the pool clean: roll back only if a transaction is still open (read in process)."""
    if state.terminate_only:
        return
    if getattr(record.driver_connection, "in_transaction", True):
        dbapi_conn.rollback()


def alembic_config(url: str) -> Any:
    """Alembic's config pointed at our migrations and the given URL (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Run migrations (blocking; call from a thread inside a running loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
