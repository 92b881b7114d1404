"""改期, 取消, 补签 and 补假: a secretary runs the branch's meetings by their numbers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from bot.clock import as_utc
from bot.context import Context
from bot.messages import Reply
from bot.router import ArgError, Command
from handlers import text
from handlers.args import half_width, parse_date, parse_hhmm, plain_text, shown
from handlers.events import (
    check_new_time,
    label,
    local_start,
    move,
    numbered_meeting,
    parse_number_word,
    title,
    withdraw_key,
)
from storage import events, members, outbox, reminders
from storage.models import AttendanceStatus, Event, Member, Role

# 王芳0012: a name with the last four digits of the phone, when two share the name.
_NAME_PHONE = re.compile(r"(.+?)[(（]?([0-9]{4})[)）]?")


def _number(word: str) -> int:
    number = parse_number_word(word)
    if number is None:
        raise ArgError(f"编号应是数字：{shown(word)}")
    return number


# ---- 改期 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reschedule:
    number: int
    day: date
    at: time
    place: str


def parse_reschedule(rest: str) -> Reschedule:
    parts = rest.split()
    if len(parts) < 3:
        raise ArgError("请写编号、日期和时间。")
    number, day, at = _number(parts[0]), parse_date(parts[1]), parse_hhmm(parts[2])
    return Reschedule(number, day, at, plain_text(" ".join(parts[3:]), "地点", 50))


async def reschedule(ctx: Context, args: Reschedule) -> Reply:
    tz = ctx.services.clock.tz
    event = await numbered_meeting(ctx, args.number)
    if isinstance(event, Reply):
        return event
    assert event.id is not None
    if event.cancelled_at is not None:
        return Reply(f"{title(event, tz)} 已取消，不能改期；请用「安排」重新安排。")
    if as_utc(event.starts_at) <= ctx.now:
        return Reply(f"{title(event, tz)} 已经开始，不能改期。")
    if signed := await events.signed_in_count(ctx.session, event.id):
        return Reply(f"{title(event, tz)} 已有 {signed} 人签到，不能改期。")
    starts = datetime.combine(args.day, args.at, tz)
    if (refused := check_new_time(ctx, starts)) is not None:
        return refused
    if as_utc(event.starts_at) == starts.astimezone(UTC) and not args.place:
        return Reply(f"{title(event, tz)} 本来就在这个时间。")
    twin = await events.find_event(
        ctx.session, event.branch_id, event.kind, starts, event.party_group
    )
    if twin is not None and twin.id != event.id:
        return Reply(f"{text.when(starts)} 已有一场{label(event)}（#{twin.number}）。")
    was = local_start(event, tz)
    await move(ctx, event, starts, args.place or event.place)
    lines = [
        f"✅ 已改期：{label(event)} #{event.number}",
        f"时间：{text.when(was)} → {text.when(starts)}",
    ]
    if event.place:
        lines.append(f"地点：{event.place}")
    opens, closes = starts - events.SIGNIN_OPENS_BEFORE, starts + events.SIGNIN_CLOSES_AFTER
    lines.append(f"签到：{text.hm(opens)}–{text.hm(closes)}")
    leaves = await events.on_leave(ctx.session, event.id)
    if leaves:
        lines.append(f"已请假 {len(leaves)} 人，请假仍有效。")
    return Reply("\n".join(lines))


# ---- 取消 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cancel:
    number: int
    reason: str


def parse_cancel(rest: str) -> Cancel:
    first, _, tail = rest.strip().partition(" ")
    if not first:
        raise ArgError("请写要取消的活动编号。")
    return Cancel(_number(first), plain_text(tail, "原因", 100))


async def cancel(ctx: Context, args: Cancel) -> Reply:
    tz = ctx.services.clock.tz
    event = await numbered_meeting(ctx, args.number)
    if isinstance(event, Reply):
        return event
    assert event.id is not None
    if event.cancelled_at is not None:
        return Reply(f"{title(event, tz)} 已经取消过了。")
    # A meeting that was held cannot be undone; one nobody came to (a phantom) can.
    if signed := await events.signed_in_count(ctx.session, event.id):
        return Reply(f"{title(event, tz)} 已有 {signed} 人签到，不能取消。")
    await outbox.withdraw(ctx.session, withdraw_key(event), "活动已取消")
    await events.cancel_event(ctx.session, event, ctx.now, args.reason)
    lines = [f"✅ 已取消：{title(event, tz)}"]
    if args.reason:
        lines.append(f"原因：{args.reason}")
    told, untold = await _tell_leave_takers(ctx, event)
    if told:
        lines.append(f"已私信告知请过假的：{'、'.join(told)}")
    if untold:
        lines.append(f"未绑定账号，请另行告知：{'、'.join(untold)}")
    return Reply("\n".join(lines))


async def _tell_leave_takers(ctx: Context, event: Event) -> tuple[list[str], list[str]]:
    """Queue a direct push to each member who had asked for leave; return the names told
    and those without an account to reach."""
    assert event.id is not None
    tz = ctx.services.clock.tz
    branch = await members.branch_by_id(ctx.session, event.branch_id)
    body = f"📅 {branch.name if branch else ''}：{title(event, tz)} 已取消"
    body += f"，原因：{event.cancel_reason}。" if event.cancel_reason else "。"
    body += "\n您为它请的假无需再办。"
    payload = Reply(body).to_json()
    now = ctx.now.astimezone(UTC)
    rows, told, untold = [], [], []
    for member, _ in await events.on_leave(ctx.session, event.id):
        if not await reminders.accounts_of_member(ctx.session, member.id or 0):
            untold.append(member.name)
            continue
        told.append(member.name)
        rows.append(
            {
                "key": f"cancelled:{event.id}:m{member.id}",
                "kind": "event_cancelled",
                "due_at": now,
                "payload": payload,
                "member_id": member.id,
            }
        )
    await outbox.enqueue(ctx.session, rows, now)
    return told, untold


# ---- 补签 and 补假 ------------------------------------------------------------------------


@dataclass(frozen=True)
class MakeUp:
    name: str
    number: int
    reason: str = ""


def parse_make_up(rest: str) -> MakeUp:
    parts = rest.split()
    if len(parts) < 2:
        raise ArgError("请写姓名和活动编号。")
    return MakeUp(plain_text(parts[0], "姓名", 60), _number(parts[1]))


def parse_make_up_leave(rest: str) -> MakeUp:
    parts = rest.split(maxsplit=2)
    if len(parts) < 2:
        raise ArgError("请写姓名、活动编号和原因。")
    reason = plain_text(parts[2], "原因", 100) if len(parts) > 2 else ""
    if not reason:
        raise ArgError("请写明请假原因。")
    return MakeUp(plain_text(parts[0], "姓名", 60), _number(parts[1]), reason)


_NOBODY = "本支部没有叫“{}”的同志。"


async def _pick(
    lookup: Callable[[str], Awaitable[Sequence[Member]]], written: str, example: str, where: str
) -> Member | Reply | None:
    """The one member `lookup` finds by name, or by name and phone tail ("王芳1234");
    several: a reply asking for the tail; nobody: None."""
    found = await lookup(written)
    if not found and (m := _NAME_PHONE.fullmatch(half_width(written))):
        found = [p for p in await lookup(m[1]) if p.phone.endswith(m[2])]
    if not found:
        return None
    if len(found) > 1:
        tails = "、".join(p.phone[-4:] for p in found)
        first = found[0]
        return Reply(
            f"{where}有 {len(found)} 位“{first.name}”（手机尾号 {tails}），请在姓名后加"
            f"手机后四位，如：{example.format(name=first.name + first.phone[-4:])}"
        )
    return found[0]


async def _who(ctx: Context, branch_id: int, written: str, example: str) -> Member | Reply:
    """The branch's member of that name; with two of it, the one whose phone ends so."""

    async def in_branch(name: str) -> Sequence[Member]:
        return await members.named_in_branch(ctx.session, branch_id, name)

    picked = await _pick(in_branch, written, example, "本支部")
    return picked if picked is not None else Reply(_NOBODY.format(shown(written)))


async def county_who(ctx: Context, written: str, example: str) -> Member | Reply:
    """The admin's pick from the whole county (a direct chat has no branch): the one person
    of that name, or of that name and phone tail; several are told apart by the tail as in
    _who; nobody of that name anywhere: said as _who says it."""

    async def in_county(name: str) -> Sequence[Member]:
        return await members.members_named(ctx.session, name)

    picked = await _pick(in_county, written, example, "全县")
    return picked if picked is not None else Reply(_NOBODY.format(shown(written)))


async def _make_up_target(
    ctx: Context, args: MakeUp, example: str
) -> tuple[Event, Member] | Reply:
    tz = ctx.services.clock.tz
    event = await numbered_meeting(ctx, args.number)
    if isinstance(event, Reply):
        return event
    assert event.id is not None
    if event.cancelled_at is not None:
        return Reply(f"{title(event, tz)} 已取消。")
    if as_utc(event.starts_at) > ctx.now:
        return Reply(f"{title(event, tz)} 还没有开始，只能为已开始的活动补录。")
    who = await _who(ctx, event.branch_id, args.name, example)
    if isinstance(who, Reply):
        return who
    assert who.id is not None
    if not await events.is_expected(ctx.session, event.id, who.id):
        return Reply(f"{who.name}不在{label(event)}的应到人员之列，无需补录。")
    return event, who


async def make_up_sign_in(ctx: Context, args: MakeUp) -> Reply:
    tz = ctx.services.clock.tz
    found = await _make_up_target(ctx, args, f"补签 {{name}} {args.number}")
    if isinstance(found, Reply):
        return found
    event, who = found
    assert event.id is not None and who.id is not None
    prior = await events.attendance_of(ctx.session, event.id, who.id)
    if prior is not None and prior.status != AttendanceStatus.LEAVE:
        return Reply(f"{who.name}已签到（{prior.status}）：{title(event, tz)}")
    by = ctx.require_member().id
    present = AttendanceStatus.PRESENT.value
    await events.set_attendance(ctx.session, event.id, who.id, present, ctx.now, entered_by=by)
    note = "（原请假已改为出席）" if prior is not None else ""
    return Reply(f"✅ 已补签：{who.name} · {title(event, tz)}\n记为出席{note}。")


async def make_up_leave(ctx: Context, args: MakeUp) -> Reply:
    tz = ctx.services.clock.tz
    found = await _make_up_target(ctx, args, f"补假 {{name}} {args.number} {args.reason}")
    if isinstance(found, Reply):
        return found
    event, who = found
    assert event.id is not None and who.id is not None
    prior = await events.attendance_of(ctx.session, event.id, who.id)
    if prior is not None and prior.status != AttendanceStatus.LEAVE:
        return Reply(f"{who.name}已签到（{prior.status}），无需补假：{title(event, tz)}")
    by, on_leave = ctx.require_member().id, AttendanceStatus.LEAVE.value
    await events.set_attendance(
        ctx.session, event.id, who.id, on_leave, ctx.now, args.reason, entered_by=by
    )
    verb = "已更新请假" if prior is not None else "已补假"
    return Reply(f"✅ {verb}：{who.name} · {title(event, tz)}\n原因：{args.reason}")


COMMANDS = [
    Command(
        name="改期",
        role=Role.SECRETARY,
        usage="改期 编号 YYYY-MM-DD HH:MM [地点]",
        summary="把活动改到新的时间（编号不变，已请的假仍有效）",
        run=reschedule,
        parse=parse_reschedule,
    ),
    Command(
        name="取消",
        aliases=("取消活动",),
        role=Role.SECRETARY,
        usage="取消 编号 [原因]",
        summary="取消活动，并私信告知请过假的同志",
        run=cancel,
        parse=parse_cancel,
    ),
    Command(
        name="补签",
        role=Role.SECRETARY,
        usage="补签 姓名 编号",
        summary="为已开始的活动补记出席",
        run=make_up_sign_in,
        parse=parse_make_up,
    ),
    Command(
        name="补假",
        role=Role.SECRETARY,
        usage="补假 姓名 编号 原因",
        summary="为已开始的活动补记请假",
        run=make_up_leave,
        parse=parse_make_up_leave,
    ),
]
