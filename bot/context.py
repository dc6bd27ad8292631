"""What a handler gets besides the request: the session, the person, their role, the rollout, time, outbox."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.model import Identity, Message, Role
from bot.tables import AuditEntry, OutboxMessage, Person, Rollout

if TYPE_CHECKING:
    from bot.runtime import Runtime


@dataclasses.dataclass
class Ctx:
    """A request's context. `session` is one transaction: the router commits it after the handler returns."""

    runtime: Runtime
    session: AsyncSession
    person: Person
    identity: Identity
    rollout: Rollout
    role: Role

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def settings(self) -> Any:
        return self.runtime.settings

    def now(self) -> dt.datetime:
        return self.runtime.clock.now()

    def may(self, needed: Role) -> bool:
        return self.role >= needed

    def require(self, needed: Role, what: str) -> None:
        """Raise `Denied` (audited by the router) unless the person's role includes `needed`."""
        from bot.permissions import require

        require(self.role, needed, what)

    def audit(self, action: str, object_type: str = "", object_id: str | int = "", summary: str = "") -> None:
        self.session.add(
            AuditEntry(
                rollout_id=self.rollout.id,
                actor_id=self.person.id,
                action=action,
                object_type=object_type,
                object_id=str(object_id),
                summary=summary[:500],
                at=self.now(),
            )
        )

    async def notify(
        self,
        key: str,
        message: Message,
        *,
        person_id: int | None = None,
        channel: tuple[str, str, str] | None = None,
        kind: str = "notification",
        group_key: str | None = None,
        not_before: dt.datetime | None = None,
        mandatory: bool = False,
        private: bool = False,
    ) -> OutboxMessage | None:
        """Queue a message for later delivery in this transaction (see bot.outbox.enqueue)."""
        from bot.outbox import enqueue

        return await enqueue(
            self.session,
            key=key,
            message=message,
            rollout_id=self.rollout.id,
            person_id=person_id,
            channel=channel,
            kind=kind,
            group_key=group_key,
            not_before=not_before or self.now(),
            mandatory=mandatory,
            private=private,
        )


@dataclasses.dataclass
class JobCtx:
    """A scheduled job's context: one occurrence, for one rollout, in its own transaction."""

    runtime: Runtime
    session: AsyncSession
    rollout: Rollout
    fire_time: dt.datetime

    def now(self) -> dt.datetime:
        return self.runtime.clock.now()
