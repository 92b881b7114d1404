"""A scripted November 2026 on the test county, with the figures counted by hand.

November 2026 has 21 working days (no holidays), so 42 check-in slots per bureau member.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import update

from bot.app import App
from storage import checkins
from storage.models import Member
from tests.conftest import Chat, at, member_id

WORKDAYS = [
    date(2026, 11, d)
    for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 23, 24, 25, 26, 27, 30)
]
LATE_DAYS = {date(2026, 11, 3), date(2026, 11, 4)}


async def script_november(app: App, chat: Chat) -> None:
    """Check-ins, two bureau events and one school event, two study tasks."""
    clock = chat.clock
    # Everyone was on the roster well before November.
    async with app.db.write() as s:
        await s.exec(update(Member).values(created_at=datetime(2026, 10, 1, tzinfo=UTC)))  # type: ignore[call-overload]

    wang, sun, li, qian = [
        await member_id(app, n) for n in ("王党员", "孙预备", "李书记", "钱群众")
    ]
    async with app.db.write() as s:
        for day in WORKDAYS:
            morning = datetime.combine(day, time(8, 0), clock.tz)
            evening = datetime.combine(day, time(17, 30), clock.tz)
            # 王党员: both slots every day, the morning late on two days.
            await checkins.record_checkin(s, wang, day, "上班", morning, day not in LATE_DAYS)
            await checkins.record_checkin(s, wang, day, "下班", evening, True)
            # 孙预备: mornings only.
            await checkins.record_checkin(s, sun, day, "上班", morning, True)
            # 钱群众: both slots every day.
            await checkins.record_checkin(s, qian, day, "上班", morning, True)
            await checkins.record_checkin(s, qian, day, "下班", evening, True)
        # 李书记: both slots on the first five working days only.
        for day in WORKDAYS[:5]:
            await checkins.record_checkin(
                s, li, day, "上班", datetime.combine(day, time(8, 0), clock.tz), True
            )
            await checkins.record_checkin(
                s, li, day, "下班", datetime.combine(day, time(17, 30), clock.tz), True
            )
        # 周管理: none at all.

    clock.set(at("2026-11-02 10:00"))
    assert "已安排" in await chat.text("li", "安排 主题党日 2026-11-06 15:00 党员活动室")
    assert "已安排" in await chat.text("li", "安排 党课 2026-11-20 16:00")
    assert "已安排" in await chat.text("chen", "安排 主题党日 2026-11-06 15:00", chat="wr-school")
    clock.set(at("2026-11-05 10:00"))
    assert "已登记请假" in await chat.text("li", "请假 外出开会")
    clock.set(at("2026-11-06 15:05"))
    assert "出席" in await chat.text("wang", "签到")
    assert "出席" in await chat.text("liu", "签到", chat="wr-school")
    clock.set(at("2026-11-06 15:20"))
    assert "迟到" in await chat.text("sun", "签到")
    clock.set(at("2026-11-20 15:50"))
    assert "出席" in await chat.text("wang", "签到")

    # Study: a county-wide task by the admin (direct chat), a bureau task by its secretary.
    clock.set(at("2026-11-10 09:00"))
    reply = await chat.text(
        "zhou", "发布学习 学习二十大报告 https://example.org/a 截止 2026-11-20", direct=True
    )
    assert "#1" in reply and "全县" in reply
    clock.set(at("2026-11-11 09:00"))
    assert "已确认" in await chat.text("wang", "学习 1")
    clock.set(at("2026-11-12 09:00"))
    assert "已确认" in await chat.text("liu", "学习 1", chat="wr-school")
    clock.set(at("2026-11-16 09:00"))
    reply = await chat.text("li", "发布学习 纪律处分条例第四章 截止 2026-11-25")
    assert "#2" in reply and "县教育局机关党支部" in reply
    clock.set(at("2026-11-17 09:00"))
    assert "已确认" in await chat.text("wang", "学习 2")
    clock.set(at("2026-11-22 09:00"))
    assert "逾期" in await chat.text("sun", "学习 1")

    clock.set(at("2026-12-01 08:10"))
