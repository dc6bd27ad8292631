"""Outbound Slack: one configured Web API client per bot token, the outbox sender, and error classification.

slack_sdk retries nothing but connection errors by default (platform-rules fact 4), so the rate-limit and
server-error handlers are added explicitly. `SLACK_API_URL` points the client at an enterprise proxy or the
tests' mock. In multi-workspace (OAuth) mode the bot token comes from the installation store, rotated when it
is about to expire.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack_render import render_message
from bot.config import Settings
from bot.model import Identity, Message
from bot.runtime import SendError

log = logging.getLogger("uptake.slack")

OUTBOX_EVENT = "uptake_outbox"
# An expired token is rotated on the next attempt, so `token_expired` is worth retrying.
TRANSIENT_ERRORS = {
    "ratelimited",
    "fatal_error",
    "internal_error",
    "service_unavailable",
    "request_timeout",
    "token_expired",
}
# The cached token is dead or replaced (rotated by another process, revoked, reinstalled): read the store again.
STALE_TOKEN_ERRORS = {"token_expired", "token_revoked", "invalid_auth", "not_authed", "account_inactive"}
UNREACHABLE_ERRORS = {"account_inactive", "user_not_found", "user_disabled", "cannot_dm_bot"}
ROTATE_BEFORE_MINUTES = 120


def retry_handlers() -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]


def error_code(error: Exception) -> str:
    """Slack's `error` of an ok:false answer, else ""."""
    if isinstance(error, SlackApiError) and isinstance(error.response.data, dict):
        return str(error.response.get("error") or "")
    return ""


def classify(error: Exception, method: str) -> SendError:
    """Transient (retry later): 429, 5xx, connection trouble. Permanent: Slack's ok:false codes."""
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        code = str(error.response.get("error") or "") if isinstance(error.response.data, dict) else ""
        retry_after: float | None = None
        if status == 429:
            try:
                retry_after = float(error.response.headers.get("retry-after", "1"))
            except (TypeError, ValueError):
                retry_after = 1.0
        transient = status == 429 or status >= 500 or code in TRANSIENT_ERRORS
        return SendError(
            f"slack {method}: {code or status}",
            transient=transient,
            retry_after=retry_after,
            unreachable=code in UNREACHABLE_ERRORS,
        )
    if isinstance(error, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return SendError(f"slack {method}: {type(error).__name__}", transient=True)
    raise error


class SlackClients:
    """Web API clients sharing one HTTP session and the same retry handlers, one per bot token."""

    def __init__(self, settings: Settings, installation_store: AsyncInstallationStore | None = None) -> None:
        self.settings = settings
        self.installation_store = installation_store
        self.session: aiohttp.ClientSession | None = None
        self._by_token: dict[str | None, AsyncWebClient] = {}
        self._bot_tokens: dict[str, tuple[str, float | None]] = {}  # workspace -> (token, expiry epoch)
        self._looking_up: dict[str, asyncio.Lock] = {}  # workspace -> one store lookup / rotation at a time

    def http(self) -> aiohttp.ClientSession:
        """The one HTTP session of every Web API client and of the response_url posts (one connection pool)."""
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self.session

    def client(self, token: str | None = None) -> AsyncWebClient:
        found = self._by_token.get(token)
        if found is None:
            found = AsyncWebClient(
                token=token,
                base_url=self.settings.slack_api_url,
                session=self.http(),
                timeout=15,
                retry_handlers=retry_handlers(),
            )
            if len(self._by_token) > 1000:
                self._by_token.clear()
            self._by_token[token] = found
        return found

    async def for_workspace(self, workspace: str) -> AsyncWebClient:
        """The client holding the bot token of `workspace` (OAuth mode) or the single bot token.

        With token rotation, a token within ROTATE_BEFORE_MINUTES of expiring is first looked up again (another
        process may have rotated it) and else refreshed through oauth.v2.access. It reads and saves the same
        installation record as Bolt's authorize, so requests, this process's outbox and other replicas all use
        the newest token and refresh token.
        """
        if self.installation_store is None:
            token = self.settings.slack_bot_token
            return self.client(token.get_secret_value() if token else None)
        cached = self._bot_tokens.get(workspace)
        if self._stale(cached):
            # One lookup (and rotation) per workspace at a time: a burst of sends to an expiring workspace makes
            # one oauth.v2.access call, and the others wait for its token instead of each refreshing.
            async with self._looking_up.setdefault(workspace, asyncio.Lock()):
                cached = self._bot_tokens.get(workspace)
                if self._stale(cached):
                    cached = await self._bot_token(workspace)
                    self._bot_tokens[workspace] = cached
        assert cached is not None
        return self.client(cached[0])

    @staticmethod
    def _stale(cached: tuple[str, float | None] | None) -> bool:
        """No token yet, or one within ROTATE_BEFORE_MINUTES of expiring."""
        return cached is None or (cached[1] is not None and cached[1] <= time.time() + ROTATE_BEFORE_MINUTES * 60)

    async def _bot_token(self, workspace: str) -> tuple[str, float | None]:
        store = self.installation_store
        assert store is not None
        installation = await store.async_find_installation(enterprise_id=None, team_id=workspace)
        if installation is None or not installation.bot_token:
            raise SendError(f"Uptake is not installed in Slack workspace {workspace}", transient=False)
        if installation.bot_refresh_token and self.settings.slack_client_secret is not None:
            try:
                rotated = await self.rotator().perform_token_rotation(
                    installation=installation, minutes_before_expiration=ROTATE_BEFORE_MINUTES
                )
            except SlackTokenRotationError as e:
                raise classify(e.api_error, "oauth.v2.access") from None
            if rotated is not None:
                await store.async_save(rotated)
                log.info("slack: bot token of workspace %s rotated", workspace)
                installation = rotated
        assert installation.bot_token is not None
        expires = installation.bot_token_expires_at
        return installation.bot_token, float(expires) if expires is not None else None

    def rotator(self) -> AsyncTokenRotator:
        """slack_sdk's rotator, calling oauth.v2.access at SLACK_API_URL (Bolt's default would go to slack.com)."""
        assert self.settings.slack_client_secret is not None
        return AsyncTokenRotator(
            client_id=self.settings.slack_client_id or "",
            client_secret=self.settings.slack_client_secret.get_secret_value(),
            client=self.client(None),
        )

    def forget(self, workspace: str) -> None:
        """After an uninstall or revoked tokens."""
        self._bot_tokens.pop(workspace, None)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        self._by_token.clear()


class SlackSender:
    """The outbox's Slack sender (bot.runtime.Sender)."""

    platform = "slack"

    def __init__(self, clients: SlackClients) -> None:
        self.clients = clients
        self._rendered: tuple[Message, list[dict[str, Any]]] | None = None

    def _render(self, message: Message) -> list[dict[str, Any]]:
        """Block Kit payloads of `message`; the outbox hands a broadcast's rows the same Message object, so a
        fan-out renders it once instead of once per recipient."""
        if self._rendered is None or self._rendered[0] is not message:
            self._rendered = (message, render_message(message))
        return self._rendered[1]

    async def send_to_person(self, identity: Identity, message: Message, *, ref: str | None = None) -> str:
        # The user id as channel posts into the app's DM without a conversations.open per message (Tier 3).
        return await self._post(identity.workspace, identity.user_id, message, ref)

    async def send_to_channel(
        self, workspace: str, channel_id: str, message: Message, *, ref: str | None = None
    ) -> str:
        return await self._post(workspace, channel_id, message, ref)

    async def _post(self, workspace: str, channel: str, message: Message, ref: str | None) -> str:
        client = await self.clients.for_workspace(workspace)
        first_ts = ""
        for i, payload in enumerate(self._render(message)):
            extra: dict[str, Any] = {}
            if ref and i == 0:
                extra["metadata"] = {"event_type": OUTBOX_EVENT, "event_payload": {"ref": ref}}
            try:
                resp = await client.chat_postMessage(channel=channel, **payload, **extra)
            except Exception as e:
                err = classify(e, "chat.postMessage")
                if error_code(e) in STALE_TOKEN_ERRORS:
                    self.clients.forget(workspace)
                if i > 0:  # the first part arrived: report success rather than resend it later
                    log.warning("slack: later part of a long message failed: %s", err)
                    break
                raise err from None
            first_ts = first_ts or str(resp.get("ts") or "")
        return first_ts

    async def find_sent(
        self, identity: Identity | None, workspace: str, channel_id: str | None, ref: str, since: dt.datetime
    ) -> str | None:
        """The ts of a message carrying `ref` in its metadata, posted after `since` (crash reconciliation)."""
        client = await self.clients.for_workspace(workspace)
        try:
            channel = channel_id
            if channel is None and identity is not None:
                opened = await client.conversations_open(users=identity.user_id)
                channel = opened["channel"]["id"]
            if channel is None:
                return None
            resp = await client.conversations_history(
                channel=channel, oldest=f"{since.timestamp():.6f}", include_all_metadata=True, limit=200
            )
        except Exception as e:
            if error_code(e) in STALE_TOKEN_ERRORS:
                self.clients.forget(workspace)
            raise classify(e, "conversations.history") from None
        for msg in resp.get("messages") or []:
            meta = msg.get("metadata") or {}
            if meta.get("event_type") == OUTBOX_EVENT and (meta.get("event_payload") or {}).get("ref") == ref:
                return str(msg.get("ts"))
        return None

    async def close(self) -> None:
        await self.clients.close()
