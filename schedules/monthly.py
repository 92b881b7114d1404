"""The monthly push to each secretary: last month's summary and the 组织生活 warning."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Services
from bot.messages import Reply
from handlers.periods import parse_period
from handlers.summary import Scope, load_summary, summary_text
from schedules.templates import Templates
from storage import members, reminders

ABSENCE_MONTHS = 3  # the county warns at 3 months; 党章 第九条 sets 6


def _shift(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


async def monthly_summary(
    s: AsyncSession,
    services: Services,
    templates: Templates,
    branch_id: int,
    month: str,
    now: datetime,
) -> Reply | None:
    """For the push of `month` ("2026-12"): the branch's summary of the month before, and
    the members absent from every event of the last ABSENCE_MONTHS months."""
    year, mon = (int(x) for x in month.split("-"))
    this = date(year, mon, 1)
    branch = await members.branch_by_id(s, branch_id)
    if branch is None:
        return None
    data = await load_summary(
        s, services, Scope((branch,), county=False), parse_period("上月", this), now
    )
    parts = [summary_text(data)]
    tz = services.clock.tz
    since = datetime.combine(_shift(this, -ABSENCE_MONTHS), datetime.min.time(), tz)
    gone = await reminders.long_absent(
        s, branch_id, since, datetime.combine(this, datetime.min.time(), tz)
    )
    if gone:
        parts.append(
            templates.render(
                "absence_warning",
                branch=branch.name,
                months=ABSENCE_MONTHS,
                names="、".join(m.name for m in gone),
            )
        )
    return Reply("\n\n".join(parts))
