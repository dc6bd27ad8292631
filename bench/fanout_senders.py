"""Minimal Slack and Teams senders for the fan-out bench, speaking HTTP to bench/fanout_mock.py.

They implement Uptake's Sender protocol the way the platform adapters do: Slack carries the outbox ref in message
`metadata` and can find it again through `conversations.history` (`find_sent`); Teams has no such lookup.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp

from bot.model import Identity, Message, message_text
from bot.runtime import SendError


def _classify(status: int, headers: Any, platform: str) -> SendError | None:
    if status == 429:
        return SendError("ratelimited", transient=True, retry_after=float(headers.get("Retry-After", "1")))
    if status >= 500 or status == 412:
        return SendError(f"{platform} {status}", transient=True)
    if status >= 400:
        return SendError(f"{platform} {status}", transient=False)
    return None


class _Http:
    """aiohttp, as slack_sdk's AsyncWebClient and botbuilder use (httpx managed ~100 requests/s here)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                self.base_url, connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=10)
            )
        return self._session

    async def call(self, method: str, path: str, platform: str, **kw: Any) -> dict[str, Any]:
        try:
            async with self.session.request(method, path, **kw) as resp:
                error = _classify(resp.status, resp.headers, platform)
                if error:
                    raise error
                return dict(await resp.json())
        except (aiohttp.ClientError, TimeoutError) as e:
            raise SendError(f"connection: {type(e).__name__}", transient=True) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class BenchSlackSender:
    platform = "slack"

    def __init__(self, base_url: str) -> None:
        self.http = _Http(base_url)

    async def _post(self, channel: str, message: Message, ref: str | None) -> str:
        body = {
            "channel": channel,
            "text": message_text(message)[:3000],
            "metadata": {"event_type": "uptake_outbox", "event_payload": {"outbox_ref": ref or ""}},
        }
        data = await self.http.call("POST", "/api/chat.postMessage", "slack", json=body)
        if not data.get("ok"):
            raise SendError(str(data.get("error")), transient=False)
        return str(data["ts"])

    async def send_to_person(self, identity: Identity, message: Message, *, ref: str | None = None) -> str:
        return await self._post(identity.user_id, message, ref)

    async def send_to_channel(
        self, workspace: str, channel_id: str, message: Message, *, ref: str | None = None
    ) -> str:
        return await self._post(channel_id, message, ref)

    async def find_sent(
        self, identity: Identity | None, workspace: str, channel_id: str | None, ref: str, since: dt.datetime
    ) -> str | None:
        channel = identity.user_id if identity else channel_id
        data = await self.http.call("GET", "/api/conversations.history", "slack", params={"channel": channel or ""})
        for msg in data.get("messages", []):
            if msg.get("metadata", {}).get("event_payload", {}).get("outbox_ref") == ref:
                return str(msg["ts"])
        return None

    async def close(self) -> None:
        await self.http.close()


class BenchTeamsSender:
    platform = "teams"

    def __init__(self, base_url: str) -> None:
        self.http = _Http(base_url)

    async def _post(self, conv: str, message: Message, ref: str | None) -> str:
        body = {"type": "message", "text": message_text(message)[:3000], "channelData": {"outboxRef": ref or ""}}
        data = await self.http.call("POST", f"/v3/conversations/{conv}/activities", "teams", json=body)
        return str(data.get("id", ""))

    async def send_to_person(self, identity: Identity, message: Message, *, ref: str | None = None) -> str:
        return await self._post(f"a:{identity.user_id}", message, ref)

    async def send_to_channel(
        self, workspace: str, channel_id: str, message: Message, *, ref: str | None = None
    ) -> str:
        return await self._post(channel_id, message, ref)

    async def close(self) -> None:
        await self.http.close()
