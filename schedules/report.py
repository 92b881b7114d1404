"""Text views for the CLI: the year's reminders (`qingfeng calendar`) and the outbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from zoneinfo import ZoneInfo

from bot.clock import as_utc
from bot.config import Settings
from handlers.text import WEEKDAYS
from schedules import rules, terms
from schedules.holidays import HolidayCalendar
from storage.models import Outbox

ESTIMATED = "估算"
STATE_NAMES = {
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "failed": "失败",
    "missed": "已错过",
    "skipped": "无需发送",
}
# Outbox kinds as the operator knows them; holiday_* are one kind per festival.
KIND_NAMES = {
    "event_preview": "会议预告",
    "event_today": "会议当日提醒",
    "signin_open": "开始签到",
    "absentees": "缺席名单",
    "event_cancelled": "会议取消通知",
    "study_deadline": "学习截止提醒",
    "monthly_summary": "月度汇总",
    "absence_warning": "组织生活预警",
    "education_month": "宣传教育月提醒",
    "graduation": "毕业季廉洁提醒",
    "teachers_day": "教师节廉洁提醒",
    "holiday": "节日廉洁提醒",
    "notice": "通知",
}


def kind_name(kind: str) -> str:
    if kind.startswith("holiday_"):
        kind = "holiday"
    return KIND_NAMES.get(kind, kind)


def year_plan(
    settings: Settings,
    calendar: HolidayCalendar,
    year: int,
    branches: list[str],
    shapes: dict[str, rules.BranchShape],
    term_ends: Mapping[str, date],
) -> list[rules.Planned]:
    """What `qingfeng calendar` and the 看板's 提醒日历 show: the rule pushes of the year
    (rules.plan_year) and the 换届 pushes of the branches' recorded terms, by time."""
    ends = {name: end for name, end in term_ends.items() if name in branches}
    planned = rules.plan_year(settings, calendar, year, branches, shapes)
    planned += terms.planned(ends, year, calendar, settings.tz)
    return sorted(planned, key=lambda p: (p.due, p.branch, p.label))


def target_label(p: rules.Planned) -> str:
    if p.audience == rules.ALL_GROUPS:
        return "所有群"
    if p.audience == rules.SECRETARIES:
        return f"{p.branch}书记" if p.branch else "各支部书记"
    if p.audience == rules.ADMINS:
        return "管理员（私信）"
    return f"{p.branch}的群"


def calendar_lines(planned: Sequence[rules.Planned]) -> list[str]:
    lines = []
    for p in planned:
        d = p.due
        mark = f"  [{ESTIMATED}]" if p.estimated else ""
        day = f"{d:%Y-%m-%d} 周{WEEKDAYS[d.weekday()]} {d:%H:%M}"
        lines.append(f"{day}  {p.label}  → {target_label(p)}{mark}")
    return lines


def outbox_lines(rows: Sequence[tuple[Outbox, str | None, str | None]], tz: ZoneInfo) -> list[str]:
    lines = []
    for row, group, member in rows:
        due = as_utc(row.due_at).astimezone(tz)
        target = group or (f"{member}（私信）" if member else "?")
        state = STATE_NAMES.get(row.state, row.state)
        # The id first: `qingfeng outbox resend ID` takes it.
        line = f"#{row.id}  {due:%Y-%m-%d %H:%M}  {state}  {kind_name(row.kind)}  → {target}"
        if row.attempts > 1 or (row.state in ("failed", "pending") and row.attempts):
            line += f"  尝试 {row.attempts} 次"
        if row.last_error:
            line += f"\n    原因：{row.last_error}"
        lines.append(line)
    return lines
