"""签到 / 签退: event attendance when an event is open, else the daily two-slot check-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from bot.clock import as_utc
from bot.context import Context
from bot.messages import Reply
from bot.router import Command
from handlers import text
from storage import checkins, events
from storage.members import EXPECTED_STATUSES
from storage.models import AttendanceStatus, Event, EventKind, Slot

LATE_AFTER = timedelta(minutes=15)
SLOTS: dict[str, tuple[Literal["morning", "evening"], Slot]] = {
    "签到": ("morning", Slot.MORNING),
    "签退": ("evening", Slot.EVENING),
}


async def sign_in(ctx: Context, _: str) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    if member.status in EXPECTED_STATUSES:
        event = await events.open_event(ctx.session, member.branch_id, ctx.now)
        if event is not None:
            return await _event_sign_in(ctx, event)
    return await _daily(ctx, "签到")


async def sign_out(ctx: Context, _: str) -> Reply:
    return await _daily(ctx, "签退")


async def _event_sign_in(ctx: Context, event: Event) -> Reply:
    member = ctx.require_member()
    assert member.id is not None and event.id is not None
    tz = ctx.services.clock.tz
    starts = as_utc(event.starts_at)
    title = f"{EventKind(event.kind).value}（{text.when(starts.astimezone(tz))}）"
    prior = await events.attendance_of(ctx.session, event.id, member.id)
    if prior is not None and prior.status != AttendanceStatus.LEAVE:
        at = as_utc(prior.at).astimezone(tz)
        return Reply(f"你已签到过了：{title}，{text.hm(at)}，{prior.status}。")
    late_by = ctx.now - starts
    status = AttendanceStatus.LATE if late_by > LATE_AFTER else AttendanceStatus.PRESENT
    await events.set_attendance(ctx.session, event.id, member.id, status.value, ctx.now)
    if status is AttendanceStatus.LATE:
        minutes = int(late_by.total_seconds() // 60)
        return Reply(f"⚠️ 已签到：{title}\n迟到 {minutes} 分钟，记为迟到。")
    note = "（已取消请假）" if prior is not None else ""
    return Reply(f"✅ 签到成功：{title}\n记为出席{note}。")


async def _daily(ctx: Context, word: str) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    branch = ctx.branch.name if ctx.branch else ""
    key, slot = SLOTS[word]
    rules = ctx.services.checkin_of(branch)
    if not rules.daily:
        if word == "签到":
            return Reply("现在没有正在签到的活动，本支部也未开启每日上下班签到。")
        return Reply("本支部未开启每日上下班签到。")
    local = ctx.local_now
    if not ctx.services.calendar.is_workday(local.date()):
        return Reply(f"今天 {text.day(local.date())} 是休息日，无需{slot.value}签到。")
    cfg = rules.morning if key == "morning" else rules.evening
    if not cfg.start <= local.time() <= cfg.end:
        return Reply(f"现在不在{slot.value}签到时间（{text.window(cfg.start, cfg.end)}）。")
    on_time = cfg.on_time_by is None or local.time() <= cfg.on_time_by
    day = local.date()
    if not await checkins.record_if_new(ctx.session, member.id, day, slot.value, ctx.now, on_time):
        prior = await checkins.checked_in_at(ctx.session, member.id, day, slot.value)
        assert prior is not None
        at = prior.astimezone(ctx.services.clock.tz)
        return Reply(f"你今天已经{slot.value}签到过了（{text.hm(at)}）。")
    if on_time:
        return Reply(f"✅ {slot.value}签到成功 {text.hm(local)}，按时。")
    assert cfg.on_time_by is not None
    deadline = text.hm(cfg.on_time_by)
    return Reply(f"⚠️ {slot.value}签到成功 {text.hm(local)}，迟到（应在 {deadline} 前）。")


COMMANDS = [
    Command(
        name="签到",
        aliases=("打卡", "上班签到"),
        usage="签到",
        summary="活动签到；无活动时为上班签到",
        run=sign_in,
    ),
    Command(
        name="签退",
        aliases=("下班签到",),
        usage="签退",
        summary="下班签到",
        run=sign_out,
    ),
]
