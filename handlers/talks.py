"""谈心 姓名 [要点] records a talk; 谈心 情况 lists who has not been talked with this year.

The 要点 is for the secretary and the admin only: a reply in a group never repeats it, and
only 谈心 情况 in a direct chat with the bot lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Context, Services
from bot.messages import Reply
from bot.router import ArgError, Command
from handlers.args import plain_text
from handlers.meetings import _who, county_who
from handlers.periods import Period
from storage import members, talks
from storage.models import Branch, Member, Role
from storage.xlsx_sheet import DATETIME, Sheet

NOTE_LIMIT = 200
STATUS_WORD = "情况"


@dataclass(frozen=True)
class TalkArgs:
    name: str = ""  # "" for 谈心 情况
    note: str = ""


def parse_talk(rest: str) -> TalkArgs:
    parts = rest.split(maxsplit=1)
    if not parts:
        raise ArgError("请写谈话对象的姓名，如：谈心 王芳 了解近况；或发送：谈心 情况")
    if parts[0] == STATUS_WORD and len(parts) == 1:
        return TalkArgs()
    note = plain_text(parts[1], "谈话要点", NOTE_LIMIT) if len(parts) > 1 else ""
    return TalkArgs(plain_text(parts[0], "姓名", 60), note)


def year_span(ctx: Context) -> tuple[datetime, datetime]:
    """This calendar year (local time), as aware datetimes."""
    local = ctx.local_now
    start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, start.replace(year=start.year + 1)


async def _branch(ctx: Context) -> Branch | Reply:
    """A secretary's own branch; an admin's group's branch, else their own."""
    member = ctx.require_member()
    branch_id = member.branch_id
    if ctx.role is Role.ADMIN and ctx.group is not None and ctx.group.branch_id is not None:
        branch_id = ctx.group.branch_id
    branch = await members.branch_by_id(ctx.session, branch_id)
    if branch is None:
        return Reply("没有找到您所在的支部，请联系管理员。")
    return branch


async def _target(ctx: Context, args: TalkArgs, branch: Branch) -> Member | Reply:
    assert branch.id is not None
    example = "谈心 {name}" + (f" {args.note}" if args.note else "")
    in_branch_group = ctx.group is not None and ctx.group.branch_id is not None
    if ctx.role is Role.ADMIN and not in_branch_group:
        # The admin in a direct chat: anyone in the county.
        return await county_who(ctx, args.name, example)
    return await _who(ctx, branch.id, args.name, example)


async def talk(ctx: Context, args: TalkArgs) -> Reply:
    branch = await _branch(ctx)
    if isinstance(branch, Reply):
        return branch
    if not args.name:
        return await talk_status(ctx, branch)
    who = await _target(ctx, args, branch)
    if isinstance(who, Reply):
        return who
    by = ctx.require_member()
    assert who.id is not None and by.id is not None
    await talks.add(ctx.session, who.branch_id, who.id, by.id, args.note, ctx.now)
    day = ctx.today
    kept = "，要点仅支部书记和管理员可见" if args.note else ""
    return Reply(
        f"✅ 已记录谈心谈话：{by.name} 与 {who.name} · {day.year}年{day.month}月{day.day}日{kept}。"
    )


async def talk_status(ctx: Context, branch: Branch) -> Reply:
    assert branch.id is not None
    since, until = year_span(ctx)
    year = since.year
    left = await talks.not_talked(ctx.session, branch.id, since, until)
    if left:
        head = f"{branch.name} {year}年尚未谈心谈话的党员：{len(left)} 人"
        parts = [head, "、".join(m.name for m in left)]
    else:
        parts = [f"👍 {branch.name} {year}年的党员都已谈心谈话。"]
    if ctx.msg.chat_type == "direct":
        # A direct chat: the year's talks with their notes, for the secretary or admin.
        done = await talks.in_span(ctx.session, branch.id, since, until)
        if done:
            tz = ctx.services.clock.tz
            lines = []
            for t, m in done:
                d = t.at.astimezone(tz)
                note = f"：{t.note}" if t.note else ""
                lines.append(f"{d.month}月{d.day}日 {m.name}{note}")
            parts.append(f"今年已记录 {len(done)} 次：\n" + "\n".join(lines))
    else:
        parts.append("谈话要点请私聊本机器人发送“谈心 情况”查看。")
    return Reply("\n\n".join(parts))


async def export_sheet(
    s: AsyncSession,
    services: Services,
    branch_ids: Sequence[int] | None,
    period: Period,
    now: datetime,
    *,
    private: bool = False,
) -> Sheet | None:
    """谈心谈话 of the period; the 要点 column only in a workbook asked for in a direct chat
    (a link posted in a group can be opened by every member)."""
    tz = services.clock.tz
    since, until = period.bounds(tz)
    rows = await talks.for_export(s, branch_ids, since, until)
    if not rows:
        return None  # like the other year sheets: none when there is nothing in it
    headers = ["支部", "谈话时间", "谈话人", "谈话对象"] + (["要点"] if private else [])
    return Sheet(
        "谈心谈话",
        headers,
        [26, 17, 10, 10, 40][: len(headers)],
        [
            [branch, t.at.astimezone(tz).replace(tzinfo=None), by, who]
            + ([t.note] if private else [])
            for t, branch, who, by in rows
        ],
        {2: DATETIME},
    )


COMMANDS = [
    Command(
        name="谈心",
        role=Role.SECRETARY,
        usage="谈心 姓名 [要点] / 谈心 情况",
        summary="记录谈心谈话（要点仅书记和管理员可见）；情况：今年谁还没谈",
        run=talk,
        parse=parse_talk,
    ),
]
