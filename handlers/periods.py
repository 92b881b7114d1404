"""期间: the period words users type (今天, 本周, 上月, 2026-05, 2026-05-01~2026-05-31)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.args import PeriodError, check_year, half_width, parse_date, shown

PERIOD_HELP = "今天 本周 上周 本月 上月 本季度 上季度 本年 YYYY-MM 或 YYYY-MM-DD~YYYY-MM-DD"


@dataclass(frozen=True)
class Period:
    first: date  # inclusive, local dates
    last: date
    label: str

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as aware instants in `tz`."""
        start = datetime.combine(self.first, time(0), tz)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tz)
        return start, end


def _month_end(year: int, month: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _quarter(year: int, q: int) -> tuple[date, date]:
    first_month = 3 * (q - 1) + 1
    return date(year, first_month, 1), _month_end(year, first_month + 2)


def parse_period(text: str, today: date) -> Period:
    """Parse a 期间; the default (empty text) is 本月."""
    t = half_width(text.strip()).replace("至", "~")
    if t in ("", "本月"):
        return Period(today.replace(day=1), _month_end(today.year, today.month), "本月")
    if t == "今天":
        return Period(today, today, "今天")
    if t == "本周":
        monday = today - timedelta(days=today.weekday())
        return Period(monday, monday + timedelta(days=6), "本周")
    if t == "上周":
        monday = today - timedelta(days=today.weekday() + 7)
        return Period(monday, monday + timedelta(days=6), "上周")
    if t == "上月":
        last = today.replace(day=1) - timedelta(days=1)
        return Period(last.replace(day=1), last, "上月")
    if t == "本季度":
        q = (today.month - 1) // 3 + 1
        return Period(*_quarter(today.year, q), "本季度")
    if t == "上季度":
        q = (today.month - 1) // 3
        year = today.year if q else today.year - 1
        return Period(*_quarter(year, q or 4), "上季度")
    if t == "本年":
        return Period(date(today.year, 1, 1), date(today.year, 12, 31), "本年")
    m = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})", t)
    if m:
        year, month = int(m[1]), int(m[2])
        check_year(year, t)
        if not 1 <= month <= 12:
            raise PeriodError(f"月份不对：{shown(t)}")
        return Period(date(year, month, 1), _month_end(year, month), f"{year}年{month}月")
    m = re.fullmatch(r"([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})~([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})", t)
    if m:
        first, last = (parse_date(x) for x in (m[1], m[2]))
        if last < first:
            raise PeriodError("结束日期早于开始日期")
        if (last - first).days > 366 * 3:
            raise PeriodError("期间太长，最多三年")
        return Period(first, last, f"{first}~{last}")
    raise PeriodError(f"看不懂期间“{shown(t)}”，可用：{PERIOD_HELP}")


def looks_like_period(text: str) -> bool:
    """Digits, '-' and '~' only, as a date or month is written: a word no branch is named."""
    t = half_width(text.strip()).replace("至", "~")
    return bool(re.fullmatch(r"[0-9~-]*[0-9][0-9~-]*", t))
