"""FAQ tables: every question asked (for stats), escalations to a person, and what people added at run time.

Entries and examples added in chat live here, not in the content files, and export back to the same YAML format
(`uptake faq export`). File entries are never written to.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base
from bot.tables import utcnow

OUTCOMES = ("answered", "suggested", "abstained")


class FaqQuestion(Base):
    """One question someone asked, what Uptake did with it and what the person thought of it."""

    __tablename__ = "faq_questions"
    __table_args__ = (Index("ix_faq_questions_rollout_asked", "rollout_id", "asked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    text: Mapped[str] = mapped_column(Text)  # as asked: a person who answers needs the original wording
    normalised: Mapped[str] = mapped_column(String(600))
    entry_id: Mapped[str | None] = mapped_column(String(120), default=None)  # best match (or the one shown)
    confidence: Mapped[float] = mapped_column(default=0.0)
    outcome: Mapped[str] = mapped_column(String(20))  # answered | suggested | abstained
    chosen_entry_id: Mapped[str | None] = mapped_column(String(120), default=None)  # picked from suggestions
    feedback: Mapped[str | None] = mapped_column(String(20), default=None)  # helpful | not_helpful
    asked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FaqEscalation(Base):
    """A question handed to a person. One per question (unique), however often "Ask a person" is clicked."""

    __tablename__ = "faq_escalations"
    __table_args__ = (Index("ix_faq_escalations_rollout_status", "rollout_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("faq_questions.id", ondelete="CASCADE"), unique=True)
    asker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | taken | answered
    # where the card went: [{"channel": [platform, workspace, id]}] or [{"person": id}]
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    taker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    responder_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    added_entry_id: Mapped[str | None] = mapped_column(String(120), default=None)  # what "Add to FAQ" made
    resurfaced: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    surfaced_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    taken_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    answered_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class FaqAddedEntry(Base):
    """An FAQ entry written in chat (usually from an answered escalation); active as soon as it is committed."""

    __tablename__ = "faq_entries"
    __table_args__ = (UniqueConstraint("rollout_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(120))  # the entry id, unique with the file entries too
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    examples: Mapped[list[Any]] = mapped_column(JSON, default=list)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    owner: Mapped[str | None] = mapped_column(String(200), default=None)
    escalation_id: Mapped[int | None] = mapped_column(
        ForeignKey("faq_escalations.id", ondelete="SET NULL"), unique=True, default=None
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reviewed: Mapped[dt.date | None] = mapped_column(default=None)


class FaqLearnedExample(Base):
    """Another way to ask an entry's question: from a 👍 ("helpful") or added by a person who answered ("expert")."""

    __tablename__ = "faq_learned"
    __table_args__ = (UniqueConstraint("rollout_id", "entry_id", "normalised"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(String(600))
    normalised: Mapped[str] = mapped_column(String(600))
    source: Mapped[str] = mapped_column(String(20), default="helpful")  # helpful | expert
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("faq_questions.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
