"""The background worker: the scheduler and the outbox sender, in the server process or on its own.

Parts register here as long-running coroutines started with the worker and cancelled on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.runtime import Runtime

log = logging.getLogger("uptake.worker")

WorkerPart = Callable[[Runtime, asyncio.Event], Awaitable[None]]
_parts: dict[str, WorkerPart] = {}


def part(name: str) -> Callable[[WorkerPart], WorkerPart]:
    """Register a long-running worker coroutine (it returns when the stop event is set)."""

    def deco(fn: WorkerPart) -> WorkerPart:
        _parts[name] = fn
        return fn

    return deco


class Worker:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        # importing registers the parts: the outbox sender and the scheduler
        import bot.delivery
        import bot.scheduler  # noqa: F401

        for name, fn in _parts.items():
            self.tasks.append(asyncio.create_task(self._run(name, fn), name=f"worker:{name}"))
        log.info("worker started: %s", ", ".join(_parts) or "no parts")

    async def _run(self, name: str, fn: WorkerPart) -> None:
        while not self.stop.is_set():
            try:
                await fn(self.rt, self.stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker part %s crashed; restarting in 5 s", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 5)

    async def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=timeout)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
