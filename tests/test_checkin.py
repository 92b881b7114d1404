"""签到 / 签退: the daily two-slot check-in, its windows, rest days and make-up working days."""

from __future__ import annotations

from sqlmodel import select

from storage.models import CheckIn
from tests.conftest import at


async def checkins(app) -> list[CheckIn]:
    async with app.db.read() as s:
        return list((await s.exec(select(CheckIn).order_by(CheckIn.id))).all())


async def test_morning_sign_in_on_time_writes_one_row(app, chat):
    assert await chat.text("wang", "签到") == "✅ 上班签到成功 08:10，按时。"
    rows = await checkins(app)
    assert [(r.day.isoformat(), r.slot, r.on_time) for r in rows] == [("2026-12-01", "上班", True)]


async def test_sign_in_after_deadline_is_late(app, chat, clock):
    clock.set(at("2026-12-01 08:45"))
    assert await chat.text("wang", "打卡") == "⚠️ 上班签到成功 08:45，迟到（应在 08:30 前）。"
    assert [r.on_time for r in await checkins(app)] == [False]


async def test_second_sign_in_same_slot_is_refused_and_writes_nothing(app, chat, clock):
    await chat.say("wang", "签到")
    clock.set(at("2026-12-01 09:00"))
    assert await chat.text("wang", "签到") == "您今天已经上班签到过了（08:10）。"
    assert len(await checkins(app)) == 1


async def test_outside_window_is_refused(app, chat, clock):
    clock.set(at("2026-12-01 10:00"))
    assert await chat.text("wang", "签到") == "现在不在上班签到时间（07:00–09:30）。"
    clock.set(at("2026-12-01 06:59"))
    assert await chat.text("wang", "签到") == "现在不在上班签到时间（07:00–09:30）。"
    assert await checkins(app) == []


async def test_evening_sign_out(app, chat, clock):
    clock.set(at("2026-12-01 17:05"))
    assert await chat.text("wang", "签退") == "✅ 下班签到成功 17:05，按时。"
    clock.set(at("2026-12-01 20:01"))
    assert await chat.text("sun", "下班签到") == "现在不在下班签到时间（16:30–20:00）。"
    assert [(r.slot, r.on_time) for r in await checkins(app)] == [("下班", True)]


async def test_weekend_is_a_rest_day(app, chat, clock):
    clock.set(at("2026-12-05 08:00"))  # Saturday
    assert await chat.text("wang", "签到") == "今天 12月5日(周六) 是休息日，无需上班签到。"
    assert await checkins(app) == []


async def test_official_holiday_is_a_rest_day(app, chat, clock):
    clock.set(at("2026-10-05 08:00"))  # 国庆 holiday, a Monday
    assert "是休息日" in await chat.text("wang", "签到")
    assert await checkins(app) == []


async def test_make_up_working_day_takes_check_ins(app, chat, clock):
    clock.set(at("2026-02-14 08:00"))  # Saturday, a make-up working day before 春节 2026
    assert await chat.text("wang", "签到") == "✅ 上班签到成功 08:00，按时。"
    assert [r.day.isoformat() for r in await checkins(app)] == ["2026-02-14"]


async def test_branch_without_daily_check_in(app, chat):
    reply = await chat.text("liu", "签到", chat="wr-school")
    assert reply == "现在没有正在签到的活动，本支部也未开启每日上下班签到。"
    assert await chat.text("liu", "签退", chat="wr-school") == "本支部未开启每日上下班签到。"
    assert await checkins(app) == []


async def test_per_branch_window_override(tmp_path, clock, roster_file):
    from bot.app import App
    from handlers.roster import import_roster
    from storage.migrate import upgrade
    from tests.conftest import BUREAU, Chat, make_settings

    settings = make_settings(
        tmp_path,
        branches=[
            {
                "name": BUREAU,
                "daily_checkin": True,
                "morning": {"start": "07:30", "end": "09:00", "on_time_by": "08:00"},
            }
        ],
    )
    application = App(settings, clock=clock)
    await upgrade(application.db)
    await import_roster(application.db, roster_file, clock.now())
    await application.initialize()
    try:
        reply = await Chat(application, clock).text("wang", "签到")
        assert reply == "⚠️ 上班签到成功 08:10，迟到（应在 08:00 前）。"
    finally:
        await application.shutdown()
