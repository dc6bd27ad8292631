"""Process-lifetime Bot Framework clients: why Uptake's Teams endpoint does not pay botbuilder's per-turn costs.

Out of the box, `CloudAdapterBase.process_activity` builds a new `ConnectorClient` and `TokenApiClient` per turn:
each builds an msrest `Configuration` (~8 ms of CPU in `ClientRetryPolicy`), a new `requests.Session` (a new TCP
connection per reply, sent from the thread pool) and, with credentials, new `MicrosoftAppCredentials` with an empty
token cache whose token fetch runs synchronously on the event loop. `CachedBotFrameworkAuthentication` wraps the
configured `BotFrameworkAuthentication` and keeps instead, for the life of the process:
- one `ConnectorClient` per (serviceUrl, audience), whose msrest pipeline sends through one shared aiohttp session;
- one `AppToken` per (app id, audience): a client-credentials token fetched with aiohttp (never blocking the loop),
  once per token lifetime, single-flight under concurrency;
- one user-token client per app id.
Inbound JWT validation stays botbuilder's own (issuer, audience, expiry, signing key, endorsements, serviceurl).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import requests
from botbuilder.schema import Activity
from botframework.connector import BotFrameworkConnectorConfiguration
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    MicrosoftAppCredentials,
    UserTokenClient,
)
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor, _OpenIdMetadata
from msrest.pipeline import AsyncHTTPPolicy, AsyncHTTPSender, AsyncPipeline, Request, Response
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http import AsyncClientResponse, ClientRequest
from multidict import CIMultiDict

log = logging.getLogger("uptake.teams")

BOT_FRAMEWORK_SCOPE = "https://api.botframework.com"
USER_AGENT = "Uptake (botbuilder CloudAdapter; shared connector pool)"
REFRESH_MARGIN = 300.0  # renew five minutes before expiry, like MSAL


class OffLoopOpenIdMetadata(_OpenIdMetadata):  # type: ignore[misc]
    """Bot Framework signing keys, fetched in a worker thread and once for all concurrent requests.

    botbuilder's own `_OpenIdMetadata._refresh` calls blocking `requests.get` on the event loop (at start, daily,
    and on an unknown key at most hourly). Registered for our metadata URL in botbuilder's metadata cache, this keeps
    its validation logic and caching rules and only moves the fetch off the loop.
    """

    last_updated: datetime
    keys: list[Any]

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        before = self.last_updated
        async with self._lock:
            if self.last_updated != before:
                return  # another request refreshed while we waited
            keys = await asyncio.to_thread(self._fetch)
            self.keys, self.last_updated = keys, datetime.now()

    def _fetch(self) -> list[Any]:
        response = requests.get(self.url, timeout=10)
        response.raise_for_status()
        jwks = requests.get(response.json()["jwks_uri"], timeout=10)
        jwks.raise_for_status()
        return list(jwks.json()["keys"])


def use_off_loop_metadata(*urls: str) -> None:
    """Make botbuilder's JWT validation fetch signing keys from `urls` through OffLoopOpenIdMetadata."""
    for url in urls:
        if not isinstance(JwtTokenExtractor.metadataCache.get(url), OffLoopOpenIdMetadata):
            JwtTokenExtractor.metadataCache[url] = OffLoopOpenIdMetadata(url)


class TokenError(Exception):
    """The token endpoint refused or failed; sends fail as transient errors, inbound work is unaffected."""


class AppToken:
    """One app's access token for one audience, cached for its lifetime (client-credentials grant)."""

    def __init__(
        self,
        pool: ConnectorPool,
        token_url: str,
        app_id: str,
        password: str,
        audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.token_url = token_url
        self.app_id = app_id
        self._password = password
        self.scope = audience.rstrip("/") + "/.default"
        self.clock = clock
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def _fresh(self) -> bool:
        return bool(self._token) and self.clock() < self._expires_at - REFRESH_MARGIN

    async def get(self) -> str:
        if self._fresh():
            return self._token
        async with self._lock:  # one fetch for everyone waiting, not one per concurrent send
            if not self._fresh():
                await self._fetch()
        return self._token

    async def _fetch(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.app_id,
            "client_secret": self._password,
            "scope": self.scope,
        }
        session = self.pool.session()
        self.fetches += 1
        try:
            async with session.post(self.token_url, data=form, timeout=aiohttp.ClientTimeout(total=15)) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200 or "access_token" not in body:
                    # Never log the body: it may echo the client id; the error code is enough.
                    raise TokenError(f"token endpoint answered {resp.status} {body.get('error', '')}".strip())
        except aiohttp.ClientError as e:
            raise TokenError(f"token endpoint unreachable: {type(e).__name__}") from None
        self._token = str(body["access_token"])
        self._expires_at = self.clock() + float(body.get("expires_in", 3600))
        log.info("teams: app token fetched (audience %s, valid %ss)", self.scope, body.get("expires_in", 3600))


class BearerTokenPolicy(AsyncHTTPPolicy):  # type: ignore[misc]
    """Adds the cached app token to every connector request (replaces msrest's per-call signed_session)."""

    def __init__(self, token: AppToken) -> None:
        super().__init__()
        self.token = token

    async def send(self, request: Request, **kwargs: Any) -> Response:
        request.http_request.headers["Authorization"] = f"Bearer {await self.token.get()}"
        assert self.next is not None  # msrest links the policies when it builds the pipeline
        return await self.next.send(request, **kwargs)


class _Body(AsyncClientResponse):  # type: ignore[misc]
    """A fully read aiohttp response in msrest's shape (an empty body is allowed, unlike msrest's own)."""

    def __init__(self, request: ClientRequest, resp: aiohttp.ClientResponse, body: bytes) -> None:
        super().__init__(request, resp)
        self.status_code: int = resp.status
        self.headers = CIMultiDict(resp.headers)
        self.reason = resp.reason
        self._body = body

    def body(self) -> bytes:
        return self._body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise aiohttp.ClientResponseError(
                self.internal_response.request_info, (), status=self.status_code, message=str(self.reason)
            )


class SharedSessionSender(AsyncHTTPSender):  # type: ignore[misc]
    """msrest's last pipeline step, sending on the pool's one aiohttp session (keep-alive, no thread pool)."""

    def __init__(self, pool: ConnectorPool) -> None:
        self.pool = pool

    async def __aenter__(self) -> SharedSessionSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def build_context(self) -> Any:
        return None

    async def send(self, request: Request, **config: Any) -> Response:
        http = request.http_request
        data = http.data
        if http.files:
            raise NotImplementedError("file uploads are not used by Uptake")
        async with self.pool.session().request(
            http.method, http.url, headers=http.headers, data=data, timeout=aiohttp.ClientTimeout(total=30)
        ) as resp:
            body = await resp.read()
        return Response(request, _Body(http, resp, body))


class _Answer:
    """A connector error response in the shape msrest's HttpOperationError.response has (status, headers, body)."""

    def __init__(self, status: int, reason: str, headers: CIMultiDict[str], body: bytes) -> None:
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self._body = body


class ConnectorError(Exception):
    """A Bot Connector answer outside 200-202 on the direct path (what msrest raises as ErrorResponseException)."""

    def __init__(self, status: int, reason: str, headers: CIMultiDict[str], body: bytes) -> None:
        self.message = f"Operation returned an invalid status code {reason!r}"
        super().__init__(self.message)
        self.response = _Answer(status, reason, headers, body)


class ConnectorPool:
    """Connector clients and app tokens that live as long as the process."""

    def __init__(self, *, app_id: str | None, password: str | None, token_url: str | None) -> None:
        self.app_id = app_id or None
        self._password = password or ""
        self.token_url = token_url
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[tuple[str, str], ConnectorClient] = {}
        self._tokens: dict[str, AppToken] = {}
        self.clients_built = 0

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=100, limit_per_host=50, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})
        return self._session

    def token(self, audience: str | None = None) -> AppToken | None:
        """The cached token for `audience`; None in emulator mode (no credentials, no Authorization header)."""
        if not self.app_id or not self.token_url:
            return None
        key = (audience or BOT_FRAMEWORK_SCOPE).rstrip("/")
        if key not in self._tokens:
            self._tokens[key] = AppToken(self, self.token_url, self.app_id, self._password, key)
        return self._tokens[key]

    @property
    def token_fetches(self) -> int:
        return sum(t.fetches for t in self._tokens.values())

    def connector(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (service_url.rstrip("/") + "/", (audience or BOT_FRAMEWORK_SCOPE).rstrip("/"))
        client = self._clients.get(key)
        if client is None:
            client = self._build(key[0], key[1])
            self._clients[key] = client
        return client

    async def call(
        self,
        method: str,
        service_url: str,
        path: str,
        conversation_id: str,
        body: dict[str, Any],
        audience: str | None = None,
        *,
        conversation_header: bool = True,
    ) -> dict[str, Any]:
        """One connector call with a body already in wire JSON (teams_wire.py): the request msrest's
        ConversationsOperations would make (same URL, headers, app token), without its per-call serializer and
        pipeline. Returns the parsed answer (a ResourceResponse's fields); raises ConnectorError like msrest."""
        headers = {"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"}
        if conversation_header:  # reply_to_activity / update_activity send it; send_to_conversation does not
            headers["x-ms-conversation-id"] = conversation_id
        token = self.token(audience)
        if token is not None:
            headers["Authorization"] = f"Bearer {await token.get()}"
        url = service_url.rstrip("/") + path
        data = json.dumps(body).encode()
        async with self.session().request(
            method, url, data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
        ) as resp:
            raw = await resp.read()
            if resp.status not in (200, 201, 202):
                raise ConnectorError(resp.status, str(resp.reason or ""), CIMultiDict(resp.headers), raw)
        if not raw:
            return {}
        answer = json.loads(raw)
        return answer if isinstance(answer, dict) else {}

    def _build(self, service_url: str, audience: str) -> ConnectorClient:
        token = self.token(audience)
        sender = SharedSessionSender(self)

        def pipeline(config: BotFrameworkConnectorConfiguration) -> AsyncPipeline:
            policies: list[Any] = [config.user_agent_policy, RawDeserializer()]
            if token is not None:
                policies.insert(1, BearerTokenPolicy(token))
            return AsyncPipeline(policies, sender)

        # The credentials object is never used to sign (our pipeline does); msrest only insists that one exists.
        config = BotFrameworkConnectorConfiguration(
            MicrosoftAppCredentials.empty(), service_url, pipeline_type=pipeline
        )
        self.clients_built += 1
        return ConnectorClient(None, custom_configuration=config)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class PooledConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    def __init__(self, pool: ConnectorPool) -> None:
        self.pool = pool

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        return self.pool.connector(service_url, audience)


class CachedBotFrameworkAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """Validation by the configured authentication; outbound clients from the process-wide pool.

    In emulator mode the Authorization header is ignored (botbuilder treats a missing header with no app id as
    anonymous); the adapter only enables that mode while bound to a loopback address.
    """

    def __init__(self, inner: BotFrameworkAuthentication, pool: ConnectorPool, *, emulator: bool) -> None:
        self.inner = inner
        self.pool = pool
        self.emulator = emulator
        self._factory = PooledConnectorFactory(pool)
        self._user_token_clients: dict[str, UserTokenClient] = {}

    async def authenticate_request(self, activity: Activity, auth_header: str | None) -> AuthenticateRequestResult:
        result = await self.inner.authenticate_request(activity, None if self.emulator else (auth_header or None))
        result.connector_factory = self._factory
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str) -> Any:
        return await self.inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._factory

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        key = self.pool.app_id or ""
        client = self._user_token_clients.get(key)
        if client is None:
            client = await self.inner.create_user_token_client(claims_identity)
            self._user_token_clients[key] = client
        return client

    def get_originating_audience(self) -> str:
        return self.inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self.inner.authenticate_channel_request(auth_header)
