"""Friction tables: reports, their history, +1s, drafts, and the deletable links to anonymous reporters.

The link between an anonymous report and its reporter lives only in `friction_hidden_followers`, a separate
table, so closing the report can delete it without touching the report itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base
from bot.tables import utcnow

OPEN = ("new", "triaged", "in_progress")
CLOSED = ("resolved", "wont_fix", "duplicate")
STATUS_LABELS = {
    "new": "new",
    "triaged": "triaged",
    "in_progress": "in progress",
    "resolved": "resolved",
    "wont_fix": "won't fix",
    "duplicate": "duplicate",
}


class FrictionReport(Base):
    """One thing that blocks adoption, as a person described it, and what the change team did about it."""

    __tablename__ = "friction_reports"
    __table_args__ = (
        UniqueConstraint("rollout_id", "submit_key"),
        Index("ix_friction_reports_rollout_status", "rollout_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    # Idempotency: a form's nonce or a draft's token; a double-submitted form files one report.
    submit_key: Mapped[str] = mapped_column(String(64))
    workflow_step: Mapped[str] = mapped_column(String(200), default="other")
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(40))
    category_confirmed: Mapped[bool] = mapped_column(default=False)
    impact: Mapped[str] = mapped_column(String(20), default="slows")
    frequency: Mapped[str] = mapped_column(String(20), default="sometimes")
    team: Mapped[str | None] = mapped_column(String(120), default=None)
    anonymous: Mapped[bool] = mapped_column(default=False)
    # Only for named reports; an anonymous reporter is a hidden follower instead.
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    source_link: Mapped[str | None] = mapped_column(String(500), default=None)
    status: Mapped[str] = mapped_column(String(20), default="new")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("friction_reports.id", ondelete="SET NULL"), default=None
    )
    resolution: Mapped[str | None] = mapped_column(Text, default=None)  # what we changed / why not
    version: Mapped[int] = mapped_column(default=1)  # optimistic concurrency for triagers
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


class FrictionEvent(Base):
    """Every transition and triage action, with who (None when it would reveal an anonymous reporter) and when."""

    __tablename__ = "friction_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("friction_reports.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # filed|status|assigned|replied|voted|reopened|fixed
    from_status: Mapped[str | None] = mapped_column(String(20), default=None)
    to_status: Mapped[str | None] = mapped_column(String(20), default=None)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FrictionVote(Base):
    """A "+1, me too": counts towards impact and subscribes the person to updates."""

    __tablename__ = "friction_votes"
    __table_args__ = (UniqueConstraint("report_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("friction_reports.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FrictionHiddenFollower(Base):
    """Who gets updates without being shown: the reporter of an anonymous report (or one merged into this one).

    Read only to address notifications; rows are deleted when the report closes.
    """

    __tablename__ = "friction_hidden_followers"
    __table_args__ = (UniqueConstraint("report_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("friction_reports.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    reporter: Mapped[bool] = mapped_column(default=True)


class FrictionDraft(Base):
    """A report waiting for one more click (confirm the category, or "file mine anyway" after duplicates)."""

    __tablename__ = "friction_drafts"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FrictionFeedbackToken(Base):
    """One "Is it fixed for you?" question; the token is the only proof needed, so no identity is stored."""

    __tablename__ = "friction_feedback_tokens"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("friction_reports.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
