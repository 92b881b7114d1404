"""The monthly push to each secretary: last month's summary and the 组织生活 warning.

Both read the accounting rules (handlers.accounting), like 汇总. The first push after the
roster was imported covers only the days since; a month that ended before it is not
reported at all (a fresh install sends no all-zero "上月").
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Services
from bot.messages import Reply
from handlers.periods import Period, parse_period
from handlers.summary import Scope, load_summary, long_absent, summary_text
from schedules.templates import Templates
from storage import accounting, members, talks

ABSENCE_MONTHS = 3  # the county warns at 3 months; 党章 第九条 sets 6
TALK_MONTHS = (10, 11, 12)  # the last quarter: who has not been talked with this year


def _shift(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


async def reported_period(
    s: AsyncSession, services: Services, branch_id: int, month: date
) -> Period | None:
    """The month before `month`, from the day the branch's roster was imported if that was
    within it; None when the roster came after it (or the branch has nobody)."""
    period = parse_period("上月", month)
    since = await accounting.roster_since(s, branch_id)
    if since is None:
        return None
    first = since.astimezone(services.clock.tz).date()
    if first > period.last:
        return None
    if first > period.first:
        return Period(first, period.last, f"上月（{first.month}月{first.day}日起）")
    return period


async def monthly_summary(
    s: AsyncSession,
    services: Services,
    templates: Templates,
    branch_id: int,
    month: str,
    now: datetime,
) -> Reply | None:
    """For the push of `month` ("2026-12"): the branch's summary of the month before, and
    the members absent from every meeting they were expected at in the last ABSENCE_MONTHS
    months. None (nothing is sent) before the roster's first month."""
    year, mon = (int(x) for x in month.split("-"))
    this = date(year, mon, 1)
    branch = await members.branch_by_id(s, branch_id)
    if branch is None:
        return None
    period = await reported_period(s, services, branch_id, this)
    if period is None:
        return None
    data = await load_summary(s, services, Scope((branch,), county=False), period, now)
    parts = [summary_text(data)]
    months = Period(_shift(this, -ABSENCE_MONTHS), this - timedelta(days=1), "")
    gone = await long_absent(s, services, branch, months, now)
    if gone:
        parts.append(
            templates.render(
                "absence_warning",
                branch=branch.name,
                months=ABSENCE_MONTHS,
                names="、".join(gone),
            )
        )
    if mon in TALK_MONTHS:
        tz = services.clock.tz
        since = datetime(year, 1, 1, tzinfo=tz)
        left = await talks.not_talked(s, branch_id, since, datetime(year + 1, 1, 1, tzinfo=tz))
        if left:
            parts.append(
                f"🗣 谈心谈话：今年还有 {len(left)} 名党员未谈心谈话，发送“谈心 情况”查看名单。"
            )
    return Reply("\n\n".join(parts))
