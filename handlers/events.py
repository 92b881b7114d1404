"""请假, 日程 and 安排: a branch's 主题党日 and 三会一课 meetings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from bot.clock import as_utc
from bot.context import Context
from bot.messages import Reply
from bot.router import ArgError, Command
from handlers import text
from handlers.args import parse_date, parse_hhmm, plain_text
from storage import events, members
from storage.members import EXPECTED_STATUSES
from storage.models import AttendanceStatus, EventKind, Role

KINDS = "、".join(k.value for k in EventKind)


def parse_reason(rest: str) -> str:
    reason = plain_text(rest, "原因", 100)
    if not reason:
        raise ArgError("请写明请假原因。")
    return reason


async def leave(ctx: Context, reason: str) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    if member.status not in EXPECTED_STATUSES:
        return Reply("组织生活只统计党员和预备党员的出勤，你无需请假。")
    coming = await events.upcoming(ctx.session, member.branch_id, ctx.now, limit=1)
    if not coming:
        return Reply("近期没有需要请假的活动。")
    event = coming[0]
    assert event.id is not None
    title = f"{event.kind} {text.when(as_utc(event.starts_at).astimezone(ctx.services.clock.tz))}"
    prior = await events.attendance_of(ctx.session, event.id, member.id)
    if prior is not None and prior.status != AttendanceStatus.LEAVE:
        return Reply(f"你已签到（{prior.status}），无需请假：{title}")
    await events.set_attendance(
        ctx.session, event.id, member.id, AttendanceStatus.LEAVE.value, ctx.now, reason
    )
    verb = "已更新请假" if prior is not None else "已登记请假"
    return Reply(f"✅ {verb}：{title}\n原因：{reason}")


async def schedule(ctx: Context, _: str) -> Reply:
    member = ctx.require_member()
    tz = ctx.services.clock.tz
    coming = await events.upcoming(ctx.session, member.branch_id, ctx.now, limit=6)
    branch = ctx.branch.name if ctx.branch else ""
    if not coming:
        return Reply(f"📅 {branch}\n近期没有安排。")
    lines = [f"📅 {branch} 近期安排"]
    for e in coming:
        line = f"· {text.when(as_utc(e.starts_at).astimezone(tz))} {e.kind}"
        if e.place:
            line += f"\n  地点：{e.place}"
        lines.append(line)
    lines.append("活动前 30 分钟至开始后 60 分钟可发「签到」。")
    return Reply("\n".join(lines))


@dataclass(frozen=True)
class NewEvent:
    kind: EventKind
    day: date
    at: time
    place: str


def parse_new_event(rest: str) -> NewEvent:
    parts = rest.split(maxsplit=3)
    if len(parts) < 3:
        raise ArgError("请写类型、日期和时间。")
    kind_word, day, hhmm = parts[0], parts[1], parts[2]
    try:
        kind = EventKind(kind_word)
    except ValueError:
        raise ArgError(f"类型须是：{KINDS}。") from None
    starts_on, starts_at = parse_date(day), parse_hhmm(hhmm)
    place = plain_text(parts[3], "地点", 50) if len(parts) > 3 else ""
    return NewEvent(kind, starts_on, starts_at, place)


async def arrange(ctx: Context, args: NewEvent) -> Reply:
    member = ctx.require_member()
    tz = ctx.services.clock.tz
    starts = datetime.combine(args.day, args.at, tz)
    if starts <= ctx.now:
        return Reply(f"{text.when(starts)} 已经过去，请安排将来的时间。")
    if (starts - ctx.now).days > 400:
        return Reply("只能安排一年以内的活动。")
    # In a group bound to a branch, the event is that branch's; elsewhere the sender's own.
    branch_id = member.branch_id
    if ctx.group is not None and ctx.group.branch_id is not None:
        branch_id = ctx.group.branch_id
    if ctx.role is Role.SECRETARY and branch_id != member.branch_id:
        return Reply("你只能为本支部安排活动。")
    branch = await members.branch_by_id(ctx.session, branch_id)
    if await events.find_event(ctx.session, branch_id, args.kind.value, starts) is not None:
        return Reply(f"{text.when(starts)} 已有一场{args.kind.value}。")
    await events.create_event(
        ctx.session, branch_id, args.kind.value, starts, args.place, created_by=member.id
    )
    opens = starts - events.SIGNIN_OPENS_BEFORE
    closes = starts + events.SIGNIN_CLOSES_AFTER
    lines = [
        f"✅ 已安排：{args.kind.value}",
        f"支部：{branch.name if branch else ''}",
        f"时间：{text.when(starts)}",
    ]
    if args.place:
        lines.append(f"地点：{args.place}")
    lines.append(f"签到：{text.hm(opens)}–{text.hm(closes)}")
    return Reply("\n".join(lines))


COMMANDS = [
    Command(
        name="请假",
        usage="请假 原因",
        summary="为本支部下一次活动请假",
        run=leave,
        parse=parse_reason,
    ),
    Command(
        name="日程",
        aliases=("主题党日", "安排表"),
        usage="日程",
        summary="本支部近期的活动安排",
        run=schedule,
    ),
    Command(
        name="安排",
        aliases=("新建活动",),
        role=Role.SECRETARY,
        usage="安排 类型 YYYY-MM-DD HH:MM [地点]",
        summary=f"安排活动（{KINDS}）",
        run=arrange,
        parse=parse_new_event,
    ),
]
