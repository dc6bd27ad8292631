"""Tables of the broadcasts capability: broadcasts and their acknowledgements, periodic updates, wins and tips."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base
from bot.tables import utcnow


class Broadcast(Base):
    """A four-part announcement (Why / What's changing / Boundaries / Support) to an audience.

    Its outbox rows are keyed `broadcast:{id}:r{revision}:…`; editing a scheduled broadcast cancels its rows and
    bumps the revision, so scheduling again writes a fresh set and scheduling twice writes nothing.
    """

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    title: Mapped[str] = mapped_column(String(150))
    why: Mapped[str] = mapped_column(Text)
    changing: Mapped[str] = mapped_column(Text)
    boundaries: Mapped[str] = mapped_column(Text)
    support: Mapped[str] = mapped_column(Text)
    # {"kind": "everyone"|"teams"|"champions"|"channels", "teams": [...], "channels": ["slack:T1:C1", …]}
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    send_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # None: as soon as it is scheduled
    ask_ack: Mapped[bool] = mapped_column(default=False)
    mandatory: Mapped[bool] = mapped_column(default=False)
    # draft | awaiting_approval | scheduled | cancelled  (sending / sent are read from the outbox rows)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    revision: Mapped[int] = mapped_column(default=1)
    recipients: Mapped[int] = mapped_column(default=0)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reported_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # the author got the final receipt


class BroadcastAck(Base):
    """One "👍 Got it" per person and broadcast (a second click changes nothing)."""

    __tablename__ = "broadcast_acks"
    __table_args__ = (UniqueConstraint("broadcast_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RolloutUpdate(Base):
    """A weekly update or monthly review: drafted by a job, approved (or skipped) by a change lead."""

    __tablename__ = "rollout_updates"
    __table_args__ = (UniqueConstraint("rollout_id", "kind", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # weekly | monthly
    period_start: Mapped[dt.datetime] = mapped_column()
    period_end: Mapped[dt.datetime] = mapped_column()
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # Uptake's text, person text marked with lit()
    edited: Mapped[bool] = mapped_column(default=False)  # body now is a change lead's own text
    status: Mapped[str] = mapped_column(String(12), default="draft")  # draft | sent | skipped
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LearningExample(Base):
    """A win or tip someone shared; the latest of the week is the weekly update's "one learning example"."""

    __tablename__ = "learning_examples"

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(8))  # win | tip
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class WorkflowChange(Base):
    """A change to the workflow a change lead noted, for the "What changed" of the next weekly update.

    Pending (`update_id` None) until a weekly update that lists it is published; a skipped update leaves it for the
    next one. Only pending ones can be edited or removed.
    """

    __tablename__ = "workflow_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    update_id: Mapped[int | None] = mapped_column(
        ForeignKey("rollout_updates.id", ondelete="SET NULL"), default=None, index=True
    )
