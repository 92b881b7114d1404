"""The fast SQLite conversions store and read exactly what SQLAlchemy's own would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from storage import sqlite_values
from storage.models import UTCDateTime

DIALECT = sqlite.dialect()
ZONES = st.sampled_from(
    [UTC, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York"), timezone(timedelta(hours=-3))]
)


def slow_bind(type_: sa.types.TypeEngine) -> sqlite_values.Processor:
    proc = type_.dialect_impl(DIALECT).bind_processor(DIALECT)
    assert proc is not None
    return proc


def slow_result(type_: sa.types.TypeEngine) -> sqlite_values.Processor:
    proc = type_.dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert proc is not None
    return proc


@given(st.datetimes(timezones=ZONES))
def test_utc_datetimes_stored_and_read_back_as_sqlalchemy_does(value: datetime) -> None:
    fast_bind = sqlite_values.bind_processor(UTCDateTime(), DIALECT)
    fast_result = sqlite_values.result_processor(UTCDateTime(), DIALECT)
    assert fast_bind is not None and fast_result is not None
    try:
        expected = slow_bind(UTCDateTime())(value)
    except OverflowError:  # near year 1 or 9999 the shift to UTC leaves the range: both refuse
        with pytest.raises(OverflowError):
            fast_bind(value)
        return
    stored = fast_bind(value)
    assert stored == expected
    back = fast_result(stored)
    # astimezone: a local time a DST change skipped compares unequal to its own UTC instant.
    assert back == slow_result(UTCDateTime())(stored) == value.astimezone(UTC)
    assert back.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["2026-11-26 04:00:00", "2026-11-26 04:00:00.5", "2026-11-26", None]
)
def test_utc_datetimes_in_other_stored_forms_read_as_sqlalchemy_does(text: str | None) -> None:
    fast = sqlite_values.result_processor(UTCDateTime(), DIALECT)
    assert fast is not None
    assert fast(text) == slow_result(UTCDateTime())(text)


def test_a_naive_datetime_is_refused_and_none_stays_none() -> None:
    fast = sqlite_values.bind_processor(UTCDateTime(), DIALECT)
    assert fast is not None
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 11, 26, 8, 0))
    assert fast(None) is None


@given(st.dates())
def test_dates_stored_and_read_back_as_sqlalchemy_does(value: date) -> None:
    fast_bind = sqlite_values.bind_processor(sa.Date(), DIALECT)
    fast_result = sqlite_values.result_processor(sa.Date(), DIALECT)
    assert fast_bind is not None and fast_result is not None
    stored = fast_bind(value)
    assert stored == slow_bind(sa.Date())(value)
    assert fast_result(stored) == slow_result(sa.Date())(stored) == value


def test_a_datetime_given_for_a_date_is_stored_as_its_day() -> None:
    fast = sqlite_values.bind_processor(sa.Date(), DIALECT)
    assert fast is not None
    when = datetime(2026, 11, 26, 23, 59, 59)
    assert fast(when) == slow_bind(sa.Date())(when) == "2026-11-26"


def test_other_types_keep_sqlalchemys_processors() -> None:
    for type_ in (sa.Boolean(), sa.Integer(), sa.String()):
        fast = sqlite_values.bind_processor(type_, DIALECT)
        slow = type_.dialect_impl(DIALECT).bind_processor(DIALECT)
        assert (fast is None) == (slow is None)
        if fast is not None and slow is not None:
            assert fast(True) == slow(True)


def test_an_instant_bound_again_is_stored_the_same_and_a_new_one_afresh() -> None:
    fast = sqlite_values.bind_processor(UTCDateTime(), DIALECT)
    assert fast is not None
    first = datetime(2026, 12, 31, 7, 0, tzinfo=UTC)
    later = datetime(2026, 12, 31, 7, 0, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert [fast(first), fast(first), fast(later), fast(first), fast(None)] == [
        "2026-12-31 07:00:00.000000",
        "2026-12-31 07:00:00.000000",
        "2026-12-30 23:00:01.000000",
        "2026-12-31 07:00:00.000000",
        None,
    ]
