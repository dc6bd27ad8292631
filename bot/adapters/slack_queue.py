"""The work Uptake does after acking a Slack request (router, then response_url / chat.postMessage / views.*),
run in arrival order on a few workers of the same event loop.

Why the answers give way to acks: Slack gives an ack 3 seconds (platform-rules R11), after which it shows the
person an error and retries the request, which adds load exactly when there is too much; an answer has no such
clock (a response_url stays valid for 30 minutes, a DM can come any time). The acks and the answers share one
event loop, so while requests pour in every answer step delays the acks queued behind it.

So while acks are waiting, answers get a *share* of the loop, measured, not guessed:
- each step of an answer (the code between two of its awaits, all of which runs on the loop) is timed;
- "acks are waiting" = requests keep coming (one arrived within BUSY_WINDOW) *and* the loop is behind: the
  timer the queue keeps while it has work (every PROBE) fired more than LAG late within the last STICKY
  seconds — the loop had a backlog of callbacks, reading and acking requests among them (the look-back keeps
  one on-time look in a burst from opening the gate to all workers);
- then answer time is a budget that grows by SHARE of the wall-clock time and is spent by the timed steps; a new
  answer starts only while the budget is positive, reserving an estimate of one answer (the estimate follows
  the measured cost); answers already running finish;
- otherwise every worker runs: when the loop keeps up (at a steady few hundred requests a second it does) or
  requests stop, nothing is held back, so an idle CPU is never left idle for the answers' sake.

The trade-off: in a burst the acks keep about 1 − SHARE of the loop however long it lasts (before this, 2 of 8
workers answered until one answer had waited 1 s, then all 8 competed with the acks for the rest of the burst),
and the answers still get SHARE, so none starves; they come later — a late answer is only late, a late ack is
an error shown to the person and a retry. If requests outrun what the acks plus SHARE of answers can do for
minutes (a sustained overload, not a burst), the backlog of answers grows and answers come minutes late; the
acks stay in time. Only the answers' own steps are counted: the socket callbacks of their HTTP and database
replies, a database driver thread and the collector are not, so answers' true share of the CPU is above SHARE.
On a machine whose other work delays the timer, the loop counts as behind more often: answers are held to
their share more often, never to less.

What waits in the queue is a function and its arguments, not a coroutine: a queued answer should hold as few
objects the garbage collector tracks as possible. During a burst thousands of answers wait; each coroutine with
its Turn, intent and Web API client was ~6 tracked objects (~11 counted by the collector), so a 6,000-request
burst added ~60 k objects and set off a full collection in the middle of the acks (0.07–0.13 s with the event
loop held: the p99 of the acks). The adapter passes the request body and builds the rest when the answer runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any

log = logging.getLogger("uptake.slack")

WORKERS = 8  # concurrent answers per process (below the database pool size)
SHARE = 0.05  # of the loop's time answers may take while acks are waiting (0.1 → 0.05: bench/README.md, session 4)
COST = 0.001  # seconds of steps one answer takes, a first estimate (then measured)
BURST = 0.005  # seconds of answer time that can be banked (a few answer steps)
BUSY_WINDOW = 0.01  # seconds since the last request for "requests keep coming"
LAG = 0.002  # seconds late the queue's timer fires when the loop has a backlog
STICKY = 0.02  # seconds the loop counts as behind after a late look
PROBE = 0.005  # seconds between two looks at the loop (only while answers wait or run)


class AnswerQueue:
    """First-in-first-out answers on at most `workers` tasks, held to `share` of the loop while acks wait."""

    def __init__(
        self,
        workers: int = WORKERS,
        share: float = SHARE,
        busy_window: float = BUSY_WINDOW,
        lag: float = LAG,
        sticky: float = STICKY,
        probe: float = PROBE,
    ) -> None:
        assert workers >= 1 and 0 < share <= 1
        self.workers = workers
        self.share = share
        self.busy_window = busy_window
        self.lag = lag
        self.sticky = sticky
        self.probe = probe
        self.queue: deque[tuple[Callable[..., Awaitable[None]], tuple[Any, ...]]] = deque()
        self.running = 0  # worker tasks alive
        self.tasks: set[asyncio.Task[None]] = set()
        self.last_request = float("-inf")
        self.behind_until = float("-inf")  # loop time until which the loop counts as behind
        self.budget = BURST  # seconds of answer time left while acks wait
        self.budget_at = 0.0  # loop time the budget was last topped up
        self.cost = COST  # estimated step time of one answer
        self.spent = 0.0  # answer step time measured so far (all of it; for tests and benchmarks)
        self.held = 0.0  # answer step time measured while acks were waiting
        self._timer: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def arrived(self) -> None:
        """A request came in (the Slack handler calls this before the ack)."""
        self.last_request = asyncio.get_running_loop().time()

    def put(self, job: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Queue one answer, `await job(*args)` (called right after its request was acked)."""
        self.last_request = now = asyncio.get_running_loop().time()
        self.queue.append((job, args))
        self._idle.clear()
        self._pump(now)

    def pressure(self, now: float) -> bool:
        """Acks are waiting: requests keep coming and the loop is behind."""
        return now < self.behind_until and now - self.last_request < self.busy_window

    def admit(self, now: float) -> float | None:
        """May one more answer start now? None if not, else the answer time reserved for it from the budget (an
        estimate of one answer, given back when it ends; its steps are charged as they run). Without the
        reservation, all workers would start at once whenever the budget is back above zero."""
        if not self.pressure(now):
            self.budget, self.budget_at = BURST, now
            return 0.0
        self.budget = min(BURST, self.budget + self.share * (now - self.budget_at))
        self.budget_at = now
        if self.budget <= 0:
            return None
        self.budget -= self.cost
        return self.cost

    def _pump(self, now: float) -> None:
        """Start workers while answers may start; keep the probe timer while there is work."""
        while self.running < min(self.workers, len(self.queue)):
            reserved = self.admit(now)
            if reserved is None:
                break
            self.running += 1
            task = asyncio.create_task(self._work(reserved))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if (self.queue or self.running) and self._timer is None:
            delay = self.probe
            if self.queue and self.running < self.workers and self.budget <= 0:
                delay = min(delay, max(-self.budget / self.share, 0.001))  # when the budget is positive again
            self._timer = asyncio.get_running_loop().call_later(delay, self._wake)

    def _wake(self) -> None:
        assert self._timer is not None
        now = asyncio.get_running_loop().time()
        if now - self._timer.when() > self.lag:
            self.behind_until = max(self.behind_until, now + self.sticky)
        self._timer = None
        if self.queue or self.running:
            self._pump(now)

    def _charge(self, seconds: float) -> float:
        self.spent += seconds
        if self.pressure(asyncio.get_running_loop().time()):
            self.held += seconds
            self.budget -= seconds
        return seconds

    @types.coroutine
    def _metered(self, coro: Awaitable[None]) -> Generator[Any, Any, float]:
        """Run `coro`, charging the time of each of its steps to the answers' budget; returns their sum."""
        assert isinstance(coro, types.CoroutineType)
        value: Any = None
        error: BaseException | None = None
        total = 0.0
        while True:
            start = time.perf_counter()
            try:
                yielded = coro.throw(error) if error is not None else coro.send(value)
            except StopIteration:
                total += self._charge(time.perf_counter() - start)
                return total
            except BaseException:
                self._charge(time.perf_counter() - start)
                raise
            total += self._charge(time.perf_counter() - start)
            try:
                value, error = (yield yielded), None
            except BaseException as e:  # cancellation and the like go on into the answer
                value, error = None, e

    async def _work(self, reserved: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.queue:
                job, args = self.queue.popleft()
                try:
                    cost = await self._metered(job(*args))
                    self.cost += (cost - self.cost) * 0.2  # the estimate follows what answers take lately
                except Exception:
                    log.exception("slack: answering after the ack failed")
                finally:
                    self.budget += reserved
                if not self.queue:
                    break
                next_reserved = self.admit(loop.time())
                if next_reserved is None:
                    break
                reserved = next_reserved
        finally:
            self.running -= 1
            if not self.queue and not self.running:
                self._idle.set()
            else:
                self._pump(loop.time())

    async def idle(self) -> None:
        """Wait until every answer queued so far was sent (tests, graceful shutdown)."""
        while self.queue or self.running:
            await self._idle.wait()
