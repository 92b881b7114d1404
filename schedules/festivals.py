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


# Statutory rest days (国务院《全国年节及纪念日放假办法》, as amended in 2024): days from
# the festival (春节 from 除夕), used only for years without official data.
STATUTORY_DAYS = {"元旦": 1, "春节": 4, "清明": 1, "劳动节": 2, "端午": 1, "中秋": 1, "国庆": 3}


def statutory_rest_days(year: int) -> list[date]:
    days = []
    for name, _ in FESTIVALS:
        first = festival_day(name, year)
        if name == "春节":
            first -= timedelta(days=1)  # 除夕
        days += [first + timedelta(days=i) for i in range(STATUTORY_DAYS[name])]
    return days


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
