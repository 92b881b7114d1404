"""评议 姓名 等次: the secretary records a member's 民主评议 grade for the year.

A grade is seen by the member (我的, in a direct chat), the secretary and the admin only:
a reply in a group never names it, only 评议 情况 in a direct chat lists them, and the
export has the column only when asked for in a direct chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import as_utc
from bot.context import Context, Services
from bot.messages import Reply
from bot.router import ArgError, Command
from handlers.args import plain_text, shown
from handlers.meetings import _who
from handlers.periods import Period
from storage import appraisals, members
from storage.appraisals import GRADES
from storage.members import EXPECTED_STATUSES
from storage.models import Branch, Member, Role
from storage.xlsx_sheet import DATETIME, Sheet

STATUS_WORD = "情况"
GRADE_LIST = "、".join(GRADES)
PRIVATE_NOTE = "仅本人、支部书记和管理员可见"


@dataclass(frozen=True)
class AppraisalArgs:
    name: str = ""  # "" for 评议 情况
    grade: str = ""


def parse_appraisal(rest: str) -> AppraisalArgs:
    parts = rest.split(maxsplit=1)
    if not parts:
        raise ArgError(f"请写姓名和等次（{GRADE_LIST}），如：评议 王芳 优秀；或发送：评议 情况")
    if parts[0] == STATUS_WORD and len(parts) == 1:
        return AppraisalArgs()
    grade = parts[1].strip() if len(parts) > 1 else ""
    return AppraisalArgs(plain_text(parts[0], "姓名", 60), grade)


def _private(ctx: Context) -> bool:
    return ctx.msg.chat_type == "direct"


async def _branch(ctx: Context) -> Branch | Reply:
    """The branch of the group it is sent in (a secretary: her own only), else the sender's."""
    member = ctx.require_member()
    branch_id = member.branch_id
    if ctx.group is not None and ctx.group.branch_id is not None:
        branch_id = ctx.group.branch_id
    if ctx.role is Role.SECRETARY and branch_id != member.branch_id:
        return Reply("您只能评议本支部的党员。")
    branch = await members.branch_by_id(ctx.session, branch_id)
    if branch is None:
        return Reply("没有找到您所在的支部，请联系管理员。")
    return branch


async def _target(ctx: Context, args: AppraisalArgs, branch: Branch) -> Member | Reply:
    assert branch.id is not None
    example = "评议 {name} " + args.grade
    if ctx.role is Role.ADMIN and _private(ctx):
        # The admin in a direct chat: anyone in the county whose name is unique.
        found = await members.members_named(ctx.session, args.name)
        others = {m.branch_id for m in found}
        if len(others) > 1:
            return Reply(
                f"有 {len(found)} 位“{shown(args.name)}”在不同支部，请在该支部的群里录入。"
            )
        if len(others) == 1:
            return await _who(ctx, others.pop(), args.name, example)
    return await _who(ctx, branch.id, args.name, example)


async def appraise(ctx: Context, args: AppraisalArgs) -> Reply:
    branch = await _branch(ctx)
    if isinstance(branch, Reply):
        return branch
    if not args.name:
        return await appraisal_status(ctx, branch)
    if args.grade not in GRADES:
        return Reply(f"评定等次须是：{GRADE_LIST}，如：评议 {shown(args.name)} 合格")
    who = await _target(ctx, args, branch)
    if isinstance(who, Reply):
        return who
    if who.status not in EXPECTED_STATUSES:
        return Reply(f"民主评议只评议党员和预备党员，{who.name}是{who.status}。")
    by = ctx.require_member()
    year = ctx.today.year
    before = await appraisals.set_grade(ctx.session, who, year, args.grade, by.id, ctx.now)
    verb = "已记录" if before is None else "已更新"
    what = f"{who.name} {year}年民主评议等次"
    if _private(ctx):
        change = args.grade if before is None else f"{before} → {args.grade}"
        return Reply(f"✅ {verb} {what}：{change}（{PRIVATE_NOTE}）。")
    replaced = "，替换此前录入的等次" if before is not None else ""
    return Reply(f"✅ {verb} {what}（{PRIVATE_NOTE}{replaced}）。")


async def appraisal_status(ctx: Context, branch: Branch) -> Reply:
    """Who has no grade this year; the grades themselves only in a direct chat."""
    assert branch.id is not None
    year = ctx.today.year
    left = await appraisals.ungraded(ctx.session, branch.id, year)
    if left:
        head = f"{branch.name} {year}年尚未评定等次的党员：{len(left)} 人"
        parts = [head, "、".join(m.name for m in left)]
    else:
        parts = [f"👍 {branch.name} {year}年的党员都已评定等次。"]
    if _private(ctx):
        done = await appraisals.of_branch(ctx.session, branch.id, year)
        if done:
            lines = [f"{m.name}：{a.grade}" for a, m in done]
            parts.append(f"已评定 {len(done)} 人：\n" + "\n".join(lines))
    else:
        parts.append("评定等次请私聊本机器人发送“评议 情况”查看。")
    return Reply("\n\n".join(parts))


def whole_years(period: Period) -> list[int]:
    """The calendar years the period covers from 1 January to 31 December."""
    return [
        y
        for y in range(period.first.year, period.last.year + 1)
        if period.first <= date(y, 1, 1) and date(y, 12, 31) <= period.last
    ]


async def record_line(ctx: Context, member: Member, period: Period) -> str | None:
    """我的 over whole years: the member's own grades, named only in a direct chat."""
    assert member.id is not None
    grades = await appraisals.grades_of(ctx.session, member.id, whole_years(period))
    if not grades:
        return None
    if not _private(ctx):
        return "民主评议：已评定等次，请私聊本机器人发送“我的 本年”查看。"
    return "民主评议：" + "，".join(f"{y}年 {g}" for y, g in sorted(grades.items()))


async def export_sheet(
    s: AsyncSession,
    services: Services,
    branch_ids: Sequence[int] | None,
    period: Period,
    now: datetime,
    *,
    private: bool = False,
) -> Sheet | None:
    """民主评议 grades of the years the period touches; the 等次 column only in a workbook
    asked for in a direct chat (a link posted in a group can be opened by every member)."""
    tz = services.clock.tz
    rows = await appraisals.for_export(s, branch_ids, period.first.year, period.last.year)
    if not rows:
        return None
    headers = ["年度", "支部", "姓名", "等次", "录入人", "录入时间"]
    widths = [8, 26, 10, 10, 10, 17]
    out = [
        [a.year, b.name, m.name, a.grade, by.name if by else "", as_utc(a.at).astimezone(tz)]
        for a, m, b, by in rows
    ]
    if not private:
        del headers[3], widths[3]
        for row in out:
            del row[3]
    for row in out:
        row[-1] = row[-1].replace(tzinfo=None)  # Excel has no time zones: local wall time
    return Sheet("民主评议", headers, widths, out, {len(headers): DATETIME})


COMMANDS = [
    Command(
        name="评议",
        role=Role.SECRETARY,
        usage="评议 姓名 等次 / 评议 情况",
        summary=f"录入民主评议等次（{PRIVATE_NOTE}）；情况：今年谁还没评",
        run=appraise,
        parse=parse_appraisal,
    ),
]
