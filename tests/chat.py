"""A chat harness: scenarios read like the conversation they check, through the neutral router.

ana = await chat.person("Ana", team="Claims", role=Role.change_lead)
await ana.says("help")
assert "report" in ana.last_reply.text
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from bot.model import Action, Command, Form, Identity, Place, Reply, Request, Role, Submission, Text, Where
from bot.people import resolve_person, set_role
from bot.router import handle
from bot.runtime import Runtime
from bot.tables import OutboxMessage

_event_ids = itertools.count(1)


class Speaker:
    def __init__(self, chat: Chat, identity: Identity, person_id: int) -> None:
        self.chat = chat
        self.identity = identity
        self.person_id = person_id
        self.replies: list[Reply] = []

    @property
    def last_reply(self) -> Reply:
        return self.replies[-1]

    @property
    def last_form(self) -> Form:
        for reply in reversed(self.replies):
            if reply.form is not None:
                return reply.form
        raise AssertionError("no form was shown")

    async def send(self, request: Request) -> Reply:
        reply = await handle(self.chat.rt, request)
        self.replies.append(reply)
        return reply

    def _request(self, intent: Any, *, where: Where = Where.direct, event_id: str | None = None) -> Request:
        return Request(
            identity=self.identity,
            intent=intent,
            place=Place(where=where, channel_id="D1" if where == Where.direct else "C1"),
            event_id=event_id or f"test:{next(_event_ids)}",
        )

    async def says(self, text: str, *, where: Where = Where.direct, event_id: str | None = None) -> Reply:
        return await self.send(self._request(Text(text), where=where, event_id=event_id))

    async def command(self, word: str, args: str = "", *, event_id: str | None = None) -> Reply:
        return await self.send(self._request(Command(word, args), event_id=event_id))

    async def clicks(self, label: str, *, on: Reply | None = None, event_id: str | None = None) -> Reply:
        button = (on or self.last_reply).button(label)
        return await self.send(self._request(Action(button.action_id, button.value), event_id=event_id))

    async def acts(self, action_id: str, value: str = "", *, event_id: str | None = None) -> Reply:
        return await self.send(self._request(Action(action_id, value), event_id=event_id))

    async def submits(self, values: dict[str, Any], *, form: Form | None = None, event_id: str | None = None) -> Reply:
        f = form or self.last_form
        return await self.send(self._request(Submission(f.form_id, values, f.state), event_id=event_id))


class Chat:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def person(
        self, name: str, *, team: str | None = None, role: Role = Role.employee, platform: str = "console"
    ) -> Speaker:
        identity = Identity(platform, "local" if platform == "console" else "W1", name.lower(), display_name=name)
        async with self.rt.db.session() as session:
            person, _ = await resolve_person(session, identity, self.rt.clock.now())
            if team:
                person.team = team
            rollout = await self.rt.default_rollout(session)
            if role != Role.employee:
                await set_role(session, rollout, person, role)
            await session.commit()
            return Speaker(self, identity, person.id)

    async def outbox(self, **where: Any) -> list[OutboxMessage]:
        async with self.rt.db.session() as session:
            stmt = select(OutboxMessage).order_by(OutboxMessage.id)
            for key, value in where.items():
                stmt = stmt.where(getattr(OutboxMessage, key) == value)
            return list(await session.scalars(stmt))
