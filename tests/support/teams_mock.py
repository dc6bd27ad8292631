"""A local mock of the Bot Connector service (plus an app-token endpoint) and an OpenID/JWKS server.

The connector runs on aiohttp at 127.0.0.1 in the test's event loop and records what botbuilder's real
ConnectorClient sends: activities posted and updated, conversations created, roster pages read. It can answer
403 MessageWritesBlocked, 429 with Retry-After, or 5xx on demand.

The OpenID metadata/JWKS server runs in a thread with its own stdlib HTTP server, because botbuilder fetches signing
keys with blocking `requests.get` from the event loop (a server on the same loop could never answer it).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://api.botframework.com"


@dataclass
class Posted:
    """One activity the bot sent (or updated) through the connector."""

    conversation_id: str
    activity: dict[str, Any]
    id: str
    updated: bool = False
    authorization: str | None = None

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [a.get("content") or {} for a in self.activity.get("attachments") or []]

    @property
    def texts(self) -> list[str]:
        """Every TextBlock text and fact, in order (what a person reads)."""
        out: list[str] = []
        if self.activity.get("text"):
            out.append(self.activity["text"])
        for card in self.cards:
            _walk_texts(card, out)
        return out

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def actions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for card in self.cards:
            _walk_actions(card, found)
        return found

    def inputs(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for card in self.cards:
            _walk_inputs(card, found)
        return found


def _walk_texts(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "TextBlock" and node.get("text"):
            out.append(node["text"])
        if node.get("type") == "FactSet":
            out.extend(f"{f['title']}: {f['value']}" for f in node.get("facts", []))
        for key in ("body", "items", "columns", "card"):
            _walk_texts(node.get(key), out)
    elif isinstance(node, list):
        for item in node:
            _walk_texts(item, out)


def _walk_actions(node: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if str(node.get("type", "")).startswith("Action."):
            out.append(node)
        for key in ("body", "actions", "items", "columns", "card"):
            _walk_actions(node.get(key), out)
    elif isinstance(node, list):
        for item in node:
            _walk_actions(item, out)


def _walk_inputs(node: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if str(node.get("type", "")).startswith("Input."):
            out.append(node)
        for key in ("body", "items", "columns"):
            _walk_inputs(node.get(key), out)
    elif isinstance(node, list):
        for item in node:
            _walk_inputs(item, out)


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    conversation_id: str | None = None  # None: any conversation
    times: int = 1
    after: int = 0  # let this many matching sends through first


class MockConnector:
    """The Bot Connector REST API (v3) as far as Uptake uses it, recording everything."""

    def __init__(self) -> None:
        self.posted: list[Posted] = []
        self.created: list[dict[str, Any]] = []
        self.roster: dict[str, list[dict[str, Any]]] = {}
        self.roster_reads: list[tuple[str, str | None]] = []
        self.failures: list[Failure] = []
        self.blocked: set[str] = set()
        self.token_requests: list[dict[str, str]] = []
        self.token_lifetime = 3600
        self.requests = 0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---------------------------------------------------------------- what tests read

    @property
    def activities(self) -> list[Posted]:
        return [p for p in self.posted if not p.updated]

    @property
    def updates(self) -> list[Posted]:
        return [p for p in self.posted if p.updated]

    def to(self, conversation_id: str) -> list[Posted]:
        return [p for p in self.activities if p.conversation_id == conversation_id]

    def last(self, conversation_id: str | None = None) -> Posted:
        pool = self.activities if conversation_id is None else self.to(conversation_id)
        if not pool:
            raise AssertionError(f"nothing was posted to {conversation_id or 'any conversation'}")
        return pool[-1]

    def clear(self) -> None:
        self.posted.clear()
        self.created.clear()

    # ---------------------------------------------------------------- failure injection

    def fail(
        self,
        status: int,
        *,
        code: str = "",
        retry_after: float | None = None,
        conversation_id: str | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """The next `times` sends (to `conversation_id`, or any) answer `status`, after `after` succeeded ones."""
        body = {"error": {"code": code or str(status), "message": f"mock {status}"}}
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self.failures.append(Failure(status, body, headers, conversation_id, times, after))

    def block(self, conversation_id: str) -> None:
        """The person blocked the bot: every send there answers 403 MessageWritesBlocked."""
        self.blocked.add(conversation_id)

    def _failure_for(self, conversation_id: str) -> web.Response | None:
        if conversation_id in self.blocked:
            body = {"error": {"code": "ConversationBlockedByUser", "message": "MessageWritesBlocked"}}
            return web.json_response(body, status=403)
        for f in self.failures:
            if f.times > 0 and f.conversation_id in (None, conversation_id):
                if f.after > 0:
                    f.after -= 1
                    continue
                f.times -= 1
                return web.json_response(f.body, status=f.status, headers=f.headers)
        return None

    # ---------------------------------------------------------------- the server

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/v3/conversations/{cid}/pagedmembers", self._members)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _send(self, request: web.Request) -> web.Response:
        self.requests += 1
        cid = request.match_info["cid"]
        failure = self._failure_for(cid)
        if failure is not None:
            return failure
        activity = await request.json()
        aid = f"act-{next(self._ids)}"
        self.posted.append(Posted(cid, activity, aid, authorization=request.headers.get("Authorization")))
        return web.json_response({"id": aid}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        self.requests += 1
        cid, aid = request.match_info["cid"], request.match_info["aid"]
        activity = await request.json()
        self.posted.append(Posted(cid, activity, aid, updated=True, authorization=request.headers.get("Authorization")))
        return web.json_response({"id": aid})

    async def _create(self, request: web.Request) -> web.Response:
        self.requests += 1
        params = await request.json()
        self.created.append(params)
        member = (params.get("members") or [{}])[0].get("id", "x")
        cid = f"a:personal-{member}"
        failure = self._failure_for(cid)
        if failure is not None:
            return failure
        return web.json_response({"id": cid, "activityId": None}, status=201)

    async def _members(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        token = request.query.get("continuationToken")
        self.roster_reads.append((cid, token))
        size = int(request.query.get("pageSize", "100"))
        members = self.roster.get(cid, [])
        start = int(token or 0)
        page = members[start : start + size]
        nxt = str(start + size) if start + size < len(members) else None
        return web.json_response({"members": page, "continuationToken": nxt})

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items() if k != "client_secret"})
        token = f"app-token-{len(self.token_requests)}"
        return web.json_response({"token_type": "Bearer", "expires_in": self.token_lifetime, "access_token": token})


class OpenIdServer:
    """Bot Framework's OpenID metadata and signing keys, served from a thread, with a test RSA key to sign."""

    def __init__(self, *, endorsements: tuple[str, ...] = ("msteams",)) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "uptake-test-key"
        self.endorsements = list(endorsements)
        self.metadata_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", endorsements=self.endorsements)
        return {"keys": [jwk]}

    def sign(
        self,
        *,
        audience: str,
        service_url: str,
        issuer: str = ISSUER,
        expires_in: float = 3600,
        kid: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """A channel token like the Bot Framework's: `Bearer <this>` on the inbound request."""
        now = time.time()
        claims = {
            "iss": issuer,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": int(now - 60),
            "iat": int(now - 60),
            "exp": int(now + expires_in),
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def start(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith("/openidconfiguration"):
                    server.metadata_requests += 1
                    body = {
                        "issuer": ISSUER,
                        "jwks_uri": f"{server.url}/v1/keys",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path.endswith("/keys"):
                    body = server.jwks()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
