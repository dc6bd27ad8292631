"""Injected time, so schedules, reminders and aging are tested without sleeping."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, at: dt.datetime | None = None) -> None:
        self._at = at or dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime) -> None:
        self._at = at

    def advance(self, **delta: float) -> dt.datetime:
        self._at += dt.timedelta(**delta)
        return self._at


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands datetimes back naive; everything stored is UTC, so make that explicit."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
