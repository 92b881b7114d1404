"""我的: the sender's own check-ins, attendance and study over a period.

The figures are the sender's row of 汇总 (handlers.accounting.member_figures), so the two
always agree.
"""

from __future__ import annotations

from bot.context import Context
from bot.messages import Reply
from bot.router import Command
from handlers import appraisals
from handlers.accounting import member_figures
from handlers.periods import PeriodError, parse_period
from storage import members
from storage.members import EXPECTED_STATUSES


async def my_record(ctx: Context, period_text: str) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    try:
        period = parse_period(period_text, ctx.today)
    except PeriodError as exc:
        return Reply(f"{exc}\n用法：我的 [期间]")
    branch = ctx.branch or await members.branch_by_id(ctx.session, member.branch_id)
    assert branch is not None
    [row] = await member_figures(
        ctx.session, ctx.services, (branch,), period, ctx.now, member_ids=[member.id]
    )
    c = row.counts
    lines = [f"📋 {member.name} · {period.label}", f"{period.first} ~ {period.last}"]
    if c.checkin_due is not None:
        lines.append(
            f"日常签到：按时 {c.checkin_on_time}，迟到 {c.checkin_late}，缺 {c.checkin_missing}"
        )
    if member.status in EXPECTED_STATUSES or c.ev_expected:
        lines.append(
            f"组织生活：出席 {c.ev_present}，迟到 {c.ev_late}，"
            f"请假 {c.ev_leave}，缺席 {c.ev_absent}"
        )
    lines.append(f"学习：已学 {c.st_on_time}，逾期 {c.st_late}，未学 {c.st_missing}")
    if c.pl_total:  # only in a period that has a 廉洁承诺
        lines.append(f"廉洁承诺：已承诺 {c.pl_on_time}，逾期 {c.pl_late}，未承诺 {c.pl_missing}")
    # The member's own 民主评议 grade (whole years only), named in a direct chat only.
    if (grade := await appraisals.record_line(ctx, member, period)) is not None:
        lines.append(grade)
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
