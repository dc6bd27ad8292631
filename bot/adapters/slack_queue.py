"""The work Uptake does after acking a Slack request (router, then response_url / chat.postMessage / views.*),
run in arrival order on a few workers of the same event loop.

Why the answers give way to acks: Slack gives an ack 3 seconds (platform-rules R11), after which it shows the
person an error and retries the request, which adds load exactly when there is too much; an answer has no such
clock (a response_url stays valid for 30 minutes, a DM can come any time). The acks and the answers share one
event loop, so during a burst of requests every answer step delays the acks queued behind it. So, while requests
keep arriving (one came in within BUSY_WINDOW), at most BUSY_WORKERS answers run at once instead of WORKERS.

No answer starves and none is dropped:
- the queue is first in, first out, and BUSY_WORKERS ≥ 1 answers keep running during any burst;
- an answer that has waited DEADLINE seconds lifts the brake: from then on all WORKERS run (as before this
  queue existed) until the queue is back under the deadline, so a long burst costs the answers at most about
  DEADLINE of extra waiting, on top of the time their own backlog takes;
- when the burst stops (nothing new for BUSY_WINDOW) all WORKERS run at once.

The total work is the same either way; it is only ordered so that acks come first.

What waits in the queue is a function and its arguments, not a coroutine: a queued answer should hold as few
objects the garbage collector tracks as possible. During a burst thousands of answers wait; each coroutine with
its Turn, intent and Web API client was ~6 tracked objects (~11 counted by the collector), so a 6,000-request
burst added ~60 k objects and set off a full collection in the middle of the acks (0.07–0.13 s with the event
loop held: the p99 of the acks). The adapter passes the request body and builds the rest when the answer runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("uptake.slack")

WORKERS = 8  # concurrent answers per process (below the database pool size)
BUSY_WORKERS = 2  # while acks keep coming
BUSY_WINDOW = 0.01  # seconds since the last request for "acks keep coming"
DEADLINE = 1.0  # seconds an answer may wait before the brake is off


class AnswerQueue:
    """First-in-first-out answers on at most `workers` tasks; fewer while requests keep arriving (module doc)."""

    def __init__(
        self,
        workers: int = WORKERS,
        busy_workers: int = BUSY_WORKERS,
        busy_window: float = BUSY_WINDOW,
        deadline: float = DEADLINE,
    ) -> None:
        assert 1 <= busy_workers <= workers
        self.workers = workers
        self.busy_workers = busy_workers
        self.busy_window = busy_window
        self.deadline = deadline
        self.queue: deque[tuple[float, Callable[..., Awaitable[None]], tuple[Any, ...]]] = deque()
        self.running = 0  # worker tasks alive
        self.tasks: set[asyncio.Task[None]] = set()
        self.last_request = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def put(self, job: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Queue one answer, `await job(*args)` (called right after its request was acked, so it also marks a
        request arriving)."""
        now = asyncio.get_running_loop().time()
        self.last_request = now
        self.queue.append((now, job, args))
        self._idle.clear()
        self._pump(now)

    def allowed(self, now: float) -> int:
        """How many answers may run now."""
        if now - self.last_request >= self.busy_window:
            return self.workers
        if self.queue and now - self.queue[0][0] >= self.deadline:
            return self.workers
        return self.busy_workers

    def _pump(self, now: float) -> None:
        """Start workers up to what is allowed; if the brake holds some back, look again when it may lift."""
        allowed = min(self.allowed(now), len(self.queue))
        while self.running < allowed:
            self.running += 1
            task = asyncio.create_task(self._work())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if self.queue and self.running < self.workers and self._timer is None:
            lift = min(self.last_request + self.busy_window, self.queue[0][0] + self.deadline) - now
            self._timer = asyncio.get_running_loop().call_later(max(lift, 0.001), self._wake)

    def _wake(self) -> None:
        self._timer = None
        self._pump(asyncio.get_running_loop().time())

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.queue and self.running <= self.allowed(loop.time()):
                _, job, args = self.queue.popleft()
                try:
                    await job(*args)
                except Exception:
                    log.exception("slack: answering after the ack failed")
        finally:
            self.running -= 1
            if self.queue:
                self._pump(loop.time())
            elif self.running == 0:
                self._idle.set()

    async def idle(self) -> None:
        """Wait until every answer queued so far was sent (tests, graceful shutdown)."""
        while self.queue or self.running:
            await self._idle.wait()
