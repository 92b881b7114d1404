"""`qingfeng summary`: the same summaries as 汇总, at the command line."""

from __future__ import annotations

from datetime import datetime

from bot.clock import FakeClock, SystemClock
from bot.config import Settings
from bot.context import Services
from handlers.periods import PeriodError, parse_period
from handlers.summary import Scope, export_workbook, load_summary, summary_text
from schedules.holidays import HolidayCalendar
from storage import members
from storage.engine import Database


async def run_summary(
    settings: Settings,
    period_text: str,
    branch_name: str | None,
    want_xlsx: bool,
    at: datetime | None = None,
) -> tuple[str, bytes | None]:
    """The summary text, and the .xlsx bytes when asked. ValueError for bad input."""
    clock = FakeClock(at, settings.tz) if at else SystemClock(settings.tz)
    services = Services(settings, clock, HolidayCalendar(settings.calendar.overrides))
    now = clock.now()
    try:
        period = parse_period(period_text, now.astimezone(settings.tz).date())
    except PeriodError as exc:
        raise ValueError(str(exc)) from None
    db = Database(settings.database.url)
    try:
        async with db.read() as s:
            if branch_name:
                branch = await members.branch_by_name(s, branch_name)
                if branch is None:
                    raise ValueError(f"没有叫“{branch_name}”的支部。")
                scope = Scope((branch,), county=False)
            else:
                scope = Scope(tuple(await members.all_branches(s)), county=True)
            text = summary_text(await load_summary(s, services, scope, period, now))
            body = None
            if want_xlsx:
                body = await export_workbook(s, services, scope.branch_id, period, now)
    finally:
        await db.dispose()
    return text, body
