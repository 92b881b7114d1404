"""Festival dates and the holiday breaks around them (lunar dates from lunar-python)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from lunar_python import Lunar, Solar

from bot.config import CalendarOverride
from schedules.holidays import HolidayCalendar

# The seven statutory festivals, in calendar order, with the id of their template.
FESTIVALS: tuple[tuple[str, str], ...] = (
    ("元旦", "new_year"),
    ("春节", "spring"),
    ("清明", "qingming"),
    ("劳动节", "labour"),
    ("端午", "dragon_boat"),
    ("中秋", "mid_autumn"),
    ("国庆", "national"),
)


@dataclass(frozen=True)
class Festival:
    name: str
    template: str
    day: date  # the festival itself
    rest_from: date  # the first rest day of its break
    estimated: bool  # the year's official calendar is not published yet


def festival_day(name: str, year: int) -> date:
    """The festival's date in `year`, computed (solar, lunar or solar-term)."""
    if name == "元旦":
        return date(year, 1, 1)
    if name == "劳动节":
        return date(year, 5, 1)
    if name == "国庆":
        return date(year, 10, 1)
    if name == "清明":
        term = Solar.fromYmd(year, 4, 1).getLunar().getJieQiTable()["清明"]
        return date(term.getYear(), term.getMonth(), term.getDay())
    lunar_md = {"春节": (1, 1), "端午": (5, 5), "中秋": (8, 15)}[name]
    solar = Lunar.fromYmd(year, *lunar_md).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


# Rest days counted from the festival (春节 from 除夕), used only for years without official
# data. The statutory days (《全国年节及纪念日放假办法》, 2024: 春节 4, 国庆 3) are too few for
# the two long breaks: the State Council stretches them with swapped weekends every year
# (春节 2025-01-28..02-04, 2026-02-15..02-23; 国庆 10-01..10-07 or 08), and a meeting planned
# on 初四 would be wrong. So the estimate takes 除夕 to 初六 and 10-01 to 10-07, the core
# every recent arrangement shares; the swapped working days cannot be guessed and are not.
ESTIMATED_DAYS = {"元旦": 1, "春节": 7, "清明": 1, "劳动节": 2, "端午": 1, "中秋": 1, "国庆": 7}


def estimated_break(name: str, year: int) -> list[date]:
    """The rest days of one festival's break in a year without official data, in order.

    The block from `ESTIMATED_DAYS`, plus the weekend days touching it: they are rest days
    anyway, and the break (and its 廉洁提醒's 放假 date) starts with them."""
    first = festival_day(name, year)
    if name == "春节":
        first -= timedelta(days=1)  # 除夕
    last = first + timedelta(days=ESTIMATED_DAYS[name] - 1)
    while (first - timedelta(days=1)).weekday() >= 5:
        first -= timedelta(days=1)
    while (last + timedelta(days=1)).weekday() >= 5:
        last += timedelta(days=1)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def statutory_rest_days(year: int) -> list[date]:
    """Every estimated festival rest day of `year` (see `estimated_break`)."""
    return [day for name, _ in FESTIVALS for day in estimated_break(name, year)]


def festivals(
    year: int, calendar: HolidayCalendar, overrides: list[CalendarOverride] | None = None
) -> list[Festival]:
    """The year's festivals with the start of each break; overrides win over computed dates."""
    fixed = {o.name: o.date for o in overrides or [] if o.date.year == year}
    # The calendar itself logs the missing year once; nothing here may raise.
    estimated = calendar.is_estimated(year)
    out = []
    for name, template in FESTIVALS:
        day = fixed.get(name) or festival_day(name, year)
        out.append(Festival(name, template, day, _break_start(day, calendar), estimated))
    return out


def _break_start(day: date, calendar: HolidayCalendar) -> date:
    """Walk back from the festival over the rest days that lead into it."""
    if calendar.is_workday(day):
        return day
    while not calendar.is_workday(day - timedelta(days=1)):
        day -= timedelta(days=1)
    return day
