"""我的: one's own record, and the 期间 words."""

from __future__ import annotations

from datetime import date

import pytest

from handlers.periods import PeriodError, parse_period
from storage import events, study
from tests.conftest import SCHOOL, at, branch_id, member_id

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("", "2026-12-01", "2026-12-31"),
        ("本月", "2026-12-01", "2026-12-31"),
        ("今天", "2026-12-01", "2026-12-01"),
        ("本周", "2026-11-30", "2026-12-06"),
        ("上周", "2026-11-23", "2026-11-29"),
        ("上月", "2026-11-01", "2026-11-30"),
        ("本季度", "2026-10-01", "2026-12-31"),
        ("上季度", "2026-07-01", "2026-09-30"),
        ("本年", "2026-01-01", "2026-12-31"),
        ("2026-02", "2026-02-01", "2026-02-28"),
        ("2026-05-01~2026-05-31", "2026-05-01", "2026-05-31"),
        ("2026-05-01～2026-05-03", "2026-05-01", "2026-05-03"),
    ],
)
def test_period_words(text, first, last):
    p = parse_period(text, TODAY)
    assert (p.first.isoformat(), p.last.isoformat()) == (first, last)


def test_last_quarter_in_january_is_previous_year():
    p = parse_period("上季度", date(2027, 1, 15))
    assert (p.first, p.last) == (date(2026, 10, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    "text", ["明年", "2026-13", "2026-05-31~2026-05-01", "2026-02-30~2026-03-01"]
)
def test_bad_periods_are_refused(text):
    with pytest.raises(PeriodError):
        parse_period(text, TODAY)


async def test_my_record_counts_check_ins_events_and_study(app, chat, clock):
    # Two working days of check-ins: Tue on time + evening, Wed late.
    await chat.text("wang", "签到")
    clock.set(at("2026-12-01 17:00"))
    await chat.text("wang", "签退")
    clock.set(at("2026-12-02 08:40"))
    await chat.text("wang", "签到")
    async with app.db.write() as s:
        bureau = await branch_id(app, "县教育局机关党支部")
        await events.create_event(s, bureau, "支委会", at("2026-12-02 10:00"))
        await events.create_event(s, bureau, "党课", at("2026-12-02 14:00"))
        await events.create_event(s, bureau, "党员大会", at("2026-12-20 14:00"))  # not yet held
        t1 = await study.create_task(s, "甲", "", None, None, None, created_at=clock.now())
        await study.create_task(s, "乙", "", None, None, None, created_at=clock.now())
    clock.set(at("2026-12-02 09:50"))
    await chat.text("wang", "签到")  # 支委会 on time
    await chat.text("wang", f"学习 {t1.id}")
    clock.set(at("2026-12-03 08:00"))
    reply = await chat.text("wang", "我的")
    # Due slots so far: Dec 1 am+pm, Dec 2 am+pm = 4; recorded 3 -> 1 missing.
    assert reply == (
        "📋 王党员 · 本月\n2026-12-01 ~ 2026-12-31\n"
        "日常签到：按时 2，迟到 1，缺 1\n"
        "组织生活：出席 1，迟到 0，请假 0，缺席 1\n"
        "学习：已学 1，逾期 0，未学 1"
    )


async def test_my_record_without_daily_check_in_and_bad_period(app, chat):
    liu = await member_id(app, "刘老师")
    assert liu
    reply = await chat.text("liu", "我的记录 上月", chat="wr-school")
    assert reply == (
        "📋 刘老师 · 上月\n2026-11-01 ~ 2026-11-30\n"
        "组织生活：出席 0，迟到 0，请假 0，缺席 0\n"
        "学习：已学 0，逾期 0，未学 0"
    )
    assert (await chat.text("liu", "我的 明年")).endswith("用法：我的 [期间]")
    assert await branch_id(app, SCHOOL)
