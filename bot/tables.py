"""Core tables: rollouts, people and their platform identities, roles, audit, idempotency, outbox.

Capabilities keep their own tables in their own modules; every record belongs to a rollout.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base

PHASES = ("align", "design", "pilot", "scale", "reinforce")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Rollout(Base):
    """One change initiative: one workflow with an owner, a phase and its channels per platform."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    workflow: Mapped[str] = mapped_column(String(200), default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    phase: Mapped[str] = mapped_column(String(20), default="align")
    start_date: Mapped[dt.date | None] = mapped_column(default=None)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"slack": {"announce": ["C1"], "triage": ["C2"], "escalation": ["C3"]}, "teams": {...}}
    channels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # free-form per-rollout settings from content/rollout.yml (workflow steps, targets, auto-send, …)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def channel_ids(self, platform: str, purpose: str) -> list[str]:
        return list((self.channels or {}).get(platform, {}).get(purpose, []) or [])


class Person(Base):
    """One human, whatever platforms they use."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), unique=True, default=None)
    team: Mapped[str | None] = mapped_column(String(120), default=None, index=True)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    # kinds of messages muted by the person: {"muted": ["reminders", "tips"]}
    notify_prefs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    # Loaded explicitly where needed: the hot path (every request) must not pay for a second query.
    identities: Mapped[list[PlatformIdentity]] = relationship(back_populates="person", lazy="raise")


class PlatformIdentity(Base):
    """Slack user in workspace X, Teams user in tenant Y, console user: each points to one person."""

    __tablename__ = "platform_identities"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(128))
    reachable: Mapped[bool] = mapped_column(default=True)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    profile_synced_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    person: Mapped[Person] = relationship(back_populates="identities", lazy="raise")


class Membership(Base):
    """A person's role in one rollout (employee unless stated)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("rollout_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="employee")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who did what to which object. Never message bodies of anonymous data, never secrets."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_rollout_at", "rollout_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int | None] = mapped_column(ForeignKey("rollouts.id", ondelete="SET NULL"), default=None)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """Idempotency keys of inbound events and actions already handled (platform retries, double clicks)."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # The router's per-attempt token (bot.router._answer): a request whose key write committed but whose answer was
    # lost (dropped connection) finds its own token on the retry through the session, so it is no duplicate.
    attempt: Mapped[str | None] = mapped_column(String(32), default=None)


class OutboxMessage(Base):
    """One message to one recipient, sent later than the direct reply by the worker.

    `key` is unique so that enqueueing the same thing twice (a retried event, a re-run job) creates nothing new.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    rollout_id: Mapped[int | None] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str] = mapped_column(String(40))  # notification kind, for opt-outs and stats
    group_key: Mapped[str | None] = mapped_column(String(120), default=None, index=True)  # e.g. "broadcast:12"
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), default=None)
    platform: Mapped[str | None] = mapped_column(String(16), default=None)  # channel sends
    workspace: Mapped[str | None] = mapped_column(String(64), default=None)
    channel_id: Mapped[str | None] = mapped_column(String(128), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    mandatory: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sending|sent|failed|cancelled
    attempts: Mapped[int] = mapped_column(default=0)  # platform calls that ended in an error or success
    throttled: Mapped[int] = mapped_column(default=0)  # times re-queued because a rate-limit bucket was paused
    # the worker holding the `sending` lease, and the platform user a person row is being sent to (reconciliation)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    user_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # resent after a crash without being able to check whether the first send arrived (no find_sent)
    possibly_duplicate: Mapped[bool] = mapped_column(default=False)
    # addressed to someone who must stay unlinkable (an anonymous reporter): scrubbed once it has ended
    private: Mapped[bool] = mapped_column(default=False, server_default=false())
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    platform_message_id: Mapped[str | None] = mapped_column(String(128), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class OutboxPause(Base):
    """A rate-limit bucket paused for every worker (Retry-After, sustained throttling)."""

    __tablename__ = "outbox_pauses"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    until: Mapped[dt.datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(String(200), default="")
    strikes: Mapped[int] = mapped_column(default=0)  # consecutive throttles; past a limit the pause gets long


class OutboxWorker(Base):
    """A running outbox sender's heartbeat: the live count divides the configured rate limits between workers."""

    __tablename__ = "outbox_workers"

    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(index=True)


class JobRun(Base):
    """One claimed occurrence of a scheduled job: the unique key makes it run once across K workers.

    `fire_key` is the local wall-clock time in the rollout's timezone, so the repeated hour of a DST fall-back
    cannot run a daily job twice.
    """

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "rollout_id", "fire_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(120))
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), index=True)
    fire_key: Mapped[str] = mapped_column(String(32))
    fire_time: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|done|failed|skipped
    worker: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
