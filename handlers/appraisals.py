"""评议 姓名 等次 [年度]: the secretary records a member's 民主评议 grade for a year.

A grade is seen by the member (我的, in a direct chat), the secretary and the admin only:
it is entered in a direct chat with the bot (a message in a group is read by everyone),
only 评议 情况 in a direct chat lists them, and the export has the column only when asked
for in a direct chat.

The year: the meeting in the window early in the year (default January–February)
appraises the year before, so up to the window's last month a grade goes to last year;
`评议 王芳 优秀 2026` names the year.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import as_utc
from bot.context import Context, Services
from bot.messages import Reply
from bot.router import ArgError, Command
from handlers.args import plain_text, shown
from handlers.meetings import _who, county_who
from handlers.periods import Period
from storage import appraisals, members
from storage.appraisals import GRADES
from storage.members import EXPECTED_STATUSES
from storage.models import Branch, Member, Role
from storage.xlsx_sheet import DATETIME, Sheet

STATUS_WORD = "情况"
GRADE_LIST = "、".join(GRADES)
PRIVATE_NOTE = "仅本人、支部书记和管理员可见"


YEAR = re.compile(r"(\d{4})年?(?:度)?")


@dataclass(frozen=True)
class AppraisalArgs:
    name: str = ""  # "" for 评议 情况
    grade: str = ""
    year: int | None = None  # None: appraisal_year()


def parse_appraisal(rest: str) -> AppraisalArgs:
    words = rest.split()
    if not words:
        raise ArgError(f"请写姓名和等次（{GRADE_LIST}），如：评议 王芳 优秀；或发送：评议 情况")
    year = None
    if len(words) > 1 and (m := YEAR.fullmatch(words[-1])):
        year = int(m[1])
        if not 2000 <= year <= 2100:
            raise ArgError(f"年度“{shown(words[-1])}”不对，请写四位年份，如 2026")
        words = words[:-1]
    if words == [STATUS_WORD]:
        return AppraisalArgs(year=year)
    grade = " ".join(words[1:])
    return AppraisalArgs(plain_text(words[0], "姓名", 60), grade, year)


def appraisal_year(ctx: Context) -> int:
    """The year a grade entered today is for: last year up to the end of the window's
    last month when the window lies early in the year, this year otherwise."""
    today = ctx.today
    last = ctx.settings.meetings.yearly_window[1]
    return today.year - 1 if last <= 6 and today.month <= last else today.year


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
        # The admin in a direct chat: anyone in the county.
        return await county_who(ctx, args.name, example)
    return await _who(ctx, branch.id, args.name, example)


async def appraise(ctx: Context, args: AppraisalArgs) -> Reply:
    branch = await _branch(ctx)
    if isinstance(branch, Reply):
        return branch
    year = args.year or appraisal_year(ctx)
    if not args.name:
        return await appraisal_status(ctx, branch, year)
    if not _private(ctx):
        # Refused before anything else: the command itself already showed the grade.
        return Reply("评定等次请私聊本机器人录入：群里的消息所有人都能看到。")
    if args.grade not in GRADES:
        return Reply(f"评定等次须是：{GRADE_LIST}，如：评议 {shown(args.name)} 合格")
    who = await _target(ctx, args, branch)
    if isinstance(who, Reply):
        return who
    if who.status not in EXPECTED_STATUSES:
        return Reply(f"民主评议只评议党员和预备党员，{who.name}是{who.status}。")
    by = ctx.require_member()
    before = await appraisals.set_grade(ctx.session, who, year, args.grade, by.id, ctx.now)
    verb = "已记录" if before is None else "已更新"
    change = args.grade if before is None else f"{before} → {args.grade}"
    return Reply(f"✅ {verb} {who.name} {year}年民主评议等次：{change}（{PRIVATE_NOTE}）。")


async def appraisal_status(ctx: Context, branch: Branch, year: int) -> Reply:
    """Who has no grade for the year; the grades themselves only in a direct chat."""
    assert branch.id is not None
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
        usage="评议 姓名 等次 [年度] / 评议 情况 [年度]",
        summary=f"私聊录入民主评议等次（{PRIVATE_NOTE}；评议窗口期内录入的记为上一年度）；情况：谁还没评",
        run=appraise,
        parse=parse_appraisal,
    ),
]
