"""The one injectable clock: every 'now' in the bot comes from here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    tz: ZoneInfo

    def now(self) -> datetime:
        """The current instant, time-zone aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def __init__(self, tz: ZoneInfo = SHANGHAI) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to (tests and the demo)."""

    def __init__(self, start: datetime, tz: ZoneInfo = SHANGHAI) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=tz)
        self.tz = tz
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.tz)
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def local_now(clock: Clock) -> datetime:
    """Now in the bot's time zone (Asia/Shanghai unless configured)."""
    return clock.now().astimezone(clock.tz)


def local_today(clock: Clock) -> date:
    return local_now(clock).date()


def as_utc(value: datetime) -> datetime:
    """Normalise a datetime read back from the database to aware UTC.

    SQLite hands back naive values; everything is stored as UTC, so naive means UTC.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
