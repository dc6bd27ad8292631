"""A real Sender for neutral-layer tests: implements the protocol, records what it sends, fails on a script."""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass

from sqlalchemy import select

from bot.clock import FrozenClock
from bot.delivery import drain
from bot.model import Identity, Message, message_text
from bot.runtime import Runtime, SendError
from bot.tables import OutboxMessage


@dataclass
class Sent:
    target: str  # "user:W1:ana" or "channel:W1:C1"
    message: Message
    ref: str | None
    at: dt.datetime

    @property
    def text(self) -> str:
        return message_text(self.message)


class RecordingSender:
    """Sends nowhere: keeps every message, and raises the scripted errors first (one per call)."""

    def __init__(self, platform: str = "slack", clock: FrozenClock | None = None) -> None:
        self.platform = platform
        self.clock = clock
        self.sent: list[Sent] = []
        self.script: deque[SendError | None] = deque()
        self.calls: list[str] = []
        self.during_call: list[str] = []  # hook results observed while "on the wire" (see `probe`)
        self.probe = None  # optional async callable(ref) run during a send

    def fail(self, *errors: SendError | None) -> None:
        self.script.extend(errors)

    async def _send(self, target: str, message: Message, ref: str | None) -> str:
        self.calls.append(target)
        if self.probe is not None:
            self.during_call.append(await self.probe(ref))
        if self.script:
            error = self.script.popleft()
            if error is not None:
                raise error
        self.sent.append(Sent(target, message, ref, self.clock.now() if self.clock else dt.datetime.now(dt.UTC)))
        return f"{self.platform}-msg-{len(self.sent)}"

    async def send_to_person(self, identity: Identity, message: Message, *, ref: str | None = None) -> str:
        return await self._send(f"user:{identity.workspace}:{identity.user_id}", message, ref)

    async def send_to_channel(
        self, workspace: str, channel_id: str, message: Message, *, ref: str | None = None
    ) -> str:
        return await self._send(f"channel:{workspace}:{channel_id}", message, ref)

    def to(self, user_id: str) -> list[Sent]:
        return [s for s in self.sent if s.target.endswith(f":{user_id}")]


class ReconcilingSender(RecordingSender):
    """Like Slack with message metadata: can tell whether a message carrying `ref` was delivered."""

    def __init__(self, platform: str = "slack", clock: FrozenClock | None = None) -> None:
        super().__init__(platform, clock)
        self.lookups: list[str] = []

    async def find_sent(
        self, identity: Identity | None, workspace: str, channel_id: str | None, ref: str, since: dt.datetime
    ) -> str | None:
        self.lookups.append(ref)
        for i, s in enumerate(self.sent, 1):
            if s.ref == ref:
                return f"{self.platform}-msg-{i}"
        return None


async def deliver_all(rt: Runtime, clock: FrozenClock, *, step: float = 1.0, limit: int = 600) -> int:
    """Drain, move the clock on, drain again, until nothing is pending (rate limits without sleeping)."""
    total = 0
    for _ in range(limit):
        total += await drain(rt)
        async with rt.db.session() as s:
            left = await s.scalar(select(OutboxMessage.id).where(OutboxMessage.status.in_(("pending", "sending"))))
        if left is None:
            return total
        clock.advance(seconds=step)
    raise AssertionError("outbox did not settle")
