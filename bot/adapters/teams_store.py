"""Teams conversation references and roster members, persisted so the outbox can reach people later.

Rows are written only from activities that passed authentication (or emulator mode on loopback), so a service
URL we send to always came from Microsoft (R6); nothing here imports botbuilder: references are stored as the
serialised JSON dict of a ConversationReference.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base
from bot.tables import PlatformIdentity, utcnow


class TeamsConversation(Base):
    """One conversation the bot is in: a personal chat, a group chat or a team channel."""

    __tablename__ = "teams_conversations"
    __table_args__ = (Index("ix_teams_conversations_personal", "tenant_id", "user_aad_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(256), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # personal | groupChat | channel
    service_url: Mapped[str] = mapped_column(String(300))
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    user_aad_id: Mapped[str | None] = mapped_column(String(64), default=None)  # personal chats
    team_id: Mapped[str | None] = mapped_column(String(256), default=None)  # channels: the team's id
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TeamsMember(Base):
    """A person seen in a team roster: enough to open a personal chat with them in their tenant."""

    __tablename__ = "teams_members"
    __table_args__ = (UniqueConstraint("tenant_id", "aad_object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    aad_object_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(256))  # the Bot Framework id ("29:…") for this bot
    bot_id: Mapped[str] = mapped_column(String(256), default="")  # our own account id ("28:…") there
    name: Mapped[str] = mapped_column(String(200), default="")
    service_url: Mapped[str] = mapped_column(String(300))
    team_id: Mapped[str | None] = mapped_column(String(256), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TeamsDelivery(Base):
    """One card of a long outbox message that Teams accepted: a message of several activities whose later card
    failed is retried by the outbox, and the retry sends only the cards still missing."""

    __tablename__ = "teams_deliveries"

    ref: Mapped[str] = mapped_column(String(200), primary_key=True)  # the outbox's "outbox:<id>"
    part: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    parts: Mapped[int] = mapped_column()  # how many cards the message has
    activity_id: Mapped[str] = mapped_column(String(256))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


async def delivered_parts(session: AsyncSession, ref: str) -> dict[int, TeamsDelivery]:
    rows = await session.scalars(select(TeamsDelivery).where(TeamsDelivery.ref == ref))
    return {row.part: row for row in rows}


async def prune_deliveries(session: AsyncSession, before: dt.datetime) -> None:
    """Progress records are needed only while the outbox may still retry or reconcile their message."""
    await session.execute(delete(TeamsDelivery).where(TeamsDelivery.at < before))


async def save_reference(
    session: AsyncSession,
    *,
    reference: dict[str, Any],
    tenant_id: str,
    kind: str,
    service_url: str,
    user_aad_id: str | None,
    team_id: str | None,
    now: dt.datetime,
) -> TeamsConversation:
    """Insert or refresh the stored reference of one conversation (idempotent)."""
    conversation_id = str(reference["conversation"]["id"])
    row = await session.scalar(select(TeamsConversation).where(TeamsConversation.conversation_id == conversation_id))
    if row is None:
        row = TeamsConversation(conversation_id=conversation_id, created_at=now)
        session.add(row)
    row.tenant_id, row.kind, row.service_url, row.reference = tenant_id, kind, service_url, reference
    row.user_aad_id = user_aad_id if kind == "personal" else row.user_aad_id
    row.team_id = team_id or row.team_id
    row.active, row.updated_at = True, now
    await session.flush()
    return row


async def personal_conversation(session: AsyncSession, tenant_id: str, aad_id: str) -> TeamsConversation | None:
    return await session.scalar(
        select(TeamsConversation)
        .where(
            TeamsConversation.tenant_id == tenant_id,
            TeamsConversation.user_aad_id == aad_id,
            TeamsConversation.kind == "personal",
            TeamsConversation.active.is_(True),
        )
        .order_by(TeamsConversation.updated_at.desc())
    )


async def conversation(session: AsyncSession, conversation_id: str) -> TeamsConversation | None:
    return await session.scalar(select(TeamsConversation).where(TeamsConversation.conversation_id == conversation_id))


async def member(session: AsyncSession, tenant_id: str, aad_id: str) -> TeamsMember | None:
    return await session.scalar(
        select(TeamsMember).where(TeamsMember.tenant_id == tenant_id, TeamsMember.aad_object_id == aad_id)
    )


async def save_member(
    session: AsyncSession,
    *,
    tenant_id: str,
    aad_id: str,
    user_id: str,
    bot_id: str,
    name: str,
    service_url: str,
    team_id: str | None,
    now: dt.datetime,
) -> None:
    """Insert or refresh a roster member. Writes before it reads: on SQLite a transaction that read first cannot
    upgrade to writing while another turn writes ("database is locked" at once, without waiting)."""
    values: dict[str, Any] = dict(user_id=user_id, bot_id=bot_id, name=name[:200], service_url=service_url)
    values["updated_at"] = now
    if team_id:
        values["team_id"] = team_id
    res = await session.execute(
        update(TeamsMember)
        .where(TeamsMember.tenant_id == tenant_id, TeamsMember.aad_object_id == aad_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount == 0:  # type: ignore[attr-defined]
        session.add(TeamsMember(tenant_id=tenant_id, aad_object_id=aad_id, **values))
        await session.flush()


async def deactivate(session: AsyncSession, conversation_id: str) -> TeamsConversation | None:
    """The bot was removed from a conversation: keep the row (history), never send there again."""
    row = await conversation(session, conversation_id)
    if row is not None:
        row.active = False
    return row


async def mark_unreachable(session: AsyncSession, tenant_id: str, aad_id: str) -> None:
    """The person removed or blocked the bot: the outbox stops choosing this identity."""
    await session.execute(
        update(PlatformIdentity)
        .where(
            PlatformIdentity.platform == "teams",
            PlatformIdentity.workspace == tenant_id,
            PlatformIdentity.user_id == aad_id,
        )
        .values(reachable=False)
    )


async def mark_reachable(session: AsyncSession, tenant_id: str, aad_id: str) -> None:
    await session.execute(
        update(PlatformIdentity)
        .where(
            PlatformIdentity.platform == "teams",
            PlatformIdentity.workspace == tenant_id,
            PlatformIdentity.user_id == aad_id,
            PlatformIdentity.reachable.is_(False),
        )
        .values(reachable=True)
    )
