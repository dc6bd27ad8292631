"""The process-wide runtime: settings, database, clock, content and the adapters that can send.

One object that the server, the worker, the console and the tests build the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.content import ContentError, ContentStore, line_of
from bot.db import Database
from bot.model import Identity, Message
from bot.registry import Registry, registry
from bot.tables import PHASES, Rollout

log = logging.getLogger("uptake")


class SendError(Exception):
    """A delivery failed. `transient` errors are retried by the outbox; permanent ones end the row."""

    def __init__(
        self, message: str, *, transient: bool, retry_after: float | None = None, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.unreachable = unreachable


class Sender(Protocol):
    """What a platform adapter offers the outbox. Both calls return the platform message id."""

    platform: str

    async def send_to_person(self, identity: Identity, message: Message, *, ref: str | None = None) -> str: ...

    # Optional: `async def find_sent(self, identity: Identity | None, workspace: str, channel_id: str | None,
    #                                  ref: str, since: datetime) -> str | None` — look for a message carrying
    # `ref` (Slack: message metadata via conversations.history) so a crash between "sent" and "recorded" can be
    # reconciled instead of sending twice.
    # Optional: `async def prepare(self, identities: list[Identity]) -> None` — called after a claim with the
    # batch's recipients, so a sender can look up what the sends need in one query instead of one per send.

    async def send_to_channel(
        self, workspace: str, channel_id: str, message: Message, *, ref: str | None = None
    ) -> str: ...


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        db: Database | None = None,
        clock: Clock | None = None,
        reg: Registry | None = None,
    ) -> None:
        self.settings = settings
        self.db = db or Database(settings.db_url)
        self.clock: Clock = clock or SystemClock()
        self.registry = reg or registry
        self.content = ContentStore()
        self.senders: dict[str, Sender] = {}
        from bot.adapters.console import ConsoleSender

        self.senders["console"] = ConsoleSender(settings.data_dir)
        self.extras: dict[str, Any] = {}  # capability caches (e.g. the FAQ index), keyed by capability name

    def load_content(self) -> None:
        """Validate and load every content file; raises ContentError naming file:line and field."""
        import handlers  # noqa: F401  (registers the capabilities)

        self.content.load(self.settings.content_dir, self.registry)

    async def default_rollout(self, session: AsyncSession) -> Rollout:
        slug = self.settings.rollout
        rollout = await session.scalar(select(Rollout).where(Rollout.slug == slug))
        if rollout is None:
            rollout = await sync_rollout(session, self.settings.content_dir, slug)
        return rollout

    async def close(self) -> None:
        for sender in self.senders.values():
            closer = getattr(sender, "close", None)
            if closer is not None:
                await closer()
        await self.db.close()


ROLLOUT_FIELDS = {"name", "workflow", "owner", "phase", "start_date", "timezone", "channels", "config"}


def read_rollout_file(content_dir: Path) -> dict[str, Any]:
    """content/rollout.yml: the default rollout's description (a change lead edits it, not code)."""
    path = content_dir / "rollout.yml"
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ContentError(str(path), (mark.line + 1) if mark else 1, "", f"YAML error: {e}") from None
    if not isinstance(data, dict):
        raise ContentError(str(path), 1, "", "expected a mapping of rollout fields")
    for key in data:
        if key not in ROLLOUT_FIELDS:
            raise ContentError(str(path), line_of(text, key), key, f"unknown field (known: {sorted(ROLLOUT_FIELDS)})")
    if data.get("phase") and data["phase"] not in PHASES:
        raise ContentError(str(path), line_of(text, "phase"), "phase", f"must be one of {', '.join(PHASES)}")
    if data.get("timezone"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(data["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise ContentError(str(path), line_of(text, "timezone"), "timezone", "unknown IANA timezone") from None
    if data.get("start_date") and not isinstance(data["start_date"], dt.date):
        raise ContentError(str(path), line_of(text, "start_date"), "start_date", "use YYYY-MM-DD")
    return data


async def sync_rollout(session: AsyncSession, content_dir: Path, slug: str) -> Rollout:
    """Create the default rollout from content/rollout.yml, or bring it in line with the file."""
    data = read_rollout_file(content_dir)
    rollout = await session.scalar(select(Rollout).where(Rollout.slug == slug))
    if rollout is None:
        try:
            async with session.begin_nested():
                rollout = Rollout(slug=slug, name=data.get("name") or "Our rollout")
                session.add(rollout)
        except IntegrityError:
            # Several first requests raced to create it; another one won.
            rollout = await session.scalar(select(Rollout).where(Rollout.slug == slug))
            if rollout is None:
                raise
            return rollout
    for key, value in data.items():
        setattr(rollout, key, value)
    await session.flush()
    return rollout
