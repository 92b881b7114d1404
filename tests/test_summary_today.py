"""A period that reaches today counts only the check-in slots that have already closed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from storage.models import Member
from tests.conftest import at


async def backdate(app) -> None:
    async with app.db.write() as s:
        await s.exec(update(Member).values(created_at=datetime(2026, 10, 1, tzinfo=UTC)))  # type: ignore[call-overload]


async def test_open_slot_is_not_missing_yet(app, chat, clock):
    await backdate(app)
    await chat.say("wang", "签到")  # 08:10, on time
    reply = await chat.text("li", "汇总 今天")
    assert "日常签到 —（0/0）" in reply
    assert "王党员 按时1 迟到0 缺0" in reply
    assert "周管理 按时0 迟到0 缺0" in reply


async def test_closed_morning_slot_counts(app, chat, clock):
    await backdate(app)
    await chat.say("wang", "签到")
    clock.set(at("2026-12-01 10:00"))
    reply = await chat.text("li", "汇总 本月")
    assert "日常签到 20%（1/5）" in reply
    assert "王党员 按时1 迟到0 缺0" in reply
    assert "孙预备 按时0 迟到0 缺1" in reply
    clock.set(at("2026-12-01 17:00"))
    await chat.say("wang", "签退")
    reply = await chat.text("li", "汇总 本月")
    # The evening slot is open until 20:00: 王's sign-out counts, nobody misses it yet.
    assert "王党员 按时2 迟到0 缺0" in reply and "日常签到 20%（1/5）" in reply
    clock.set(at("2026-12-01 20:30"))
    reply = await chat.text("li", "汇总 本月")
    assert "日常签到 20%（2/10）" in reply
    assert "孙预备 按时0 迟到0 缺2" in reply


async def test_member_who_joined_mid_period_owes_only_later_slots(app, chat, clock):
    await backdate(app)
    async with app.db.write() as s:
        await s.exec(
            update(Member)
            .where(Member.name == "孙预备")
            .values(created_at=datetime(2026, 11, 27, 2, 0, tzinfo=UTC))  # 11-27 10:00 local
        )  # type: ignore[call-overload]
    reply = await chat.text("li", "汇总 上月")
    # November 27 and 30 remain, less the morning of the 27th, which closed at 09:30,
    # before 孙 joined: 3 slots.
    assert "孙预备 按时0 迟到0 缺3" in reply
    assert "王党员 按时0 迟到0 缺42" in reply


async def test_a_summary_as_of_a_past_moment_counts_no_later_check_in(app, chat, clock):
    """`qingfeng summary --at` asks about a moment already past: check-ins dated after it
    are in the database but not done by then (孙 owes the 1st's morning either way)."""
    await backdate(app)
    await chat.say("wang", "签到")  # 12-01 08:10
    for day in ("2026-12-02", "2026-12-03"):
        clock.set(at(f"{day} 08:10"))
        await chat.say("sun", "签到")
    clock.set(at("2026-12-01 10:00"))
    reply = await chat.text("li", "汇总 本月")
    assert "日常签到 20%（1/5）" in reply
    assert "孙预备 按时2 迟到0 缺1" in reply  # 按时 shows every check-in recorded
    assert "王党员 按时1 迟到0 缺0" in reply
