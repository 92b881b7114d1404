"""Small formatting helpers for replies that must read well on a phone."""

from __future__ import annotations

from datetime import date, datetime, time

WEEKDAYS = "一二三四五六日"


def day(d: date) -> str:
    """12月4日(周五)"""
    return f"{d.month}月{d.day}日(周{WEEKDAYS[d.weekday()]})"


def hm(t: datetime | time) -> str:
    """15:00 (every check-in reply has one; formatting the fields beats strftime 3x)."""
    return f"{t.hour:02d}:{t.minute:02d}"


def when(dt: datetime) -> str:
    """12月4日(周五) 15:00, in the datetime's own zone."""
    return f"{day(dt.date())} {hm(dt)}"


def window(start: time, end: time) -> str:
    return f"{hm(start)}–{hm(end)}"
