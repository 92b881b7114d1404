"""签到 / 签退: event attendance when an event is open, else the daily two-slot check-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from bot.clock import as_utc
from bot.context import Context
from bot.messages import Reply
from bot.router import Command
from handlers import text
from handlers.args import parse_task_number
from handlers.events import choice_lines, label
from storage import checkins, events
from storage.members import EXPECTED_STATUSES
from storage.models import AttendanceStatus, Event, Slot

LATE_AFTER = timedelta(minutes=15)
SLOTS: dict[str, tuple[Literal["morning", "evening"], Slot]] = {
    "签到": ("morning", Slot.MORNING),
    "签退": ("evening", Slot.EVENING),
}


async def sign_in(ctx: Context, number: int | None) -> Reply:
    """A meeting the member is expected at, when one is open; else the daily check-in.

    With several such meetings open (a holiday can put two on one afternoon) the member
    says which: `签到 编号`. A member no open meeting expects (群众, or not on the
    committee) checks in for the day where the branch has that, or is told they need not
    sign in: never "no meeting"."""
    member = ctx.require_member()
    assert member.id is not None
    tz = ctx.services.clock.tz
    opened = await events.open_events(ctx.session, member.branch_id, ctx.now, member.id)
    if number is not None:
        chosen = [(e, mine) for e, mine in opened if e.number == number]
        if not chosen:
            return Reply(f"编号 {number} 的活动现在不在签到时间，发送「日程」查看编号和时间。")
        event, mine = chosen[0]
        if not mine:
            return Reply(_not_expected(member.status, event))
        return await _event_sign_in(ctx, event)
    mine = [e for e, expected in opened if expected]
    if len(mine) == 1:
        return await _event_sign_in(ctx, mine[0])
    if mine:
        lines = [f"现在有 {len(mine)} 场活动在签到，请发「签到 编号」："]
        lines += choice_lines(mine, tz)
        return Reply("\n".join(lines))
    live = opened[0][0] if opened else None
    return await _daily(ctx, "签到", live)


def _not_expected(status: str, event: Event) -> str:
    if status not in EXPECTED_STATUSES:
        return f"{label(event)}是党员的组织生活，您无需签到。"
    return f"您不在{label(event)}的应到人员之列，无需签到。"


async def sign_out(ctx: Context, _: str) -> Reply:
    return await _daily(ctx, "签退")


async def _event_sign_in(ctx: Context, event: Event) -> Reply:
    member = ctx.require_member()
    assert member.id is not None and event.id is not None
    tz = ctx.services.clock.tz
    starts = as_utc(event.starts_at)
    title = f"{label(event)}（{text.when(starts.astimezone(tz))}）"
    prior = await events.attendance_of(ctx.session, event.id, member.id)
    if prior is not None and prior.status != AttendanceStatus.LEAVE:
        at = as_utc(prior.at).astimezone(tz)
        return Reply(f"您已签到过了：{title}，{text.hm(at)}，{prior.status}。")
    late_by = ctx.now - starts
    status = AttendanceStatus.LATE if late_by > LATE_AFTER else AttendanceStatus.PRESENT
    await events.set_attendance(ctx.session, event.id, member.id, status.value, ctx.now)
    if status is AttendanceStatus.LATE:
        minutes = int(late_by.total_seconds() // 60)
        return Reply(f"⚠️ 已签到：{title}\n迟到 {minutes} 分钟，记为迟到。")
    note = "（已取消请假）" if prior is not None else ""
    return Reply(f"✅ 签到成功：{title}\n记为出席{note}。")


async def _daily(ctx: Context, word: str, live: Event | None = None) -> Reply:
    """The daily check-in. `live`: a meeting open now that does not expect the member;
    when the daily check-in cannot take them either, the reply says that one needs no
    sign-in rather than talk of check-in windows."""
    member = ctx.require_member()
    assert member.id is not None
    branch = ctx.branch.name if ctx.branch else ""
    key, slot = SLOTS[word]
    rules = ctx.services.checkin_of(branch)
    if not rules.daily:
        if live is not None:
            return Reply(_not_expected(member.status, live))
        if word == "签到":
            return Reply("现在没有正在签到的活动，本支部也未开启每日上下班签到。")
        return Reply("本支部未开启每日上下班签到。")
    local = ctx.local_now
    if not ctx.services.calendar.is_workday(local.date()):
        if live is not None:
            return Reply(_not_expected(member.status, live))
        return Reply(f"今天 {text.day(local.date())} 是休息日，无需{slot.value}签到。")
    cfg = rules.morning if key == "morning" else rules.evening
    if not cfg.start <= local.time() <= cfg.end:
        if live is not None:
            return Reply(_not_expected(member.status, live))
        return Reply(f"现在不在{slot.value}签到时间（{text.window(cfg.start, cfg.end)}）。")
    on_time = cfg.on_time_by is None or local.time() <= cfg.on_time_by
    day = local.date()
    if not await checkins.record_if_new(ctx.session, member.id, day, slot.value, ctx.now, on_time):
        prior = await checkins.checked_in_at(ctx.session, member.id, day, slot.value)
        assert prior is not None
        at = prior.astimezone(ctx.services.clock.tz)
        return Reply(f"您今天已经{slot.value}签到过了（{text.hm(at)}）。")
    if on_time:
        return Reply(f"✅ {slot.value}签到成功 {text.hm(local)}，按时。")
    assert cfg.on_time_by is not None
    deadline = text.hm(cfg.on_time_by)
    return Reply(f"⚠️ {slot.value}签到成功 {text.hm(local)}，迟到（应在 {deadline} 前）。")


COMMANDS = [
    Command(
        name="签到",
        aliases=("打卡", "上班签到"),
        usage="签到 [编号]",
        summary="活动签到（同时有几场时写编号）；无活动时为上班签到",
        run=sign_in,
        parse=parse_task_number,
    ),
    Command(
        name="签退",
        aliases=("下班签到",),
        usage="签退",
        summary="下班签到",
        run=sign_out,
    ),
]
