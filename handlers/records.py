"""我的: the sender's own check-ins, attendance and study over a period."""

from __future__ import annotations

from datetime import datetime

from bot.context import Context
from bot.messages import Reply
from bot.router import Command
from handlers.periods import Period, PeriodError, parse_period
from storage.models import AttendanceStatus
from storage.records import member_record


def _due_slots(ctx: Context, period: Period) -> int:
    """Check-in slots that have closed so far in the period (working days only)."""
    branch = ctx.branch.name if ctx.branch else ""
    local = ctx.local_now
    # Nobody is missing check-ins from before they joined the roster.
    joined = ctx.require_member().created_at.astimezone(local.tzinfo).date()
    first = max(period.first, joined)
    last = min(period.last, local.date())
    if last < first:
        return 0
    slots = 0
    for day in ctx.services.calendar.workdays(first, last):
        for key in ("morning", "evening"):
            end = ctx.settings.slot(branch, key).end  # type: ignore[arg-type]
            if datetime.combine(day, end, local.tzinfo) <= local:
                slots += 1
    return slots


async def my_record(ctx: Context, period_text: str) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    try:
        period = parse_period(period_text, ctx.today)
    except PeriodError as exc:
        return Reply(f"{exc}\n用法：我的 [期间]")
    start, end = period.bounds(ctx.services.clock.tz)
    rec = await member_record(
        ctx.session, member.id, member.branch_id, period.first, period.last, start, end, ctx.now
    )
    lines = [f"📋 {member.name} · {period.label}", f"{period.first} ~ {period.last}"]
    branch = ctx.branch.name if ctx.branch else ""
    if ctx.settings.branch(branch).daily_checkin:
        missing = max(0, _due_slots(ctx, period) - rec.checkins_on_time - rec.checkins_late)
        lines.append(
            f"日常签到：按时 {rec.checkins_on_time}，迟到 {rec.checkins_late}，缺 {missing}"
        )
    ev = rec.events
    if member.status in ("党员", "预备党员"):
        lines.append(
            "组织生活：" + "，".join(f"{s.value} {ev.get(s.value, 0)}" for s in AttendanceStatus)
        )
    lines.append(
        f"学习：已学 {rec.study_confirmed}，逾期 {rec.study_late}，未学 {rec.study_missing}"
    )
    return Reply("\n".join(lines))


COMMANDS = [
    Command(
        name="我的",
        aliases=("我的记录",),
        usage="我的 [期间]",
        summary="我的签到、出勤和学习记录（默认本月）",
        run=my_record,
    ),
]
