"""The monthly summary pushed to each secretary (plain text for now).

Kept to one function so the full summaries (汇总) can replace it.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from qingfeng.bot.messages import Reply
from qingfeng.schedules.templates import Templates
from qingfeng.storage import members, reminders

ABSENCE_MONTHS = 3  # DESIGN: warn at 3 months; 党章 第九条 sets 6


def _shift(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


async def monthly_summary(
    s: AsyncSession, templates: Templates, branch_id: int, month: str, tz: ZoneInfo
) -> Reply | None:
    """For the push of `month` ("2026-12"): the previous month's figures, plus the
    组织生活 absence warning over the previous ABSENCE_MONTHS months."""
    year, mon = (int(x) for x in month.split("-"))
    this = date(year, mon, 1)
    last = _shift(this, -1)

    def at(d: date) -> datetime:
        return datetime.combine(d, datetime.min.time(), tz)

    branch = await members.branch_by_id(s, branch_id)
    if branch is None:
        return None
    fig = await reminders.month_figures(s, branch_id, at(last), at(this))
    parts = [
        templates.render(
            "monthly_summary",
            branch=branch.name,
            month=f"{last.year}年{last.month}月",
            events=fig.events,
            present=fig.present,
            late=fig.late,
            leave=fig.leave,
            absent=fig.absent,
            study_done=fig.study_done,
            study_total=fig.study_total,
        )
    ]
    gone = await reminders.long_absent(s, branch_id, at(_shift(this, -ABSENCE_MONTHS)), at(this))
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
