"""The shared request path stays cheap and correct: one read for who is asking (person, identity, rollout, role and
the idempotency check), one write for the key, nothing cached across requests (so changes made elsewhere are seen
by the very next request), last_seen_at written only every few minutes, and a clean pool on SQLite. The read and the
key go straight to the driver (bot.db.HotPath); ORM objects and a session exist only if the handler uses them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, func, select, text

import bot.db
from bot.model import Identity, Request, Role, Text
from bot.people import LAST_SEEN_EVERY, Duplicate, load_caller, set_role
from bot.router import handle, home_view
from bot.runtime import Runtime
from bot.tables import AuditEntry, Person, PlatformIdentity, ProcessedEvent, Rollout
from tests.chat import Chat


@contextmanager
def statements(rt: Runtime) -> Iterator[list[str]]:
    """Every SQL statement sent while inside the block: through the engine (its cursor event), and on the driver
    (bot.db.HotPath, whose statements all pass through `_bound`: wrapped here, so production code carries no hook)."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(" ".join(statement.split()))

    hot = rt.db.hot
    patch = pytest.MonkeyPatch()
    if hot is not None:
        bound = hot._bound

        def recorded(stmt: Any, params: dict[str, Any]) -> tuple[bot.db.Prepared, tuple[Any, ...]]:
            prep, args = bound(stmt, params)
            seen.append(" ".join(prep.sql.split()))
            return prep, args

        patch.setattr(hot, "_bound", recorded)
    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", record)
        patch.undo()


async def test_a_known_person_costs_one_read_and_one_write(chat: Chat) -> None:
    eve = await chat.person("Eve")
    await eve.says("help")  # first request: last_seen_at may be written
    with statements(chat.rt) as seen:
        await eve.says("help")
    assert "What I can do" in eve.last_reply.text
    assert len(seen) == 2, seen
    assert seen[0].startswith("SELECT") and "processed_events" in seen[0]
    assert seen[1].startswith("INSERT INTO processed_events")


async def test_a_retry_is_answered_with_nothing_after_one_read(chat: Chat) -> None:
    eve = await chat.person("Eve")
    first = await eve.says("help", event_id="Ev-retry")
    with statements(chat.rt) as seen:
        again = await eve.says("help", event_id="Ev-retry")
    assert first.message is not None and again.message is None
    assert len(seen) == 1, seen
    async with chat.rt.db.session() as s:
        assert await s.scalar(select(func.count()).where(ProcessedEvent.key == "Ev-retry")) == 1


async def test_first_contact_takes_the_slow_path_and_is_idempotent_too(chat: Chat) -> None:
    new = Identity("slack", "T9", "UNEW", display_name="Newcomer")
    request = Request(new, Text("help"), event_id="Ev-first")
    first = await handle(chat.rt, request)
    again = await handle(chat.rt, request)
    assert first.message is not None and "What I can do" in first.text
    assert again.message is None
    async with chat.rt.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Person).where(Person.display_name == "Newcomer")) == 1
        caller = await load_caller(s, new, chat.rt.clock.now(), slug=chat.rt.settings.rollout, admins=set())
        assert caller is not None and caller.person.display_name == "Newcomer" and caller.role == Role.employee
        with pytest.raises(Duplicate):
            await load_caller(s, new, chat.rt.clock.now(), slug=chat.rt.settings.rollout, admins=set(), key="Ev-first")


async def test_grant_and_revoke_elsewhere_are_seen_by_the_next_request(chat: Chat) -> None:
    eve = await chat.person("Eve")
    await eve.says("help")
    assert "content reload" not in eve.last_reply.text
    # Another process (a second server, the CLI) changes the role in its own transaction.
    async with chat.rt.db.session() as s:
        person = await s.get_one(Person, eve.person_id)
        await set_role(s, await chat.rt.default_rollout(s), person, Role.change_lead)
        await s.commit()
    await eve.says("help")
    assert "content reload" in eve.last_reply.text and "You are a change-lead" in eve.last_reply.text
    async with chat.rt.db.session() as s:
        person = await s.get_one(Person, eve.person_id)
        await set_role(s, await chat.rt.default_rollout(s), person, Role.employee)
        await s.commit()
    await eve.says("help")
    assert "content reload" not in eve.last_reply.text


async def test_admins_from_settings_are_admins_on_the_fast_path(chat: Chat) -> None:
    root = await chat.person("Root")  # console:local:root is in the test settings' admins
    await root.says("help")
    await root.says("help")
    assert "grant PERSON ROLE" in root.last_reply.text


async def test_rollout_changes_elsewhere_are_seen_by_the_next_request(chat: Chat) -> None:
    eve = await chat.person("Eve")
    identity = eve.identity
    async with chat.rt.db.session() as s:
        rollout = await s.scalar(select(Rollout).where(Rollout.slug == chat.rt.settings.rollout))
        assert rollout is not None
        rollout.phase, rollout.name = "adopt", "Renamed rollout"
        await s.commit()
    blocks = await home_view(chat.rt, identity)
    assert "Renamed rollout" in (blocks[0].heading or "") and "*adopt*" in blocks[0].text


async def test_a_rename_elsewhere_shows_in_the_next_help(chat: Chat) -> None:
    ana = await chat.person("Ana", role=Role.change_lead)
    await ana.says("help")
    async with chat.rt.db.session() as s:
        rollout = await s.scalar(select(Rollout).where(Rollout.slug == chat.rt.settings.rollout))
        assert rollout is not None and rollout.name in ana.last_reply.text
        rollout.name = "Claims triage, renamed"
        await s.commit()
    await ana.says("help")
    assert "You are a change-lead in Claims triage, renamed" in ana.last_reply.text


async def test_sqlite_statement_is_one_call_into_the_driver_thread(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    if not chat.rt.db.is_sqlite:
        pytest.skip("aiosqlite")
    calls: list[object] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: object, *args: object, **kwargs: object) -> object:
        calls.append(fn)
        return await original(self, fn, *args, **kwargs)

    eve = await chat.person("Eve")
    await eve.says("help")
    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    await eve.says("help")
    assert "What I can do" in eve.last_reply.text
    assert len(calls) == 2, calls  # the read; the key and its commit (session + aiosqlite's own cursor: 8)


async def test_last_seen_is_written_only_every_few_minutes(chat: Chat) -> None:
    eve = await chat.person("Eve")

    async def last_seen() -> object:
        async with chat.rt.db.session() as s:
            return await s.scalar(
                select(PlatformIdentity.last_seen_at).where(PlatformIdentity.user_id == eve.identity.user_id)
            )

    start = chat.rt.clock.now()
    await eve.says("help")
    assert await last_seen() == start
    chat.rt.clock.advance(minutes=1)
    with statements(chat.rt) as seen:
        await eve.says("help")
    assert await last_seen() == start and not any(s.startswith("UPDATE") for s in seen)
    later = chat.rt.clock.advance(seconds=LAST_SEEN_EVERY.total_seconds())
    await eve.says("help")
    assert await last_seen() == later


async def test_profile_changes_from_the_platform_are_stored(chat: Chat) -> None:
    eve = await chat.person("Eve")
    renamed = Identity(eve.identity.platform, eve.identity.workspace, eve.identity.user_id, display_name="Eve R.")
    await handle(chat.rt, Request(renamed, Text("help"), event_id="Ev-rename"))
    async with chat.rt.db.session() as s:
        assert (await s.get_one(Person, eve.person_id)).display_name == "Eve R."


async def test_sqlite_connection_given_back_inside_a_transaction_is_rolled_back(chat: Chat) -> None:
    db = chat.rt.db
    if not db.is_sqlite:
        pytest.skip("SQLite pool reset")
    async with db.session() as s:
        await s.execute(text("INSERT INTO processed_events (key, at) VALUES ('left-open', '2026-01-01 00:00:00')"))
        raw = await (await s.connection()).get_raw_connection()
        assert raw.driver_connection.in_transaction
        # closed without commit or rollback: the pool must not hand out a connection still holding the write lock
        await s.close()
    async with db.session() as s:
        await s.execute(text("INSERT INTO processed_events (key, at) VALUES ('next', '2026-01-01 00:00:00')"))
        await s.commit()
        keys = set(await s.scalars(select(ProcessedEvent.key).where(ProcessedEvent.key.in_(["left-open", "next"]))))
    assert keys == {"next"}


async def test_a_handler_that_changes_the_person_commits_with_the_key(chat: Chat) -> None:
    """The driver-level read builds no ORM objects; one a handler touches is in its session and saved as before."""
    eve = await chat.person("Eve")
    await eve.says("help")
    with statements(chat.rt) as seen:
        await eve.says("settings mute notification", event_id="Ev-mute")
    assert any(s.startswith("UPDATE people") for s in seen), seen
    async with chat.rt.db.session() as s:
        person = await s.get_one(Person, eve.person_id)
        assert person.notify_prefs == {"muted": ["notification"]}
        assert await s.get(ProcessedEvent, "Ev-mute") is not None
    again = await eve.says("settings mute notification", event_id="Ev-mute")
    assert again.message is None


async def test_concurrent_copies_of_one_event_are_answered_once(chat: Chat) -> None:
    eve = await chat.person("Eve")
    await eve.says("help")
    replies = await asyncio.gather(*(eve.says("help", event_id="Ev-twice") for _ in range(5)))
    assert sum(r.message is not None for r in replies) == 1
    async with chat.rt.db.session() as s:
        assert await s.scalar(select(func.count()).where(ProcessedEvent.key == "Ev-twice")) == 1


async def test_a_denial_on_the_driver_path_is_audited_and_writes_no_key(chat: Chat) -> None:
    eve = await chat.person("Eve")
    await eve.says("help")
    reply = await eve.command("grant", "Eve admin", event_id="Ev-denied")
    assert reply.text.startswith("Sorry, only a") and "Ask your change lead" in reply.text
    async with chat.rt.db.session() as s:
        audits = list(await s.scalars(select(AuditEntry).where(AuditEntry.actor_id == eve.person_id)))
        assert [a.action for a in audits] == ["denied"]
        assert await s.get(ProcessedEvent, "Ev-denied") is None


async def test_a_broken_driver_connection_falls_back_to_the_session(chat: Chat) -> None:
    """The driver path is an accelerator: if its connection is gone, the answer comes through the session."""
    hot = chat.rt.db.hot
    if hot is None:
        pytest.skip("no driver path")
    eve = await chat.person("Eve")
    await eve.says("help")
    if chat.rt.db.is_sqlite:
        for conn in hot._sqlite.values():
            await conn.close()  # still registered: the next statement on it fails
    else:
        for conn in list(hot._pg_conns()._idle):
            conn.terminate()  # as if the server dropped it
    reply = await eve.says("help", event_id="Ev-broken")
    assert "What I can do" in reply.text
    async with chat.rt.db.session() as s:
        assert await s.get(ProcessedEvent, "Ev-broken") is not None
    await hot.close()  # a fresh start: the next request opens new connections
    await eve.says("help")
    assert "What I can do" in eve.last_reply.text


async def test_many_concurrent_requests_share_a_bounded_set_of_driver_connections(chat: Chat) -> None:
    people = [await chat.person(f"P{i}") for i in range(12)]
    for p in people:
        await p.says("help")
    replies = await asyncio.gather(*(p.says("help") for p in people for _ in range(3)))
    assert all("What I can do" in r.text for r in replies)
    hot = chat.rt.db.hot
    if hot is not None and not chat.rt.db.is_sqlite:
        pg = hot._pg_conns()
        assert pg._open <= pg._size and not pg._waiters


@contextmanager
def key_write_fails(rt: Runtime, *, committed: bool, other_attempt: str | None = None) -> Iterator[list[str]]:
    """The next idempotency-key INSERT on the driver path fails as a dropped connection does: after the database
    committed it (`committed`: the client never got the answer) or before it ran. With `other_attempt`, another
    attempt of the same event (a platform retry, another process) writes the key just before the failure.

    Injected at our own driver boundary (bot.db's SQLite hop, the asyncpg connections of `_PgConnections`), never
    in an SDK client. Yields the statements the fault fired on (one at most)."""
    fired: list[str] = []
    hot = rt.db.hot
    assert hot is not None
    patch = pytest.MonkeyPatch()

    def armed(sql: str) -> bool:
        if fired or not sql.startswith("INSERT INTO processed_events"):
            return False
        fired.append(sql)
        return True

    if rt.db.is_sqlite:
        original = bot.db._sqlite_insert_commit

        def insert_then_fail(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> bool:
            if not armed(sql):
                return original(conn, sql, args)
            if other_attempt is not None:
                conn.execute(_OTHER_SQLITE, (args[0], args[1], other_attempt)).close()
                conn.commit()
            if committed:
                original(conn, sql, args)
            raise sqlite3.OperationalError("disk I/O error")

        patch.setattr(bot.db, "_sqlite_insert_commit", insert_then_fail)
    else:
        import asyncpg

        class DropsAfter:
            """An asyncpg connection that loses the link around the armed INSERT."""

            def __init__(self, conn: Any) -> None:
                self._conn = conn

            def __getattr__(self, name: str) -> Any:
                return getattr(self._conn, name)

            async def execute(self, sql: str, *args: Any) -> Any:
                if not armed(sql):
                    return await self._conn.execute(sql, *args)
                if other_attempt is not None:
                    await self._conn.execute(_OTHER_PG, args[0], args[1], other_attempt)
                if committed:
                    await self._conn.execute(sql, *args)
                self._conn.terminate()
                raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

        acquire = bot.db._PgConnections._acquire

        async def wrapped(self: bot.db._PgConnections) -> Any:
            conn = await acquire(self)
            return conn if isinstance(conn, DropsAfter) else DropsAfter(conn)

        patch.setattr(bot.db._PgConnections, "_acquire", wrapped)
    try:
        yield fired
    finally:
        patch.undo()


_OTHER_SQLITE = "INSERT INTO processed_events (key, at, attempt) VALUES (?, ?, ?)"
_OTHER_PG = "INSERT INTO processed_events (key, at, attempt) VALUES ($1, $2, $3)"


async def _keys(rt: Runtime, key: str) -> list[tuple[str, str | None]]:
    async with rt.db.session() as s:
        rows = await s.execute(select(ProcessedEvent.key, ProcessedEvent.attempt).where(ProcessedEvent.key == key))
        return [(k, a) for k, a in rows]


async def test_a_key_committed_but_not_acknowledged_still_gets_its_reply(chat: Chat) -> None:
    """The driver's INSERT of the key committed, then the connection dropped before the answer came back: the
    session fallback finds the key, and must recognise it as this request's own write, not a platform retry."""
    if chat.rt.db.hot is None:
        pytest.skip("no driver path")
    eve = await chat.person("Eve")
    await eve.says("help")
    with key_write_fails(chat.rt, committed=True) as fired:
        reply = await eve.says("help", event_id="Ev-unacked")
    assert fired, "the fault never fired"
    assert "What I can do" in reply.text
    keys = await _keys(chat.rt, "Ev-unacked")
    assert len(keys) == 1 and keys[0][1] is not None
    # The platform retries (in this process, or after a restart: a new attempt either way): dropped.
    await chat.rt.db.close()
    again = await eve.says("help", event_id="Ev-unacked")
    assert again.message is None
    assert await _keys(chat.rt, "Ev-unacked") == keys


async def test_a_key_written_by_another_attempt_is_still_a_duplicate_on_the_fallback(chat: Chat) -> None:
    """The driver's INSERT never ran, and meanwhile another attempt of the same event recorded the key: the
    fallback must drop this one (the other attempt answers), exactly as before."""
    if chat.rt.db.hot is None:
        pytest.skip("no driver path")
    eve = await chat.person("Eve")
    await eve.says("help")
    with key_write_fails(chat.rt, committed=False, other_attempt="other") as fired:
        reply = await eve.says("help", event_id="Ev-raced")
    assert fired, "the fault never fired"
    assert reply.message is None
    assert await _keys(chat.rt, "Ev-raced") == [("Ev-raced", "other")]


async def test_a_key_write_that_never_ran_is_written_by_the_session(chat: Chat) -> None:
    if chat.rt.db.hot is None:
        pytest.skip("no driver path")
    eve = await chat.person("Eve")
    await eve.says("help")
    with key_write_fails(chat.rt, committed=False) as fired:
        reply = await eve.says("help", event_id="Ev-dropped")
    assert fired and "What I can do" in reply.text
    assert len(await _keys(chat.rt, "Ev-dropped")) == 1
    assert (await eve.says("help", event_id="Ev-dropped")).message is None


async def test_concurrent_copies_with_an_unacknowledged_key_are_answered_once(chat: Chat) -> None:
    if chat.rt.db.hot is None:
        pytest.skip("no driver path")
    eve = await chat.person("Eve")
    await eve.says("help")
    with key_write_fails(chat.rt, committed=True) as fired:
        replies = await asyncio.gather(*(eve.says("help", event_id="Ev-copies") for _ in range(5)))
    assert fired
    assert sum(r.message is not None for r in replies) == 1
    assert len(await _keys(chat.rt, "Ev-copies")) == 1
