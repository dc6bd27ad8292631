"""The Socket Mode half of the mock Slack: `apps.connections.open` hands out a one-time `ws://` URL, and the
WebSocket at that URL behaves like Slack's: `hello` on connect, envelopes out, acks back, `disconnect` before a
refresh. Shapes follow api.slack.com/apis/socket-mode and slack_sdk's `socket_mode` client.

    ack = await api.socket.send("slash_commands", fields)       # waits for the app's ack of this envelope
    ack["payload"]                                             # what the app answered (e.g. response_action)
    await api.socket.disconnect("refresh_requested")           # Slack asks the app to reconnect
    await api.socket.connected(2)                              # the second connection is open
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

# Interactive payloads whose ack may carry an answer (view errors/updates, options); Slack marks the envelope.
_ANSWERING = {"view_submission", "block_suggestion"}


@dataclass
class Envelope:
    envelope_id: str
    kind: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    connection: int  # which connection (1-based) it was sent on
    ack: dict[str, Any] | None = None
    acks: list[dict[str, Any]] = field(default_factory=list)  # every ack (a second one would be an app bug)


class SocketModeServer:
    """Slack's WebSocket side. The owning SlackMock routes `/link/` here and answers apps.connections.open."""

    def __init__(self, app_id: str = "A1") -> None:
        self.app_id = app_id
        self.base_ws = ""
        self.tickets: set[str] = set()
        self.sockets: list[web.WebSocketResponse] = []  # every connection ever opened, in order
        self.envelopes: dict[str, Envelope] = {}
        self.stray: list[dict[str, Any]] = []  # messages from the app that are not acks of a known envelope
        self.refused: int = 0  # connection attempts with a missing or reused ticket
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()

    # ------------------------------------------------------------ wiring (called by SlackMock)

    def open_url(self, token: str | None) -> dict[str, Any]:
        """apps.connections.open: only an app-level token may open a connection."""
        if not token or not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        ticket = secrets.token_hex(8)
        self.tickets.add(ticket)
        return {"ok": True, "url": f"{self.base_ws}/link/?ticket={ticket}&app_id={self.app_id}"}

    async def link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            self.refused += 1
            return web.Response(status=401, text="invalid ticket")
        self.tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)  # answers the client's `sdk-ping-pong` pings
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self.open_sockets()),
                "debug_info": {"host": "applink-mock", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._received(json.loads(msg.data))
        finally:
            await self._notify()
        return ws

    async def _received(self, data: dict[str, Any]) -> None:
        envelope = self.envelopes.get(str(data.get("envelope_id")))
        if envelope is None:
            self.stray.append(data)
        else:
            envelope.acks.append(data)
            envelope.ack = envelope.ack or data
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait(self, ready: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(ready)

    # ------------------------------------------------------------ test controls

    def open_sockets(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.sockets if not ws.closed]

    async def connected(self, count: int = 1, timeout: float = 10.0) -> web.WebSocketResponse:
        """The `count`-th connection, once it is open (and still open)."""
        await self._wait(lambda: len(self.sockets) >= count and not self.sockets[count - 1].closed, timeout)
        return self.sockets[count - 1]

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
        connection: int | None = None,
        timeout: float = 10.0,
    ) -> Envelope:
        """Send one envelope and wait for its ack (Slack gives the app 3 s): on the newest open connection, or on
        the `connection`-th one (Slack spreads envelopes over all of an app's connections, e.g. replicas)."""
        if connection is not None:
            ws = await self.connected(connection, timeout)
        else:
            await self._wait(lambda: bool(self.open_sockets()), timeout)
            ws = self.open_sockets()[-1]
        if accepts_response_payload is None:
            accepts_response_payload = kind == "slash_commands" or (
                kind == "interactive" and payload.get("type") in _ANSWERING
            )
        envelope = Envelope(
            f"{next(self._ids):04d}-{secrets.token_hex(6)}",
            kind,
            payload,
            accepts_response_payload,
            self.sockets.index(ws) + 1,
        )
        self.envelopes[envelope.envelope_id] = envelope
        message: dict[str, Any] = {
            "envelope_id": envelope.envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            message.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        await ws.send_str(json.dumps(message))
        await self._wait(lambda: envelope.ack is not None, timeout)
        return envelope

    async def disconnect(self, reason: str = "refresh_requested", *, close_after: float = 1.0) -> None:
        """Slack's `disconnect` message on the newest connection; the connection is closed `close_after` s
        later if the app has not replaced it by then (Slack does the same, ~10 s after a `warning`)."""
        ws = self.open_sockets()[-1]
        await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-mock"}})
        try:
            await self._wait(lambda: ws.closed, close_after)
        except TimeoutError:
            await ws.close()

    async def drop(self) -> None:
        """Close the newest connection without a word (a load balancer or network cut)."""
        await self.open_sockets()[-1].close()

    async def close_all(self) -> None:
        for ws in self.open_sockets():
            await ws.close()
