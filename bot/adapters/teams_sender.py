"""Proactive Teams sends for the outbox: stored conversation references only, within Teams' send budgets.

A reference is stored from an authenticated inbound activity (or emulator mode on loopback) and never taken from
a request body (R6). With no personal chat yet, the sender opens one in the person's tenant when the bot is
installed in one of their teams (R19); with neither, it fails permanently without any API call ("app not
installed"). `403 MessageWritesBlocked` means the person blocked or removed the bot: unreachable, never retried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp
from botbuilder.schema import Activity, ActivityTypes, Attachment, ChannelAccount, ConversationParameters
from msrest.exceptions import ClientRequestError, HttpOperationError
from sqlalchemy import select

from bot.adapters import teams_store as store
from bot.adapters.teams_auth import ConnectorError, ConnectorPool
from bot.adapters.teams_cards import CARD_CONTENT_TYPE, bare, message_cards
from bot.adapters.teams_store import TeamsConversation as TC
from bot.adapters.teams_throttle import SendBudget
from bot.adapters.teams_wire import wire
from bot.model import Identity, Message
from bot.runtime import Runtime, SendError

log = logging.getLogger("uptake.teams")

TRANSIENT = {412, 429, 500, 502, 503, 504}
KEEP_DELIVERIES = dt.timedelta(days=14)  # longer than any outbox retry or lease; then the records go
PRUNE_EVERY = dt.timedelta(hours=1)
MAX_INLINE_WAIT = 2.0  # longer waits go back to the outbox as a retry, so one busy chat never stalls the worker


_RENDERED: dict[Message, tuple[str, list[dict[str, Any]]]] = {}
RENDERED_MAX = 256


def rendered(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """(summary, cards) of a message, rendered once per distinct message: most replies are the same few cards
    (help, a question's answer, a confirmation), and rendering was ~6 % of a message's cost under load. Messages
    are frozen dataclasses, so equal content is one entry; the cards are shared and nobody mutates them (they go
    to json.dumps only). A message that cannot be hashed is rendered every time."""
    try:
        found = _RENDERED.get(message)
    except TypeError:
        return bare(message.text)[:200], message_cards(message)
    if found is None:
        if len(_RENDERED) >= RENDERED_MAX:
            _RENDERED.clear()
        found = _RENDERED[message] = (bare(message.text)[:200], message_cards(message))
    return found


def card_activities(message: Message, cards: list[dict[str, Any]] | None = None) -> list[Activity]:
    """One message activity per card (long messages become several)."""
    if cards is None:
        summary, cards = rendered(message)
    else:
        summary = bare(message.text)[:200]
    return [
        Activity(
            type=ActivityTypes.message,
            summary=summary,
            attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=c)],
        )
        for c in cards
    ]


def classify(e: Exception) -> SendError:
    """A connector failure as the outbox understands it (R16, R19)."""
    if isinstance(e, HttpOperationError | ConnectorError) and getattr(e, "response", None) is not None:
        status = status_of(e)
        resp = e.response
        raw = getattr(resp, "_body", None) or b""  # aiohttp keeps the body our sender already read
        text = f"{e.message} {raw.decode('utf-8', 'replace') if isinstance(raw, bytes) else ''}"
        headers = getattr(resp, "headers", None) or {}
        retry_after = _seconds(headers.get("Retry-After"))
        if status == 403 and ("MessageWritesBlocked" in text or "ConversationBlockedByUser" in text):
            return SendError("Teams: the person blocked or removed Uptake (403)", transient=False, unreachable=True)
        if status in TRANSIENT:
            return SendError(f"Teams answered {status}", transient=True, retry_after=retry_after)
        return SendError(f"Teams answered {status}", transient=False)
    if isinstance(e, ClientRequestError | aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
        return SendError(f"Teams unreachable: {type(e).__name__}", transient=True)
    return SendError(f"Teams send failed: {type(e).__name__}", transient=False)


def _seconds(value: Any) -> float | None:
    try:
        return max(0.0, float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def status_of(e: Exception) -> int:
    """The HTTP status of a connector error (msrest keeps the aiohttp response, whose field is `status`)."""
    resp = getattr(e, "response", None)
    return int(getattr(resp, "status_code", None) or getattr(resp, "status", None) or 0)


class TeamsSender:
    """`bot.runtime.Sender` for Teams."""

    platform = "teams"

    def __init__(
        self,
        rt: Runtime,
        pool: ConnectorPool,
        budget: SendBudget | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rt = rt
        self.pool = pool
        self.sleep = sleep  # injectable with the budget's clock, so tests wait in simulated time
        # The runtime's clock, so tests move the budget's windows with the same FrozenClock as the outbox.
        self.budget = budget or SendBudget(clock=lambda: rt.clock.now().timestamp())
        self._pruned_at = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._cards: tuple[Message, list[dict[str, Any]]] | None = None
        self._prepared: dict[tuple[str, str], tuple[str, str]] = {}  # (tenant, aad) -> (conversation, serviceUrl)

    async def prepare(self, identities: list[Identity]) -> None:
        """Look up the stored personal chats of a claimed batch in one query per tenant (the outbox calls this
        after a claim): a session and a query per send was most of a fan-out's cost. Each entry is used by one
        send and lives seconds, so it is never staler than the claim it came with."""
        wanted: dict[str, set[str]] = {}
        for identity in identities:
            wanted.setdefault(identity.workspace, set()).add(identity.user_id)
        if len(self._prepared) > 5000:  # entries of rows that went back to the table unsent
            self._prepared.clear()
        async with self.rt.db.session() as session:
            for tenant, aads in wanted.items():
                found = await session.execute(
                    select(TC.user_aad_id, TC.conversation_id, TC.service_url)
                    .where(
                        TC.tenant_id == tenant,
                        TC.user_aad_id.in_(aads),
                        TC.kind == "personal",
                        TC.active.is_(True),
                    )
                    .order_by(TC.updated_at)  # the most recent chat wins, as in store.personal_conversation
                )
                for aad, conversation_id, service_url in found.all():
                    self._prepared[(tenant, str(aad))] = (conversation_id, service_url)

    def _activities(self, message: Message) -> list[Activity]:
        """The outbox hands a broadcast's rows the same Message object: build its cards once per fan-out."""
        if self._cards is None or self._cards[0] is not message:
            self._cards = (message, message_cards(message))
        return card_activities(message, self._cards[1])

    async def send_to_person(self, identity: Identity, message: Message, *, ref: str | None = None) -> str:
        tenant, aad = identity.workspace, identity.user_id
        prepared = self._prepared.pop((tenant, aad), None)
        if prepared is not None:
            conversation_id, service_url = prepared
        else:
            async with self.rt.db.session() as session:
                row = await store.personal_conversation(session, tenant, aad)
                if row is None:
                    m = await store.member(session, tenant, aad)
                    if m is None:
                        raise SendError("Teams: app not installed for this person (no conversation)", transient=False)
                    row = await self.open_personal(session, tenant, aad, m.user_id, m.bot_id, m.service_url, m.name)
                    await session.commit()
                conversation_id, service_url = row.conversation_id, row.service_url
        try:
            return await self.post(conversation_id, tenant, service_url, message, ref=ref)
        except SendError as e:
            if e.unreachable:
                async with self.rt.db.session() as session:
                    await store.deactivate(session, conversation_id)
                    await session.commit()
            raise

    async def send_to_channel(
        self, workspace: str, channel_id: str, message: Message, *, ref: str | None = None
    ) -> str:
        async with self.rt.db.session() as session:
            row = await store.conversation(session, channel_id)
            # "" = the tenant the channel's stored reference is in (rollout.yml names no workspace for channels).
            if row is None or not row.active or (workspace and row.tenant_id != workspace):
                raise SendError("Teams: Uptake is not installed in that channel", transient=False)
            conversation_id, service_url, tenant = row.conversation_id, row.service_url, row.tenant_id
        return await self.post(conversation_id, tenant, service_url, message, ref=ref)

    async def post(
        self, conversation_id: str, tenant: str, service_url: str, message: Message, *, ref: str | None = None
    ) -> str:
        """Send every card of `message`; returns the first activity id."""
        return await self.post_activities(conversation_id, tenant, service_url, self._activities(message), ref=ref)

    async def post_activities(
        self,
        conversation_id: str,
        tenant: str,
        service_url: str,
        activities: list[Activity],
        *,
        ref: str | None = None,
    ) -> str:
        """Send the activities in order. With `ref` (an outbox row) and several cards (a long message), each
        accepted card is recorded, so the outbox's retry after a later card failed sends only the missing ones.
        (A crash between Teams accepting a card and the record is still resent, as the outbox flags it.)"""
        delivered: dict[int, str] = {}
        path = f"/v3/conversations/{quote(conversation_id, safe='')}/activities"
        if ref and len(activities) > 1:
            async with self.rt.db.session() as session:
                delivered = {i: row.activity_id for i, row in (await store.delivered_parts(session, ref)).items()}
        first = delivered.get(0, "")
        for i, activity in enumerate(activities):
            if i in delivered:
                continue
            wait = self.budget.reserve(conversation_id, tenant)
            if wait > MAX_INLINE_WAIT:
                raise SendError("Teams send budget exhausted for now", transient=True, retry_after=wait)
            if wait > 0:
                await self.sleep(wait)
            try:
                # What ConversationsOperations.send_to_conversation posts (URL, headers, token, body as msrest
                # writes it: teams_wire, tested against msrest), on the pool's session without msrest's pipeline.
                res = await self.pool.call(
                    "POST", service_url, path, conversation_id, wire(activity), conversation_header=False
                )
            except Exception as e:
                err = classify(e)
                if status_of(e) == 429:
                    err.retry_after = self.budget.throttled(conversation_id, err.retry_after)
                log.warning("teams send failed conversation=%s: %s", conversation_id[:40], err)
                raise err from None
            self.budget.succeeded(conversation_id)
            activity_id = str(res.get("id") or "")
            first = first or activity_id
            if ref and len(activities) > 1:
                await self._record(ref, i, len(activities), activity_id)
        return first

    async def _record(self, ref: str, part: int, parts: int, activity_id: str) -> None:
        now = self.rt.clock.now()
        async with self.rt.db.session() as session:
            session.add(store.TeamsDelivery(ref=ref, part=part, parts=parts, activity_id=activity_id, at=now))
            if now - self._pruned_at > PRUNE_EVERY:
                self._pruned_at = now
                await store.prune_deliveries(session, now - KEEP_DELIVERIES)
            await session.commit()

    async def open_personal(
        self,
        session: Any,
        tenant: str,
        aad: str,
        user_id: str,
        bot_id: str,
        service_url: str,
        name: str = "",
    ) -> store.TeamsConversation:
        """Create the 1:1 chat with someone in a tenant where Uptake is installed, and store its reference."""
        params = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=bot_id),
            members=[ChannelAccount(id=user_id)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
        )
        wait = self.budget.reserve(f"create:{tenant}", tenant)
        if wait > MAX_INLINE_WAIT:
            raise SendError("Teams send budget exhausted for now", transient=True, retry_after=wait)
        if wait > 0:
            await self.sleep(wait)
        try:
            result = await self.pool.connector(service_url).conversations.create_conversation(params)
        except Exception as e:
            raise classify(e) from None
        reference = {
            "activityId": None,
            "user": {"id": user_id, "name": name, "aadObjectId": aad},
            "bot": {"id": bot_id},
            "conversation": {"id": result.id, "conversationType": "personal", "tenantId": tenant},
            "channelId": "msteams",
            "serviceUrl": service_url,
        }
        return await store.save_reference(
            session,
            reference=reference,
            tenant_id=tenant,
            kind="personal",
            service_url=service_url,
            user_aad_id=aad,
            team_id=None,
            now=self.rt.clock.now(),
        )

    async def close(self) -> None:
        await self.pool.close()
