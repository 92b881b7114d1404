"""请假, 日程 and 安排: a branch's 主题党日 and 三会一课 meetings, each with a short number."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from bot.clock import as_utc
from bot.context import Context
from bot.messages import Reply
from bot.router import ArgError, Command
from handlers import text
from handlers.args import half_width, is_digits, parse_date, parse_hhmm, plain_text
from schedules.rules import CADENCE, MONTHLY, YEARLY
from storage import events, members, outbox
from storage.members import EXPECTED_STATUSES
from storage.models import AttendanceStatus, Event, EventKind, Role

KINDS = "、".join(k.value for k in EventKind)
# 党员大会 and 党课 are held once a quarter, the others once a month (schedules.rules).
QUARTERLY = frozenset(m.kind.value for m in CADENCE if m.months != MONTHLY)


# ---- how a meeting is named in replies -------------------------------------------------


def label(event: Event) -> str:
    """党课, or 党小组会（第一党小组） for one 党小组's meeting."""
    return f"{event.kind}（{event.party_group}）" if event.party_group else event.kind


def local_start(event: Event, tz: ZoneInfo) -> datetime:
    return as_utc(event.starts_at).astimezone(tz)


def title(event: Event, tz: ZoneInfo) -> str:
    """主题党日 #3（12月4日(周五) 15:00）"""
    return f"{label(event)} #{event.number}（{text.when(local_start(event, tz))}）"


def choice_lines(found: Sequence[Event], tz: ZoneInfo) -> list[str]:
    """One line per meeting to choose from, by number."""
    return [f"· #{e.number} {text.hm(local_start(e, tz))} {label(e)}" for e in found]


def parse_number_word(word: str) -> int | None:
    """A meeting number such as 3 or #3; None when `word` is not one."""
    t = half_width(word).lstrip("#＃")
    if not is_digits(t) or len(t.lstrip("0")) > 9:
        return None
    return int(t)


def meeting_period(kind: str, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The month (or, for 党员大会 and 党课, the quarter) holding `day`: one meeting of a
    kind per period, as the annual plan has it; 组织生活会 and 民主评议 one a year."""
    if kind in YEARLY:
        first, months = date(day.year, 1, 1), 12
    elif kind in QUARTERLY:
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        months = 3
    else:
        first, months = day.replace(day=1), 1
    m = first.month - 1 + months
    end = date(first.year + m // 12, m % 12 + 1, 1)
    return datetime.combine(first, time(), tz), datetime.combine(end, time(), tz)


# ---- which branch a secretary's command is about ------------------------------------------


def managed_branch(ctx: Context, refusal: str = "您只能管理本支部的活动。") -> int | Reply:
    """In a group bound to a branch, that branch; elsewhere the sender's own. A secretary
    acts on their own branch only; an admin on any (in its group)."""
    member = ctx.require_member()
    branch_id = member.branch_id
    if ctx.group is not None and ctx.group.branch_id is not None:
        branch_id = ctx.group.branch_id
    if ctx.role is Role.SECRETARY and branch_id != member.branch_id:
        return Reply(refusal)
    return branch_id


async def numbered_meeting(ctx: Context, number: int) -> Event | Reply:
    """The meeting with that number in the branch the sender manages."""
    branch_id = managed_branch(ctx)
    if isinstance(branch_id, Reply):
        return branch_id
    event = await events.event_by_number(ctx.session, branch_id, number)
    if event is None:
        return Reply(f"本支部没有编号为 {number} 的活动，发送「日程」查看编号。")
    return event


def withdraw_key(event: Event) -> str:
    """The outbox key prefix of the meeting's pushes (schedules.occurrences)."""
    return f"event:{event.id}:"


async def move(ctx: Context, event: Event, starts: datetime, place: str) -> None:
    """Move the meeting (same number, leave kept) and withdraw the pushes written for the
    old time; the planner writes those of the new time on its next pass."""
    prefix = withdraw_key(event)
    # Old rows keep their history under a key of their own, stamped with the moment of
    # the move, so the planner's keys are free for the new time.
    stamp = ctx.now.astimezone(UTC).strftime("%Y%m%d%H%M%S%f")
    await outbox.withdraw(ctx.session, prefix, "活动已改期", retire_as=f"event:{event.id}~{stamp}:")
    await events.move_event(ctx.session, event, starts, place)


def check_new_time(ctx: Context, starts: datetime) -> Reply | None:
    if starts <= ctx.now:
        return Reply(f"{text.when(starts)} 已经过去，请安排将来的时间。")
    if (starts - ctx.now).days > 400:
        return Reply("只能安排一年以内的活动。")
    return None


# ---- 请假 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaveArgs:
    number: int | None
    reason: str


def parse_leave(rest: str) -> LeaveArgs:
    """`[编号] 原因`: a first word that is a number names the meeting."""
    first, _, tail = rest.strip().partition(" ")
    number = parse_number_word(first)
    if number is None:
        tail = rest
    reason = plain_text(tail, "原因", 100)
    if not reason:
        raise ArgError("请写明请假原因。")
    return LeaveArgs(number, reason)


async def leave(ctx: Context, args: LeaveArgs) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    tz = ctx.services.clock.tz
    if member.status not in EXPECTED_STATUSES:
        return Reply("组织生活只统计党员和预备党员的出勤，您无需请假。")
    if args.number is not None:
        event = await events.event_by_number(ctx.session, member.branch_id, args.number)
        if event is None:
            return Reply(f"本支部没有编号为 {args.number} 的活动，发送「日程」查看编号。")
        if event.cancelled_at is not None:
            return Reply(f"{title(event, tz)} 已取消，无需请假。")
        if as_utc(event.starts_at) + events.SIGNIN_CLOSES_AFTER < ctx.now:
            return Reply(f"{title(event, tz)} 已结束；如需补假，请联系支部书记。")
        assert event.id is not None
        if not await events.is_expected(ctx.session, event.id, member.id):
            return Reply(f"您不在{label(event)}的应到人员之列，无需请假。")
    else:
        coming = await events.upcoming_expected(ctx.session, member.id, ctx.now)
        if not coming:
            return Reply("近期没有需要您参加的活动。")
        day = local_start(coming[0], tz).date()
        same_day = [e for e in coming if local_start(e, tz).date() == day]
        if len(same_day) > 1:
            lines = [f"{text.day(day)} 有 {len(same_day)} 场活动，请写明为哪一场请假："]
            lines += choice_lines(same_day, tz)
            lines.append(f"例如：请假 {same_day[0].number} {args.reason}")
            return Reply("\n".join(lines))
        event = coming[0]
    assert event.id is not None
    what = f"{label(event)} {text.when(local_start(event, tz))}"
    prior = await events.attendance_of(ctx.session, event.id, member.id)
    if prior is not None and prior.status != AttendanceStatus.LEAVE:
        return Reply(f"您已签到（{prior.status}），无需请假：{what}")
    await events.set_attendance(
        ctx.session, event.id, member.id, AttendanceStatus.LEAVE.value, ctx.now, args.reason
    )
    verb = "已更新请假" if prior is not None else "已登记请假"
    return Reply(f"✅ {verb}：{what}（#{event.number}）\n原因：{args.reason}")


# ---- 日程 ---------------------------------------------------------------------------------


async def schedule(ctx: Context, _: str) -> Reply:
    member = ctx.require_member()
    tz = ctx.services.clock.tz
    coming = await events.upcoming(ctx.session, member.branch_id, ctx.now, limit=6)
    branch = ctx.branch.name if ctx.branch else ""
    if not coming:
        return Reply(f"📅 {branch}\n近期没有安排。")
    lines = [f"📅 {branch} 近期安排"]
    for e in coming:
        line = f"· #{e.number} {text.when(local_start(e, tz))} {label(e)}"
        if e.place:
            line += f"\n  地点：{e.place}"
        lines.append(line)
    lines.append("活动前 30 分钟至开始后 60 分钟可发「签到」；请假请发「请假 编号 原因」。")
    return Reply("\n".join(lines))


# ---- 安排 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    kind: EventKind
    day: date
    at: time
    place: str
    party_group: str = ""


def parse_new_event(rest: str) -> NewEvent:
    parts = rest.split()
    if len(parts) < 3:
        raise ArgError("请写类型、日期和时间。")
    try:
        kind = EventKind(parts[0])
    except ValueError:
        raise ArgError(f"类型须是：{KINDS}。") from None
    group = ""
    # 安排 党小组会 第一党小组 2026-12-17 16:00: a word before the date names the 党小组.
    if kind is EventKind.GROUP and not half_width(parts[1])[:1].isdigit():
        group = plain_text(parts[1], "党小组", 50)
        parts = [parts[0], *parts[2:]]
        if len(parts) < 3:
            raise ArgError("请写类型、日期和时间。")
    starts_on, starts_at = parse_date(parts[1]), parse_hhmm(parts[2])
    place = plain_text(" ".join(parts[3:]), "地点", 50)
    return NewEvent(kind, starts_on, starts_at, place, group)


async def group_refusal(ctx: Context, branch_id: int, args: NewEvent) -> Reply | None:
    """A 党小组会 names one of the branch's 党小组 when it has them; other kinds none."""
    if args.kind is not EventKind.GROUP:
        return None
    groups = (await members.party_groups(ctx.session)).get(branch_id, [])
    names = "、".join(groups)
    if args.party_group and args.party_group not in groups:
        have = f"（本支部党小组：{names}）" if groups else "（本支部花名册未分党小组）"
        return Reply(f"本支部没有“{args.party_group}”{have}。")
    if not args.party_group and groups:
        return Reply(
            f"请写明哪个党小组，如：安排 党小组会 {groups[0]} 日期 时间（本支部党小组：{names}）。"
        )
    return None


async def arrange(ctx: Context, args: NewEvent) -> Reply:
    member = ctx.require_member()
    tz = ctx.services.clock.tz
    starts = datetime.combine(args.day, args.at, tz)
    if (refused := check_new_time(ctx, starts)) is not None:
        return refused
    branch_id = managed_branch(ctx, "您只能为本支部安排活动。")
    if isinstance(branch_id, Reply):
        return branch_id
    if (refused := await group_refusal(ctx, branch_id, args)) is not None:
        return refused
    kind, group = args.kind.value, args.party_group
    what = f"{kind}（{group}）" if group else kind
    if await events.find_event(ctx.session, branch_id, kind, starts, group) is not None:
        return Reply(f"{text.when(starts)} 已有一场{what}。")
    branch = await members.branch_by_id(ctx.session, branch_id)
    # One meeting of a kind per period: one already planned (by the rules or by hand) and
    # not yet held is moved, keeping its number and any leave given for it.
    planned = await events.planned_in(
        ctx.session, branch_id, kind, group, meeting_period(kind, args.day, tz), ctx.now
    )
    lines: list[str]
    if planned:
        event = planned[0]
        was = local_start(event, tz)
        await move(ctx, event, starts, args.place or event.place)
        lines = [
            f"✅ 已改期：{what} #{event.number}",
            f"支部：{branch.name if branch else ''}",
            f"时间：{text.when(was)} → {text.when(starts)}",
        ]
    else:
        event = await events.create_event(
            ctx.session, branch_id, kind, starts, args.place, created_by=member.id,
            party_group=group,
        )
        lines = [
            f"✅ 已安排：{what} #{event.number}",
            f"支部：{branch.name if branch else ''}",
            f"时间：{text.when(starts)}",
        ]
    return Reply("\n".join(lines + await _tail(ctx, event, starts)))


async def _tail(ctx: Context, event: Event, starts: datetime) -> list[str]:
    """Place, sign-in window and leave kept: the last lines of 安排 and 改期."""
    out = [f"地点：{event.place}"] if event.place else []
    opens = starts - events.SIGNIN_OPENS_BEFORE
    closes = starts + events.SIGNIN_CLOSES_AFTER
    out.append(f"签到：{text.hm(opens)}–{text.hm(closes)}")
    assert event.id is not None
    leaves = await events.on_leave(ctx.session, event.id)
    if leaves:
        out.append(f"已请假 {len(leaves)} 人，请假仍有效。")
    return out


COMMANDS = [
    Command(
        name="请假",
        usage="请假 [编号] 原因",
        summary="为本支部的活动请假（不写编号为下一次要参加的活动）",
        run=leave,
        parse=parse_leave,
    ),
    Command(
        name="日程",
        aliases=("主题党日", "安排表"),
        usage="日程",
        summary="本支部近期的活动安排及编号",
        run=schedule,
    ),
    Command(
        name="安排",
        aliases=("新建活动",),
        role=Role.SECRETARY,
        usage="安排 类型 YYYY-MM-DD HH:MM [地点]",
        summary=f"安排活动（{KINDS}）；本月（季度）已有计划的同类活动则改期",
        run=arrange,
        parse=parse_new_event,
    ),
]
