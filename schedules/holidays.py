"""Working days and rest days: the official calendar, with computed fallbacks."""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from datetime import date, timedelta

import chinese_calendar

from bot.config import CalendarOverride

log = logging.getLogger(__name__)


class HolidayCalendar:
    """Answers 'is this a working day?' for any date, never raising.

    Years the official data covers use it (make-up working days included). Other years
    fall back to weekends, the estimated festival breaks (`festivals.estimated_break`:
    春节 除夕 to 初六, 国庆 10-01 to 10-07) and the config's overrides, and are marked
    estimated. Every planned meeting and push asks this one object, so a reminder's
    放假 date and the days kept free of meetings agree.
    """

    def __init__(self, overrides: list[CalendarOverride] | None = None) -> None:
        self._rest: set[date] = set()
        self._work: set[date] = set()
        for o in overrides or []:
            self._rest.update(o.rest_days)
            self._work.update(o.workdays)
        self._warned: set[int] = set()
        self._computed: dict[int, frozenset[date]] = {}
        self._years: dict[int, tuple[date, ...]] = {}

    def is_estimated(self, year: int) -> bool:
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return True
        return False

    def is_workday(self, day: date) -> bool:
        if day in self._work:
            return True
        if day in self._rest:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning(
                    "%s 年的官方节假日安排还没有收录：按周末、推算的春节国庆假期和 "
                    "[[calendar.overrides]] 估算；国务院公布后请升级 chinesecalendar "
                    "（pip install -U chinesecalendar）并重启",
                    day.year,
                )
            return day.weekday() < 5 and day not in self._statutory(day.year)

    def _statutory(self, year: int) -> frozenset[date]:
        """The festival rest days of a year the official data lacks, as estimated."""
        if year not in self._computed:
            from schedules.festivals import statutory_rest_days

            self._computed[year] = frozenset(statutory_rest_days(year))
        return self._computed[year]

    def workdays(self, first: date, last: date) -> list[date]:
        """The working days from `first` to `last`, both included."""
        days: list[date] = []
        for year in range(first.year, last.year + 1):
            of_year = self._workdays_of(year)
            days += of_year[bisect_left(of_year, first) : bisect_right(of_year, last)]
        return days

    def _workdays_of(self, year: int) -> tuple[date, ...]:
        # chinese_calendar checks every date against its whole table (~25 µs a day): a year
        # is asked once, then every period (a trend's twelve months) is a slice.
        if year not in self._years:
            d, days = date(year, 1, 1), []
            while d.year == year:
                if self.is_workday(d):
                    days.append(d)
                d += timedelta(days=1)
            self._years[year] = tuple(days)
        return self._years[year]

    def next_workday(self, day: date) -> date:
        """`day` itself if it is a working day, else the next one."""
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def last_workday_before(self, day: date) -> date:
        """The last working day strictly before `day`."""
        d = day - timedelta(days=1)
        while not self.is_workday(d):
            d -= timedelta(days=1)
        return d

    def workday_on_or_before(self, day: date) -> date:
        """`day` itself if it is a working day, else the last one before it."""
        return day if self.is_workday(day) else self.last_workday_before(day)
