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

    @property
    def rollout_id(self) -> int:
        return self.rollout.id

    @property
    def person_id(self) -> int:
        return self.person.id

    @property
    def rollout_name(self) -> str:
        return self.rollout.name

    def may(self, needed: Role) -> bool:
        return self.role >= needed

    def opened_session(self) -> AsyncSession | None:
        """The session if the request has one open (always, here; see RowCtx)."""
        return self.session

    async def discard(self) -> None:
        """Undo the handler's uncommitted effects (a denial or a user error)."""
        await self.session.rollback()

    def require(self, needed: Role, what: str) -> None:
        """Raise `Denied` (audited by the router) unless the person's role includes `needed`."""
        from bot.permissions import require

        require(self.role, needed, what)

    def audit(self, action: str, object_type: str = "", object_id: str | int = "", summary: str = "") -> None:
        self.session.add(
            AuditEntry(
                rollout_id=self.rollout_id,
                actor_id=self.person_id,
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
            rollout_id=self.rollout_id,
            person_id=person_id,
            channel=channel,
            kind=kind,
            group_key=group_key,
            not_before=not_before or self.now(),
            mandatory=mandatory,
            private=private,
        )


class RowCtx(Ctx):
    """A Ctx built from the request path's driver-level read (bot.people.CallerRow). The session, and `person` and
    `rollout` as ORM objects in it, come into being only when a handler first touches them, so a reply that needs
    none of them (help, most answers) costs no session at all."""

    def __init__(self, runtime: Runtime, row: Any, identity: Identity) -> None:
        self.runtime, self.identity, self.role = runtime, identity, row.role
        self._row = row
        self._session: AsyncSession | None = None
        self._person: Person | None = None
        self._rollout: Rollout | None = None

    @property  # type: ignore[override]
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.runtime.db.sessions()
        return self._session

    @session.setter
    def session(self, value: AsyncSession) -> None:
        self._session = value

    def opened_session(self) -> AsyncSession | None:
        return self._session

    async def discard(self) -> None:
        if self._session is not None:
            await self._session.rollback()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await self.runtime.db.release(session)

    def _attach(self, cls: type, values: dict[str, Any]) -> Any:
        from bot.people import attach

        return attach(self.session.sync_session, cls, self._row.loaded(cls, values))

    @property  # type: ignore[override]
    def person(self) -> Person:
        if self._person is None:
            self._person = self._attach(Person, self._row.person)
        return self._person

    @person.setter
    def person(self, value: Person) -> None:
        self._person = value

    @property  # type: ignore[override]
    def rollout(self) -> Rollout:
        if self._rollout is None:
            self._rollout = self._attach(Rollout, self._row.rollout)
        return self._rollout

    @rollout.setter
    def rollout(self, value: Rollout) -> None:
        self._rollout = value

    @property
    def rollout_id(self) -> int:
        return int(self._row.rollout["id"])

    @property
    def person_id(self) -> int:
        return int(self._row.person["id"])

    @property
    def rollout_name(self) -> str:
        return self._rollout.name if self._rollout is not None else str(self._row.rollout["name"])

    def link(self) -> Any:
        from bot.tables import PlatformIdentity

        return self._attach(PlatformIdentity, self._row.link)

    def refresh_needed(self, now: dt.datetime) -> bool:
        from bot.people import needs_refresh

        return needs_refresh(self._row, self.identity, now)


@dataclasses.dataclass
class JobCtx:
    """A scheduled job's context: one occurrence, for one rollout, in its own transaction."""

    runtime: Runtime
    session: AsyncSession
    rollout: Rollout
    fire_time: dt.datetime

    def now(self) -> dt.datetime:
        return self.runtime.clock.now()
