"""Drive the real Uptake server as Microsoft Teams would: activities in the exact shapes Teams sends.

    answer = await teams.says("report the claims screen is slow", user="aad-1")
    assert "report" in teams.last_reply(user="aad-1").text
    await teams.click("File it", user="aad-1")
    await teams.submit_form({"title": "Slow screen"}, user="aad-1")

Every activity carries `serviceUrl` = the mock connector, so botbuilder's real ConnectorClient posts the replies there
over HTTP; read them from `teams.connector.activities` / `teams.replies(user)`. With the `teams_secure` fixture every
activity is signed with the test OpenID key (pass `token=` to send a bad one).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from tests.support.teams_mock import MockConnector, OpenIdServer, Posted

TENANT = "tenant-1"
BOT = {"id": "28:uptake-bot", "name": "Uptake"}
TEAM_ID = "19:team-claims@thread.tacv2"
CHANNEL_ID = "19:general@thread.tacv2"
GROUP_ID = "19:group-chat@thread.v2"

WhereKind = Literal["personal", "channel", "groupChat"]
Via = Literal["submit", "execute"]
_ids = itertools.count(1)


@dataclass
class Answer:
    """The HTTP answer to one inbound activity (invokes carry a JSON body)."""

    status: int
    body: Any = None


class TeamsHarness:
    def __init__(
        self,
        base_url: str,
        connector: MockConnector,
        session: aiohttp.ClientSession,
        *,
        openid: OpenIdServer | None = None,
        app_id: str | None = None,
        tenant: str = TENANT,
        runtime: Any = None,
    ) -> None:
        self.runtime = runtime  # the server's Runtime (database, clock, senders) for assertions
        self.base_url = base_url
        self.connector = connector
        self.session = session
        self.openid = openid
        self.app_id = app_id
        self.tenant = tenant

    # ---------------------------------------------------------------- addresses

    @property
    def service_url(self) -> str:
        return self.connector.url + "/"

    @staticmethod
    def personal(user: str) -> str:
        """The personal conversation id of `user` (the same id the mock gives a created 1:1 chat)."""
        return f"a:personal-29:{user}"

    def conversation_id(self, user: str, where: WhereKind) -> str:
        if where == "personal":
            return self.personal(user)
        return CHANNEL_ID if where == "channel" else GROUP_ID

    # ---------------------------------------------------------------- building activities

    def activity(
        self,
        kind: str,
        *,
        user: str = "aad-1",
        user_name: str | None = None,
        where: WhereKind = "personal",
        **fields: Any,
    ) -> dict[str, Any]:
        conversation: dict[str, Any] = {
            "id": self.conversation_id(user, where),
            "conversationType": where,
            "tenantId": self.tenant,
        }
        channel_data: dict[str, Any] = {"tenant": {"id": self.tenant}}
        if where != "personal":
            conversation["isGroup"] = True
        if where == "channel":
            channel_data.update(team={"id": TEAM_ID, "name": "Claims"}, channel={"id": CHANNEL_ID, "name": "General"})
        activity: dict[str, Any] = {
            "type": kind,
            "id": f"1700000{next(_ids):06d}",
            "timestamp": "2026-11-23T09:00:00.000Z",
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": f"29:{user}", "name": user_name or user.title(), "aadObjectId": user},
            "conversation": conversation,
            "recipient": dict(BOT),
            "channelData": channel_data,
            "entities": [
                {
                    "type": "clientInfo",
                    "locale": "en-US",
                    "country": "US",
                    "platform": "Web",
                    "timezone": "Europe/Berlin",
                }
            ],
            "locale": "en-US",
        }
        activity.update(fields)
        return activity

    # ---------------------------------------------------------------- sending

    async def send(self, activity: dict[str, Any], *, token: str | None = "auto") -> Answer:
        """POST one activity to /api/messages (signed with the test key when credentials are configured)."""
        headers = {}
        if token == "auto" and self.openid is not None and self.app_id:
            token = self.openid.sign(audience=self.app_id, service_url=activity["serviceUrl"])
        if token and token != "auto":
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.post(f"{self.base_url}/api/messages", json=activity, headers=headers) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return Answer(resp.status, body)

    async def says(
        self,
        text: str,
        *,
        user: str = "aad-1",
        name: str | None = None,
        where: WhereKind = "personal",
        mention: bool = True,
    ) -> Answer:
        """A message as a person types it (in a channel or group chat, @mentioning Uptake unless mention=False)."""
        fields: dict[str, Any] = {"text": text}
        if where != "personal" and mention:
            at = f"<at>{BOT['name']}</at>"
            fields["text"] = f"{at} {text}"
            entity = {"type": "mention", "text": at, "mentioned": dict(BOT)}
            fields["entities"] = [*self.activity("message")["entities"], entity]
        act = self.activity("message", user=user, user_name=name, where=where, **fields)
        if where == "channel":
            act["conversation"]["id"] = f"{CHANNEL_ID};messageid={act['id']}"
        return await self.send(act)

    async def install(
        self, *, user: str = "aad-1", where: WhereKind = "personal", via: str = "conversationUpdate"
    ) -> Answer:
        """The bot is added to a personal scope, team or group chat (by `user`)."""
        if via == "installationUpdate":
            return await self.send(self.activity("installationUpdate", user=user, where=where, action="add"))
        act = self.activity("conversationUpdate", user=user, where=where, membersAdded=[dict(BOT)])
        if where == "channel":
            act["channelData"]["eventType"] = "teamMemberAdded"
        return await self.send(act)

    async def uninstall(self, *, user: str = "aad-1", where: WhereKind = "personal") -> Answer:
        return await self.send(self.activity("installationUpdate", user=user, where=where, action="remove"))

    async def invoke(
        self, name: str, value: Any, *, user: str = "aad-1", where: WhereKind = "personal", **fields: Any
    ) -> Answer:
        return await self.send(self.activity("invoke", user=user, where=where, name=name, value=value, **fields))

    async def submit_card(
        self,
        data: dict[str, Any],
        *,
        user: str = "aad-1",
        where: WhereKind = "personal",
        reply_to: str | None = None,
        via: Via = "submit",
    ) -> Answer:
        """A card submit: Action.Submit arrives as a message with `value`; Action.Execute as an invoke."""
        if via == "execute":
            value = {"action": {"type": "Action.Execute", "verb": "uptake", "data": data}, "trigger": "manual"}
            return await self.invoke("adaptiveCard/action", value, user=user, where=where, replyToId=reply_to)
        act = self.activity("message", user=user, where=where, value=data, replyToId=reply_to)
        return await self.send(act)

    async def click(
        self,
        label: str,
        *,
        user: str = "aad-1",
        where: WhereKind = "personal",
        via: Via = "submit",
        on: Posted | None = None,
    ) -> Answer:
        """Press the button titled like `label` on the last card Uptake posted to that conversation."""
        card = on or self.last_reply(user=user, where=where)
        for action in card.actions():
            if action["type"] in ("Action.Execute", "Action.Submit") and label.lower() in action["title"].lower():
                return await self.submit_card(action["data"], user=user, where=where, reply_to=card.id, via=via)
        titles = [a.get("title") for a in card.actions()]
        raise AssertionError(f"no button like {label!r} on the card; buttons: {titles}")

    async def submit_form(
        self,
        values: dict[str, Any],
        *,
        user: str = "aad-1",
        where: WhereKind = "personal",
        via: Via = "submit",
        on: Posted | None = None,
    ) -> Answer:
        """Fill the last form card (inputs by field name; Teams sends every value as a string) and submit it."""
        card = on or self.last_form(user=user, where=where)
        submit = next(a for a in card.actions() if (a.get("data") or {}).get("uptake", {}).get("t") == "f")
        data = dict(submit["data"])
        for key, value in values.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list | tuple):
                value = ",".join(str(v) for v in value)
            data[f"f.{key}"] = "" if value is None else str(value)
        return await self.submit_card(data, user=user, where=where, reply_to=card.id, via=via)

    async def message_action(self, command_id: str, message: str, *, user: str = "aad-1", link: str = "") -> Answer:
        """A message action on an existing channel message (Teams' message shortcut)."""
        value = {
            "commandId": command_id,
            "commandContext": "message",
            "messagePayload": {
                "id": "m1",
                "body": {"contentType": "html", "content": f"<p>{message}</p>"},
                "linkToMessage": link,
            },
        }
        return await self.invoke("composeExtension/fetchTask", value, user=user, where="channel")

    # ---------------------------------------------------------------- reading replies

    def replies(self, *, user: str = "aad-1", where: WhereKind = "personal") -> list[Posted]:
        """What the person sees in that conversation, in order: a card replaced in place shows its latest state."""
        cid = self.conversation_id(user, where)
        latest = {u.id: u for u in self.connector.updates}
        return [
            Posted(p.conversation_id, latest[p.id].activity, p.id) if p.id in latest else p
            for p in self.connector.activities
            if p.conversation_id.split(";")[0] == cid
        ]

    def last_reply(self, *, user: str = "aad-1", where: WhereKind = "personal") -> Posted:
        found = self.replies(user=user, where=where)
        if not found:
            raise AssertionError(f"Uptake posted nothing to {user}'s {where} conversation")
        return found[-1]

    def last_form(self, *, user: str = "aad-1", where: WhereKind = "personal") -> Posted:
        cid = self.conversation_id(user, where)
        for posted in reversed(self.connector.posted):
            if posted.conversation_id.split(";")[0] != cid:
                continue
            if any((a.get("data") or {}).get("uptake", {}).get("t") == "f" for a in posted.actions()):
                return posted
        raise AssertionError("no form card was posted")
