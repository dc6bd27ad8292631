"""The outbox sender: claims due rows, sends them through the platform adapters, records the outcome.

A row goes pending → sending (committed, with a lease and the worker's id, before any platform call) → sent |
failed (with a reason) | cancelled (muted). On PostgreSQL the claim uses FOR UPDATE SKIP LOCKED, so K workers
never claim the same row; on SQLite the single writer plus a status guard does the same. Rows left in `sending`
past their lease (a crashed worker) are reconciled through the sender's `find_sent` when it has one, and
otherwise resent only when configured, marked `possibly_duplicate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.codec import load_message
from bot.model import Identity, Message
from bot.ratelimit import RateLimiter, load_limits
from bot.runtime import Runtime, SendError
from bot.tables import OutboxMessage, OutboxPause, OutboxWorker, Person, PlatformIdentity
from bot.worker import part

log = logging.getLogger("uptake.outbox")

BATCH = 50
MAX_THROTTLES = 200  # a row re-queued this often by pauses fails instead of circling forever
BACKOFF_BASE = 2.0
BACKOFF_CAP = 600.0
HEARTBEAT_LIVE = dt.timedelta(seconds=10)  # a worker not heard from for this long no longer takes a share
HEARTBEAT_FORGET = dt.timedelta(hours=1)
CLAIM_LEASE_SHARE = 0.25  # claim at most what this worker can send, at its rate, within a quarter of its lease

Sleep = Callable[[float], Awaitable[None]]


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: half fixed, half random, so retries from many rows spread out."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE ** max(1, attempt))
    return ceiling / 2 + rand() * ceiling / 2


class OutboxSender:
    """One worker's sender: its rate limiter, its lease owner id, and how long it may wait in process."""

    def __init__(
        self,
        rt: Runtime,
        *,
        worker_id: str | None = None,
        sleep: Sleep | None = None,
        hold: float = 0.0,
        rand: Callable[[], float] = random.random,
        commit_delay: float = 0.0,
    ) -> None:
        s = rt.settings
        self.rt = rt
        self.worker_id = worker_id or f"{os.getpid()}-{secrets.token_hex(3)}"
        self.limiter = RateLimiter(load_limits(getattr(s, "rate_limits", "")))
        self.lease = dt.timedelta(seconds=float(getattr(s, "outbox_lease_seconds", 120.0)))
        self.batch = int(getattr(s, "outbox_batch", BATCH))
        self.concurrency = int(getattr(s, "outbox_concurrency", 16))
        self.max_attempts = int(getattr(s, "outbox_max_attempts", 6))
        self.resend_unconfirmed = bool(getattr(s, "outbox_resend_unconfirmed", True))
        self.sleep: Sleep = sleep or asyncio.sleep
        self.hold = hold  # seconds a row may wait for its bucket in process; longer waits go back to the table
        self.rand = rand
        self._claims = 0
        self._write_lock = asyncio.Lock()
        self._gate = asyncio.Semaphore(max(1, self.concurrency))
        # Group commit of "sent" outcomes: rows stay `sending` under their lease until their group commits.
        self.commit_delay = commit_delay  # seconds a group waits for more outcomes (0: just what is queued)
        self.commit_group = 200
        self._sent: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._heartbeats = 0
        self._messages: dict[str, Message] = {}

    def now(self) -> dt.datetime:
        return self.rt.clock.now()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A session for recording an outcome. On SQLite one at a time: concurrent writers would otherwise wait
        in SQLite's sleeping busy handler, which cuts a 250/s fan-out to a few dozen per second."""
        if not self.rt.db.is_sqlite:
            async with self.rt.db.session() as session:
                yield session
            return
        async with self._write_lock, self.rt.db.session() as session:
            yield session

    # ------------------------------------------------------------------ claim

    async def claim(self, limit: int | None = None) -> list[OutboxMessage]:
        """Mark up to `limit` due rows `sending` (committed before any call) and return them.

        Muted rows end `cancelled` and rows without a reachable identity end `failed` right here.
        """
        now = self.now()
        async with self._writing() as session:
            due = (OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            rows = await self._grab(session, due, (OutboxMessage.next_attempt_at, OutboxMessage.id), limit, now)
            claimed = await self._targets(session, rows)
            await session.commit()
        await self._prepare(claimed)
        return claimed

    async def _prepare(self, rows: list[OutboxMessage]) -> None:
        """Let each platform's sender look up the batch's recipients at once (see the Sender protocol)."""
        by_platform: dict[str, list[Identity]] = {}
        for row in rows:
            if row.person_id is not None and row.user_id:
                identity = Identity(row.platform or "", row.workspace or "", row.user_id)
                by_platform.setdefault(identity.platform, []).append(identity)
        for platform, identities in by_platform.items():
            prepare = getattr(self.rt.senders.get(platform), "prepare", None)
            if prepare is not None:
                try:
                    await prepare(identities)
                except Exception:  # only an optimisation: each send still looks up what it was not given
                    log.exception("outbox: %s sender could not prepare a batch", platform)

    async def _grab(
        self, session: AsyncSession, where: tuple[Any, ...], order: tuple[Any, ...], limit: int | None, now: dt.datetime
    ) -> list[OutboxMessage]:
        """Take rows matching `where` for this worker (status sending, a fresh lease) inside `session`.

        PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED, so K workers take disjoint rows without waiting.
        SQLite: one UPDATE … WHERE id IN (SELECT …) — a single write statement, atomic under SQLite's one writer.
        """
        until = now + self.lease
        self._claims += 1
        token = f"{self.worker_id}/{self._claims}"  # one per claim, so this claim's rows are told apart
        stmt = select(OutboxMessage).where(*where).order_by(*order).limit(limit or self.batch)
        if not self.rt.db.is_sqlite:
            rows = list(await session.scalars(stmt.with_for_update(skip_locked=True)))
            for row in rows:
                row.status, row.claimed_by, row.claimed_until = "sending", token, until
            return rows
        ids = select(OutboxMessage.id).where(*where).order_by(*order).limit(limit or self.batch)
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids.scalar_subquery()))
            .values(status="sending", claimed_by=token, claimed_until=until)
            .execution_options(synchronize_session=False)
        )
        taken = select(OutboxMessage).where(OutboxMessage.claimed_by == token, OutboxMessage.status == "sending")
        return list(await session.scalars(taken.order_by(OutboxMessage.id).execution_options(populate_existing=True)))

    async def _targets(self, session: AsyncSession, rows: list[OutboxMessage]) -> list[OutboxMessage]:
        """Pick each person row's platform identity (two queries per batch); muted / unreachable rows end here."""
        pids = {r.person_id for r in rows if r.person_id is not None}
        prefs: dict[int, dict[str, Any]] = {}
        links: dict[int, list[PlatformIdentity]] = {}
        if pids:
            found = await session.execute(select(Person.id, Person.notify_prefs).where(Person.id.in_(pids)))
            prefs = {pid: p or {} for pid, p in found.all()}
            for link in await session.scalars(
                select(PlatformIdentity)
                .where(PlatformIdentity.person_id.in_(pids), PlatformIdentity.reachable.is_(True))
                .order_by(PlatformIdentity.last_seen_at.desc().nulls_last(), PlatformIdentity.id)
            ):
                links.setdefault(link.person_id, []).append(link)
        claimed: list[OutboxMessage] = []
        for row in rows:
            if row.person_id is None:
                claimed.append(row)
                continue
            if not row.mandatory and row.kind in prefs.get(row.person_id, {}).get("muted", []):
                row.status, row.error = "cancelled", "muted by the person"
                continue
            if row.user_id and row.platform in self.rt.senders:
                claimed.append(row)  # chosen on an earlier attempt: same conversation (reconciliation looks there)
                continue
            link = next(
                (k for k in links.get(row.person_id, []) if k.platform in self.rt.senders and k.workspace != "*"), None
            )
            if link is None:
                row.status, row.error = "failed", "no reachable identity on an enabled platform"
                continue
            row.platform, row.workspace, row.user_id = link.platform, link.workspace, link.user_id
            claimed.append(row)
        return claimed

    # ------------------------------------------------------------------ send

    async def send_claimed(self, rows: list[OutboxMessage]) -> None:
        await asyncio.gather(*(self._gated(r) for r in rows))

    async def _gated(self, row: OutboxMessage) -> None:
        async with self._gate:
            await self.send_row(row)

    async def send_row(self, row: OutboxMessage) -> None:
        platform, workspace = row.platform or "", row.workspace or ""
        call = "send_to_person" if row.person_id is not None else "send_to_channel"
        conversation = row.user_id if row.person_id is not None else row.channel_id
        while True:
            now = self.now()
            lease_left = (row.claimed_until - now).total_seconds() if row.claimed_until else 0.0
            limit = min(self.hold, lease_left / 2)
            wait, booked = self.limiter.book(platform, workspace, call, conversation, now.timestamp(), limit)
            if booked:
                if wait > 0:
                    await self.sleep(wait)
                break
            if wait > limit:
                await self._requeue(row, now + dt.timedelta(seconds=wait), count_throttle=False)
                return
            await self.sleep(wait)  # a short pause of the bucket: ask again when it ends
        if (
            row.claimed_until is not None
            and (row.claimed_until - self.now()) < self.lease / 2
            and not await self._renew(row)
        ):
            return  # held too long (a starved event loop): another worker has taken it over, so do not send
        sender = self.rt.senders.get(platform)
        try:
            if sender is None:
                raise SendError(f"platform {platform or '?'} is not enabled", transient=True)
            message = self._message(row.payload)
            ref = f"outbox:{row.id}"
            if row.person_id is not None:
                msg_id = await sender.send_to_person(Identity(platform, workspace, row.user_id or ""), message, ref=ref)
            else:
                msg_id = await sender.send_to_channel(workspace, row.channel_id or "", message, ref=ref)
        except SendError as e:
            await self._failed(row, e, call)
        except Exception as e:  # an adapter bug or an unwrapped network error: retry, never lose the row
            log.exception("outbox row %s: sender raised", row.id)
            await self._failed(row, SendError(f"{type(e).__name__}: {e}", transient=True), call)
        else:
            self.limiter.succeeded(platform, workspace, call)
            await self._record_sent(
                {
                    "b_id": row.id,
                    "b_message_id": msg_id,
                    "b_sent_at": self.now(),
                    "b_error": None if not row.possibly_duplicate else row.error,
                }
            )

    async def _record_sent(self, outcome: dict[str, Any]) -> None:
        """Record a delivery, committed together with the others that finished meanwhile (group commit).

        One UPDATE … executemany and one commit per group instead of a session and a commit per row: at 100
        messages/s the per-row commit was the sender's main cost. Returns once the outcome is committed, so a
        caller never sees a row as done before the database does; a crash before that leaves the row `sending`,
        which recovery settles like any other crash.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent.append((outcome, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_sent())
        await done

    async def _flush_sent(self) -> None:
        table = OutboxMessage.__table__
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))  # delivered is the truth, whoever holds the row by now
            .values(
                status="sent",
                platform_message_id=bindparam("b_message_id"),
                sent_at=bindparam("b_sent_at"),
                attempts=table.c.attempts + 1,
                claimed_until=None,
                error=bindparam("b_error"),
            )
        )
        while self._sent:
            if self.commit_delay > 0 and len(self._sent) < self.commit_group:
                await asyncio.sleep(self.commit_delay)
            group, self._sent = self._sent[: self.commit_group], self._sent[self.commit_group :]
            try:
                async with self._writing() as session:
                    await session.execute(stmt, [outcome for outcome, _ in group])
                    await session.commit()
            except Exception as e:
                for _, done in group:
                    if not done.done():
                        done.set_exception(e)
            else:
                for _, done in group:
                    if not done.done():
                        done.set_result(None)

    def _message(self, payload: dict[str, Any]) -> Message:
        """The neutral message of a payload, decoded once for all rows that carry the same one (a broadcast's
        10,000 rows), so an adapter can also render it once (they keep the last rendering by identity)."""
        key = json.dumps(payload, sort_keys=True, default=str)
        found = self._messages.get(key)
        if found is None:
            if len(self._messages) >= 64:
                self._messages.clear()
            found = self._messages[key] = load_message(payload)
        return found

    async def _renew(self, row: OutboxMessage) -> bool:
        """Extend the lease just before the call, only if this worker still holds the row."""
        until = self.now() + self.lease
        async with self._writing() as session:
            res = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.claimed_by == row.claimed_by,
                    OutboxMessage.status == "sending",
                )
                .values(claimed_until=until)
            )
            await session.commit()
        if res.rowcount != 1:  # type: ignore[attr-defined]
            log.warning("outbox row %s: lease lost before sending; left to the worker that took it", row.id)
            return False
        row.claimed_until = until
        return True

    async def _requeue(self, row: OutboxMessage, at: dt.datetime, *, count_throttle: bool, error: str = "") -> None:
        """Back to pending (only if this worker still holds it)."""
        values: dict[str, Any] = {"status": "pending", "next_attempt_at": at, "claimed_until": None}
        if count_throttle:
            values["throttled"] = OutboxMessage.throttled + 1
        if error:
            values["error"] = error[:500]
        async with self._writing() as session:
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.claimed_by == row.claimed_by,
                    OutboxMessage.status == "sending",
                )
                .values(**values)
            )
            await session.commit()

    async def _failed(self, row: OutboxMessage, e: SendError, call: str) -> None:
        now = self.now()
        platform, workspace = row.platform or "", row.workspace or ""
        if e.transient and e.retry_after is not None:
            until = self.limiter.throttled(platform, workspace, call, e.retry_after, now.timestamp())
            bucket = self.limiter.bucket_of(platform, workspace, call)
            await self._share_pause(bucket, until, str(e))
            if row.throttled + 1 < MAX_THROTTLES:
                log.info("outbox bucket %s paused for %.1fs (row %s)", bucket, until - now.timestamp(), row.id)
                await self._requeue(row, dt.datetime.fromtimestamp(until, dt.UTC), count_throttle=True, error=str(e))
                return
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "claimed_until": None, "error": str(e)[:500]}
        if e.transient and attempts < self.max_attempts:
            values.update(status="pending", next_attempt_at=now + dt.timedelta(seconds=backoff(attempts, self.rand)))
        else:
            values["status"] = "failed"
            if e.transient:
                values["error"] = f"gave up after {attempts} attempts: {e}"[:500]
        async with self._writing() as session:
            if e.unreachable and row.person_id is not None:
                await session.execute(
                    update(PlatformIdentity)
                    .where(
                        PlatformIdentity.person_id == row.person_id,
                        PlatformIdentity.platform == platform,
                        PlatformIdentity.user_id == row.user_id,
                    )
                    .values(reachable=False)
                )
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == row.claimed_by)
                .values(**values)
            )
            await session.commit()
        log.warning("outbox row %s %s: %s", row.id, values["status"], e)

    # ------------------------------------------------------------------ pauses shared between workers

    async def _share_pause(self, bucket: str, until: float, reason: str) -> None:
        at = dt.datetime.fromtimestamp(until, dt.UTC)
        strikes = self.limiter.strikes.get(bucket, 1)
        async with self._writing() as session:
            pause = await session.get(OutboxPause, bucket)
            if pause is None:
                session.add(OutboxPause(bucket=bucket, until=at, reason=reason[:200], strikes=strikes))
            elif pause.until < at:
                pause.until, pause.reason, pause.strikes = at, reason[:200], strikes
            with contextlib.suppress(IntegrityError):  # another worker paused it at the same moment
                await session.commit()

    async def load_pauses(self) -> None:
        now = self.now()
        async with self.rt.db.session() as session:
            for pause in await session.scalars(select(OutboxPause).where(OutboxPause.until > now)):
                ts = pause.until.timestamp()
                if ts > self.limiter.paused.get(pause.bucket, 0.0):
                    self.limiter.paused[pause.bucket] = ts

    # ------------------------------------------------------------------ workers sharing the configured limits

    async def heartbeat(self) -> int:
        """Say this worker is alive and take 1/K of the configured rate limits, K = live workers.

        Why heartbeats and not a shared token bucket: a bucket in the database costs a write per message (at 100
        messages/s that is the sender's whole budget on SQLite), while the rate only has to be right over
        seconds. Each worker writes one row per second; a worker that stops (or crashes) drops out of the count
        after HEARTBEAT_LIVE, and the others speed up again. While K changes the total may briefly differ from
        the configured rate by one worker's share for at most that long; a 429 still pauses the bucket for all.
        How the limits are split is in bot/ratelimit.py.
        """
        now = self.now()
        async with self._writing() as session:
            res = await session.execute(
                update(OutboxWorker).where(OutboxWorker.worker_id == self.worker_id).values(seen_at=now)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                session.add(OutboxWorker(worker_id=self.worker_id, seen_at=now))
            if self._heartbeats % 600 == 0:
                await session.execute(delete(OutboxWorker).where(OutboxWorker.seen_at < now - HEARTBEAT_FORGET))
            others = list(
                await session.scalars(
                    select(OutboxWorker.worker_id).where(
                        OutboxWorker.seen_at > now - HEARTBEAT_LIVE, OutboxWorker.worker_id != self.worker_id
                    )
                )
            )
            with contextlib.suppress(IntegrityError):
                await session.commit()
        self._heartbeats += 1
        live = sorted([*others, self.worker_id])
        self.limiter.set_share(len(live), live.index(self.worker_id))
        return len(live)

    async def leave(self) -> None:
        """A clean stop: give this worker's share back at once."""
        async with self._writing() as session:
            await session.execute(delete(OutboxWorker).where(OutboxWorker.worker_id == self.worker_id))
            await session.commit()

    def claim_room(self, inflight: int) -> int:
        """How many more rows to claim now: at most what this worker can send at its rate within a fraction of
        its lease, so rows do not sit claimed in memory until the lease runs out and another worker takes them."""
        rates = [r for p in self.rt.senders if (r := self.limiter.rate(p)) is not None]
        cap = self.batch * 2 if not rates else max(1, int(max(rates) * self.lease.total_seconds() * CLAIM_LEASE_SHARE))
        room = min(self.batch, cap - inflight)
        # A claim is a write transaction and two lookups: take rows in chunks of at least half a batch (or of
        # whatever the cap allows), never one row per finished send.
        return room if room >= max(1, min(self.batch, cap) // 2) else 0

    # ------------------------------------------------------------------ crash recovery

    async def recover(self, limit: int | None = None) -> int:
        """Settle rows a crashed worker left in `sending`: reconcile, resend (flagged) or fail with a reason."""
        now = self.now()
        async with self._writing() as session:
            expired = (OutboxMessage.status == "sending", OutboxMessage.claimed_until < now)
            stuck = await self._grab(session, expired, (OutboxMessage.id,), limit, now)
            await session.commit()
        for row in stuck:
            await self._reconcile(row)
        return len(stuck)

    async def _reconcile(self, row: OutboxMessage) -> None:
        sender = self.rt.senders.get(row.platform or "")
        find_sent = getattr(sender, "find_sent", None)
        values: dict[str, Any] = {"claimed_until": None}
        found: str | None = None
        checked = False
        if find_sent is not None:
            identity = Identity(row.platform or "", row.workspace or "", row.user_id or "") if row.user_id else None
            try:
                ref = f"outbox:{row.id}"
                found = await find_sent(identity, row.workspace or "", row.channel_id, ref, row.created_at)
                checked = True
            except Exception:
                log.exception("outbox row %s: reconciliation failed; treating it as unconfirmed", row.id)
        if found:
            values.update(status="sent", platform_message_id=found, sent_at=self.now(), error=None)
        elif checked:
            values.update(status="pending", next_attempt_at=self.now())  # confirmed not delivered: safe to send
        elif self.resend_unconfirmed:
            values.update(
                status="pending",
                next_attempt_at=self.now(),
                possibly_duplicate=True,
                error="resent after a crash without a way to check the first send: possibly duplicated",
            )
        else:
            values.update(status="failed", error="outcome unknown after a crash; not resent (cannot be checked)")
        async with self._writing() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == row.claimed_by)
                .values(**values)
            )
            await session.commit()
        log.warning("outbox row %s recovered after a crash: %s", row.id, values.get("status"))

    # ------------------------------------------------------------------ loop

    async def run_once(self) -> int:
        """One round: heartbeat, recover, refresh pauses, claim and send. Returns how many rows were handled."""
        await self.heartbeat()
        await self.recover()
        await self.load_pauses()
        rows = await self.claim()
        await self.send_claimed(rows)
        return len(rows)

    async def next_due(self) -> dt.datetime | None:
        async with self.rt.db.session() as session:
            return await session.scalar(
                select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == "pending")
            )

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """The worker loop: keeps about one batch claimed ahead of the rate limiter, so claiming (a database round
        trip) overlaps with sending instead of pausing it; recovery and shared pauses are checked every second."""
        inflight: set[asyncio.Task[None]] = set()
        checked = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if loop.time() - checked >= 1.0:
                await self.heartbeat()
                await self.recover()
                await self.load_pauses()
                checked = loop.time()
            room = self.claim_room(len(inflight))
            rows = await self.claim(room) if room else []
            for row in rows:
                task = asyncio.create_task(self._gated(row))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            if rows:
                continue
            if inflight:
                await asyncio.wait(inflight, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
                continue
            due = await self.next_due()
            wait = idle if due is None else min(idle, max(0.01, (due - self.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)
        try:
            await self.leave()
        except Exception:  # shutting down anyway: the heartbeat expires on its own after HEARTBEAT_LIVE
            log.warning("outbox worker %s could not remove its heartbeat", self.worker_id, exc_info=True)


async def pick_identity(session: AsyncSession, rt: Runtime, person_id: int) -> PlatformIdentity | None:
    """The person's reachable identity on a platform we can send to, most recently seen first."""
    links = await session.scalars(
        select(PlatformIdentity)
        .where(PlatformIdentity.person_id == person_id, PlatformIdentity.reachable.is_(True))
        .order_by(PlatformIdentity.last_seen_at.desc().nulls_last(), PlatformIdentity.id)
    )
    for link in links:
        if link.platform in rt.senders and link.workspace != "*":
            return link
    return None


def outbox_sender(rt: Runtime) -> OutboxSender:
    """The runtime's sender for `drain` (one per runtime, so rate-limit state persists between drains)."""
    sender = rt.extras.get("outbox.sender")
    if not isinstance(sender, OutboxSender):
        sender = OutboxSender(rt)
        rt.extras["outbox.sender"] = sender
    return sender


async def claim(rt: Runtime, limit: int = BATCH) -> list[OutboxMessage]:
    """Mark up to `limit` due rows `sending` and return them (committed before sending)."""
    return await outbox_sender(rt).claim(limit)


async def drain(rt: Runtime, *, max_rounds: int = 100) -> int:
    """Send everything due now without waiting (tests, `uptake worker --once`). Returns rows handled.

    Rows whose bucket is full or paused go back to the table with their due time; move the clock and drain again.
    """
    sender = outbox_sender(rt)
    total = 0
    for _ in range(max_rounds):
        handled = await sender.run_once()
        if not handled:
            break
        total += handled
    return total


@part("outbox")
async def run_sender(rt: Runtime, stop: asyncio.Event) -> None:
    await worker_sender(rt).run(stop)


def worker_sender(rt: Runtime) -> OutboxSender:
    """The long-running worker's sender (also what bench/fanout.py runs): rows may wait 5 s for their bucket in
    process, and outcomes are committed in groups gathered for up to 50 ms."""
    return OutboxSender(rt, hold=5.0, commit_delay=0.05)
