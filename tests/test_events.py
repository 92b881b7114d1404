"""Events: sign-in window, 出席/迟到, 请假, 日程, and 安排 by secretaries."""

from __future__ import annotations

from sqlmodel import select

from storage import events
from storage.models import Attendance, CheckIn, Event
from tests.conftest import SCHOOL, at, branch_id, member_id


async def add_event(app, branch: str, kind: str, when: str, place: str = "") -> int:
    async with app.db.write() as s:
        event = await events.create_event(s, await branch_id(app, branch), kind, at(when), place)
    assert event.id is not None
    return event.id


async def attendance(app) -> list[tuple[int, str, str]]:
    async with app.db.read() as s:
        rows = (await s.exec(select(Attendance).order_by(Attendance.id))).all()
    return [(r.member_id, r.status, r.reason) for r in rows]


async def test_sign_in_opens_30_minutes_before_start(app, chat, clock):
    await add_event(app, SCHOOL, "主题党日", "2026-12-04 15:00")
    clock.set(at("2026-12-04 14:29"))
    reply = await chat.text("liu", "签到", chat="wr-school")
    assert reply == "现在没有正在签到的活动，本支部也未开启每日上下班签到。"
    clock.set(at("2026-12-04 14:30"))
    reply = await chat.text("liu", "签到", chat="wr-school")
    assert reply == "✅ 签到成功：主题党日（12月4日(周五) 15:00）\n记为出席。"
    assert await attendance(app) == [(await member_id(app, "刘老师"), "出席", "")]


async def test_more_than_15_minutes_after_start_is_late(app, chat, clock):
    await add_event(app, SCHOOL, "党课", "2026-12-04 15:00")
    clock.set(at("2026-12-04 15:15"))
    assert (await chat.text("liu", "签到")).endswith("记为出席。")
    clock.set(at("2026-12-04 15:16"))
    reply = await chat.text("chen", "签到")
    assert reply == "⚠️ 已签到：党课（12月4日(周五) 15:00）\n迟到 16 分钟，记为迟到。"
    assert [s for _, s, _ in await attendance(app)] == ["出席", "迟到"]


async def test_sign_in_closes_60_minutes_after_start(app, chat, clock):
    await add_event(app, SCHOOL, "党课", "2026-12-04 15:00")
    clock.set(at("2026-12-04 16:01"))
    reply = await chat.text("liu", "签到")
    assert reply == "现在没有正在签到的活动，本支部也未开启每日上下班签到。"
    assert await attendance(app) == []


async def test_event_sign_in_takes_precedence_over_daily_check_in(app, chat, clock):
    await add_event(app, "县教育局机关党支部", "支委会", "2026-12-01 08:30")
    reply = await chat.text("wang", "签到")
    assert reply == "✅ 签到成功：支委会（12月1日(周二) 08:30）\n记为出席。"
    async with app.db.read() as s:
        assert (await s.exec(select(CheckIn))).all() == []


async def test_masses_member_falls_through_to_daily_check_in(app, chat):
    await add_event(app, "县教育局机关党支部", "支委会", "2026-12-01 08:30")
    assert await chat.text("qian", "签到") == "✅ 上班签到成功 08:10，按时。"
    assert await attendance(app) == []


async def test_second_sign_in_is_refused(app, chat, clock):
    await add_event(app, SCHOOL, "党课", "2026-12-04 15:00")
    clock.set(at("2026-12-04 14:50"))
    await chat.text("liu", "签到")
    clock.set(at("2026-12-04 15:30"))
    reply = await chat.text("liu", "签到")
    assert reply == "您已签到过了：党课（12月4日(周五) 15:00），14:50，出席。"
    assert [s for _, s, _ in await attendance(app)] == ["出席"]


async def test_leave_for_next_event_then_signing_in_cancels_it(app, chat, clock):
    await add_event(app, SCHOOL, "主题党日", "2026-12-04 15:00")
    reply = await chat.text("liu", "请假 外出培训")
    assert reply == "✅ 已登记请假：主题党日 12月4日(周五) 15:00（#1）\n原因：外出培训"
    reply = await chat.text("liu", "请假 生病")
    assert reply == "✅ 已更新请假：主题党日 12月4日(周五) 15:00（#1）\n原因：生病"
    liu = await member_id(app, "刘老师")
    assert await attendance(app) == [(liu, "请假", "生病")]
    clock.set(at("2026-12-04 14:55"))
    reply = await chat.text("liu", "签到")
    assert reply == "✅ 签到成功：主题党日（12月4日(周五) 15:00）\n记为出席（已取消请假）。"
    assert await attendance(app) == [(liu, "出席", "")]
    assert (await chat.text("liu", "请假 有事")).startswith("您已签到（出席），无需请假")


async def test_leave_without_reason_or_event(app, chat):
    assert await chat.text("liu", "请假") == "请写明请假原因。\n用法：请假 [编号] 原因"
    assert await chat.text("liu", "请假 3") == "请写明请假原因。\n用法：请假 [编号] 原因"
    assert await chat.text("liu", "请假 有事") == "近期没有需要您参加的活动。"
    assert await chat.text("liu", "请假 7 有事") == (
        "本支部没有编号为 7 的活动，发送「日程」查看编号。"
    )
    assert await chat.text("qian", "请假 有事") == (
        "组织生活只统计党员和预备党员的出勤，您无需请假。"
    )
    assert await attendance(app) == []


async def test_schedule_lists_upcoming_events_of_own_branch(app, chat):
    await add_event(app, SCHOOL, "主题党日", "2026-12-04 15:00", "党员活动室")
    await add_event(app, SCHOOL, "党课", "2026-11-20 15:00")  # past: not listed
    await add_event(app, "县教育局机关党支部", "支委会", "2026-12-02 15:00")  # other branch
    cancelled = await add_event(app, SCHOOL, "支委会", "2026-12-08 16:00")
    async with app.db.write() as s:
        event = await s.get(Event, cancelled)
        await events.cancel_event(s, event, at("2026-12-01 08:00"), "")
    reply = await chat.text("liu", "日程")
    assert reply == (
        "📅 县第一中学党支部 近期安排\n"
        "· #1 12月4日(周五) 15:00 主题党日\n"
        "  地点：党员活动室\n"
        "活动前 30 分钟至开始后 60 分钟可发「签到」；请假请发「请假 编号 原因」。"
    )


async def test_secretary_arranges_an_event(app, chat):
    reply = await chat.text("chen", "安排 党课 2026-12-10 16:00 学校报告厅", chat="wr-school")
    assert reply == (
        "✅ 已安排：党课 #1\n支部：县第一中学党支部\n时间：12月10日(周四) 16:00\n"
        "地点：学校报告厅\n签到：15:30–17:00"
    )
    async with app.db.read() as s:
        event = (await s.exec(select(Event))).one()
    assert event.starts_at == at("2026-12-10 16:00")
    assert event.branch_id == await branch_id(app, SCHOOL)
    assert "12月10日(周四) 16:00 党课" in await chat.text("liu", "日程")


async def test_arrange_refusals_write_nothing(app, chat):
    assert await chat.text("chen", "安排 茶话会 2026-12-10 16:00") == (
        # 组织生活会 and 民主评议: the yearly kinds of issue 18.
        "类型须是：主题党日、支委会、党员大会、党小组会、党课、组织生活会、民主评议。\n"
        "用法：安排 类型 YYYY-MM-DD HH:MM [地点]"
    )
    assert await chat.text("chen", "安排 党课 2026-11-30 16:00") == (
        "11月30日(周一) 16:00 已经过去，请安排将来的时间。"
    )
    assert (await chat.text("chen", "安排 党课 2026-02-30 16:00")).startswith("没有这一天")
    assert (await chat.text("chen", "安排 党课 2026-12-10 25:00")).startswith("时间格式应为")
    # A secretary in another branch's group cannot arrange for that branch.
    reply = await chat.text("chen", "安排 党课 2026-12-10 16:00", chat="wr-bureau")
    assert reply == "您只能为本支部安排活动。"
    async with app.db.read() as s:
        assert (await s.exec(select(Event))).all() == []


async def test_duplicate_arrangement_is_refused(app, chat):
    await chat.text("chen", "安排 党课 2026-12-10 16:00", chat="wr-school")
    assert await chat.text("chen", "新建活动 党课 2026-12-10 16:00", chat="wr-school") == (
        "12月10日(周四) 16:00 已有一场党课。"
    )


async def test_admin_arranges_for_the_group_branch(app, chat):
    reply = await chat.text("zhou", "安排 支委会 2026-12-10 16:00", chat="wr-school")
    assert "支部：县第一中学党支部" in reply
