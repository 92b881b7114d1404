"""Python values to SQLite's stored text and back, for the per-message statements.

SQLAlchemy's SQLite processors for dates and datetimes format with `%` and a dict, and our
UTC column adds a `datetime.replace(tzinfo=...)` each way; keyword arguments make that a
slow call in CPython 3.11. Together they were ~100 k instructions of a 签到's ~1.5 M
(callgrind). These give the same stored text and the same Python values with one C call
each, and hand anything outside the canonical forms to SQLAlchemy's own processor, so the
stored format stays SQLAlchemy's: tests/test_sqlite_values.py checks both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from storage.models import UTCDateTime

Processor = Callable[[Any], Any]
_DATETIME_TEXT = len("2026-01-01 08:00:00.000000")
_DATE_TEXT = len("2026-01-01")


def bind_processor(type_: Any, dialect: Dialect) -> Processor | None:
    """What to run on a parameter of `type_` before it goes to SQLite."""
    slow = type_.dialect_impl(dialect).bind_processor(dialect)
    if isinstance(type_, UTCDateTime):
        return _utc_to_text(slow)
    if _is_date(type_):
        return _date_to_text(slow)
    return slow


def result_processor(type_: Any, dialect: Dialect) -> Processor | None:
    """What to run on a result column of `type_` as SQLite hands it back."""
    slow = type_.dialect_impl(dialect).result_processor(dialect, None)
    if isinstance(type_, UTCDateTime):
        return _utc_from_text(slow)
    if _is_date(type_):
        return _date_from_text(slow)
    return slow


def _is_date(type_: Any) -> bool:
    return isinstance(type_, sa.Date) and not isinstance(type_, sa.DateTime)


def _utc_to_text(slow: Processor | None) -> Processor:
    assert slow is not None
    # The same instant is bound over and over (a batch's `now` and lease, for every row of
    # an executemany), and formatting an offset is most of isoformat's cost: keep the last.
    last: tuple[Any, str] = (object(), "")

    def process(value: Any) -> Any:
        nonlocal last
        seen, text = last  # one read: another thread may replace it meanwhile
        if value is seen:
            return text
        if type(value) is not datetime or value.tzinfo is None:
            return slow(value)  # None, or a naive value: refused there
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        # "2026-01-01 08:00:00.000000+00:00" without the offset: SQLAlchemy's format.
        text = utc.isoformat(" ", "microseconds")[:_DATETIME_TEXT]
        last = (value, text)
        return text

    return process


def _utc_from_text(slow: Processor | None) -> Processor:
    assert slow is not None

    def process(value: Any) -> Any:
        if type(value) is str and len(value) == _DATETIME_TEXT and value[10] == " ":
            try:
                return datetime.fromisoformat(value + "+00:00")
            except ValueError:
                pass
        return slow(value)

    return process


def _date_to_text(slow: Processor | None) -> Processor:
    assert slow is not None

    def process(value: Any) -> Any:
        # type() is, not isinstance: a datetime is a date too, and is stored as its day.
        return value.isoformat() if type(value) is date else slow(value)

    return process


def _date_from_text(slow: Processor | None) -> Processor:
    assert slow is not None

    def process(value: Any) -> Any:
        if type(value) is str and len(value) == _DATE_TEXT:
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        return slow(value)

    return process
