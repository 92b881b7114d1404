"""组织生活会 and 民主评议: planned once a year in the window, their meeting flow, 安排 as a
yearly kind, `qingfeng calendar`, and the admins' list at the window's end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.clock import FakeClock
from bot.config import ConfigError, load_settings
from schedules import rules
from schedules.holidays import HolidayCalendar
from storage.models import Event
from tests.conftest import BUREAU, SCHOOL, at, branch_id, make_settings, started_app
from tests.recording_transport import RecordingTransport
from tests.test_schedules_calendar import run_cli

ORG, APPRAISAL = "组织生活会", "民主评议"
ORDER = "应为 [起始月, 结束月]，1–12 且起始不晚于结束，如 [1, 2]"


def yearly(settings: Any, branch: str, year: int) -> dict[str, datetime]:
    """The branch's yearly meetings in `year`, by kind, from the month-by-month rules."""
    cal = HolidayCalendar(settings.calendar.overrides)
    out: dict[str, datetime] = {}
    for month in range(1, 13):
        for ev, _ in rules.held_meetings(settings, branch, rules.BranchShape(), year, month, cal):
            if ev.kind in (ORG, APPRAISAL):
                assert ev.kind not in out, "once a year"
                assert cal.is_workday(ev.starts.date()), ev
                assert ev.starts.month == month and ev.period == str(year)
                out[ev.kind] = ev.starts
    return out


def local(text: str) -> datetime:
    return at(text)


# ---- the rules ----------------------------------------------------------------------------


def test_default_window_plans_both_in_february_on_working_days() -> None:
    s = load_settings(None, env={})
    # 2027: the window's last month's 3rd Tuesday, 14:30; the 评议 the next working day.
    assert yearly(s, "甲", 2027) == {
        ORG: local("2027-02-16 14:30"),
        APPRAISAL: local("2027-02-17 14:30"),
    }
    # 2026: 02-17 is 春节 (rest 02-15 to 02-23): both move to the week after.
    assert yearly(s, "甲", 2026) == {
        ORG: local("2026-02-24 14:30"),
        APPRAISAL: local("2026-02-25 14:30"),
    }
    # The 三会一课 of February are unchanged by them.
    feb = {e.kind for e in rules.branch_events(s, "甲", 2027, 2, HolidayCalendar())}
    assert ORG not in feb and APPRAISAL not in feb


def test_the_window_is_settable_and_vacations_move_them_within_it() -> None:
    january = load_settings(None, env={}, meetings={"yearly_window": [1, 1]})
    assert yearly(january, "甲", 2027) == {
        ORG: local("2027-01-19 14:30"),
        APPRAISAL: local("2027-01-20 14:30"),
    }
    # A 寒假 from 01-11 leaves only the first week: the 组织生活会 falls back to the last
    # working day before it, and the 评议 follows it the same afternoon.
    winter = load_settings(
        None,
        env={},
        meetings={"yearly_window": [1, 1]},
        branches=[{"name": "一中", "vacations": [{"from": "2027-01-11", "to": "2027-02-20"}]}],
    )
    assert yearly(winter, "一中", 2027) == {
        ORG: local("2027-01-08 14:30"),
        APPRAISAL: local("2027-01-08 16:30"),
    }
    assert yearly(winter, "甲", 2027)[ORG] == local("2027-01-19 14:30")  # other branches keep it
    # A window wholly inside a vacation: neither is planned that year.
    closed = load_settings(
        None,
        env={},
        branches=[{"name": "一中", "vacations": [{"from": "2027-01-01", "to": "2027-02-28"}]}],
    )
    assert yearly(closed, "一中", 2027) == {}


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            [3, 1],
            "配置项 meetings.yearly_window: " + ORDER,
        ),
        (
            [0, 2],
            "配置项 meetings.yearly_window: " + ORDER,
        ),
        ([1, 2, 3], "配置项 meetings.yearly_window: 列表项太多"),
        ("1-2", "配置项 meetings.yearly_window: 应为列表 [...]"),
    ],
)
def test_a_bad_window_is_refused_in_one_line(window: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={}, meetings={"yearly_window": window})
    assert str(err.value) == f"配置错误：{message}"


def test_calendar_cli_lists_them_with_their_pushes(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "calendar", "2027", "--branch", BUREAU).splitlines()
    for line in (
        f"2027-02-16 周二 14:00  {ORG}开始签到  → {BUREAU}的群  [估算]",
        f"2027-02-16 周二 15:30  {ORG}缺席名单  → {BUREAU}书记  [估算]",
        f"2027-02-17 周三 08:00  {APPRAISAL}当日提醒  → {BUREAU}的群  [估算]",
    ):
        assert line in out, "\n".join(x for x in out if "2027-02" in x)
    # The admins' list at the window's end (its last working day, 17:00).
    check = f"2027-02-26 周五 17:00  {ORG}、{APPRAISAL}未召开支部名单（都已召开则不发）"
    assert f"{check}  → 管理员（私信）  [估算]" in out
    assert not [x for x in out if ORG in x and not x.startswith(("2027-02-1", check))]


# ---- through the planner and the chat ------------------------------------------------------


def recorder(app: App) -> RecordingTransport:
    t = RecordingTransport()
    app.transports["wecom"] = t
    return t


async def tick_at(app: App, clock: FakeClock, when: str) -> None:
    clock.set(at(when))
    await app.reminders.tick()


async def yearly_events(app: App, branch: str) -> list[Event]:
    bid = await branch_id(app, branch)
    async with app.db.read() as s:
        stmt = (
            select(Event)
            .where(Event.branch_id == bid, col(Event.kind).in_([ORG, APPRAISAL]))
            .order_by(col(Event.starts_at))
        )
        return list((await s.exec(stmt)).all())


async def test_preview_sign_in_and_absentees_work_as_for_other_meetings(
    app: App, clock: FakeClock, chat
) -> None:
    sent = recorder(app)
    await tick_at(app, clock, "2027-01-04 09:00")  # January's pass plans February too
    org, appraisal = await yearly_events(app, BUREAU)
    assert (org.kind, appraisal.kind) == (ORG, APPRAISAL)
    assert org.rule_key is not None and org.rule_key.endswith(":2027")
    preview = rules.preview_day(date(2027, 2, 16), app.calendar)
    await tick_at(app, clock, f"{preview} 09:00")
    [text] = [t for t in sent.to("wr-bureau") if t.startswith(f"📅 {ORG}预告")]
    assert f"（#{org.number}）" in text and "2月16日" in text and "14:30" in text
    await tick_at(app, clock, "2027-02-16 08:00")
    assert f"🔔 今天 14:30 {ORG}\n{BUREAU}\n地点：党员活动室" in sent.to("wr-bureau")[-1]
    clock.set(at("2027-02-16 14:20"))
    reply = await chat.text("wang", "签到")
    assert reply.startswith(f"✅ 签到成功：{ORG}（2月16日(周二) 14:30）")
    clock.set(at("2027-02-16 14:50"))
    assert "迟到" in await chat.text("li", "签到")
    await tick_at(app, clock, "2027-02-16 15:30")
    [absent] = [t for t in sent.to("li") if t.startswith(f"📋 {ORG}签到结束")]
    # 党员 and 预备党员 are expected, as at a 党员大会; 群众 never.
    assert "孙预备" in absent and "周管理" in absent and "钱群众" not in absent
    assert "王党员" not in absent and "李书记" not in absent


async def test_arrange_moves_the_rule_meeting_within_the_year(
    app: App, clock: FakeClock, chat
) -> None:
    reply = await chat.text("li", f"安排 {ORG} 2027-01-12 15:00 党员活动室")
    assert reply.startswith(f"✅ 已安排：{ORG} #")
    await tick_at(app, clock, "2027-01-04 09:00")  # plans February: not a second one
    assert [e.kind for e in await yearly_events(app, BUREAU)] == [ORG, APPRAISAL]
    org = (await yearly_events(app, BUREAU))[0]
    assert org.starts_at.astimezone(at("2027-01-12 15:00").tzinfo) == at("2027-01-12 15:00")
    # The school's are the rule's; arranging its 评议 in March moves that one (same number).
    [_, school_appraisal] = await yearly_events(app, SCHOOL)
    reply = await chat.text("chen", f"安排 {APPRAISAL} 2027-03-02 15:00", chat="wr-school")
    assert reply.startswith(f"✅ 已改期：{APPRAISAL} #{school_appraisal.number}")
    assert len(await yearly_events(app, SCHOOL)) == 2


# ---- the admins' list --------------------------------------------------------------------


async def sign_in(chat, who: str, when: str, group: str = "wr-bureau") -> None:
    chat.clock.set(at(when))
    reply = await chat.text(who, "签到", chat=group)
    assert reply.startswith("✅ 签到成功"), reply


def lists(sent: RecordingTransport, who: str) -> list[str]:
    return [t for t in sent.to(who) if t.startswith("📋 2027年组织生活会和民主评议党员")]


async def test_admin_gets_the_branches_that_did_not_hold_them_at_the_windows_end(
    app: App, clock: FakeClock, chat
) -> None:
    sent = recorder(app)
    await tick_at(app, clock, "2027-01-04 09:00")
    await sign_in(chat, "wang", "2027-02-16 14:20")  # 机关: 组织生活会 held
    await sign_in(chat, "li", "2027-02-17 14:20")  # 机关: 民主评议 held
    await sign_in(chat, "liu", "2027-02-16 14:25", "wr-school")  # 一中: 组织生活会 only
    end = app.calendar.workday_on_or_before(date(2027, 2, 28))
    assert end == date(2027, 2, 26)
    await tick_at(app, clock, f"{end} 16:59")
    assert lists(sent, "zhou") == []
    await tick_at(app, clock, f"{end} 17:00")
    await app.reminders.tick()  # once only
    assert lists(sent, "zhou") == [
        "📋 2027年组织生活会和民主评议党员（1月–2月）\n"
        "截至2月28日，尚未召开（无人签到）的支部：\n"
        f"{ORG}：各支部均已召开\n"
        f"{APPRAISAL}（1 个）：{SCHOOL}\n"
        "请督促以上支部尽快召开，书记可发「安排 组织生活会 日期 时间」安排。"
    ]
    # Only to the county's admins, privately.
    assert not [s for s in sent.sent if "民主评议党员（" in s.text and s.to != "zhou"]


@pytest.fixture
async def january_app(
    tmp_path: Path, clock: FakeClock, roster_file: Path, postgres_url: str | None
) -> AsyncIterator[App]:
    overrides: dict[str, Any] = {"meetings": {"yearly_window": [1, 1]}}
    if postgres_url:
        overrides["database"] = {"url": postgres_url}
    async with started_app(
        make_settings(tmp_path, **overrides), clock, roster_file, bool(postgres_url)
    ) as application:
        yield application


async def test_a_january_window_lists_both_kinds_and_nothing_when_all_held(
    january_app: App, clock: FakeClock
) -> None:
    app = january_app
    sent = recorder(app)
    await tick_at(app, clock, "2026-12-28 09:00")
    assert [e.starts_at.astimezone(at("2027-01-19 14:30").tzinfo).time() for e in
            await yearly_events(app, BUREAU)] == [time(14, 30), time(14, 30)]  # fmt: skip
    await tick_at(app, clock, "2027-01-29 17:00")
    [text] = lists(sent, "zhou")
    assert text.startswith("📋 2027年组织生活会和民主评议党员（1月）\n截至1月31日")
    assert f"{ORG}（2 个）：{BUREAU}、{SCHOOL}\n" in text
    assert f"{APPRAISAL}（2 个）：{BUREAU}、{SCHOOL}\n" in text


async def test_nothing_is_sent_when_every_branch_held_both(
    app: App, clock: FakeClock, chat
) -> None:
    sent = recorder(app)
    await tick_at(app, clock, "2027-01-04 09:00")
    await sign_in(chat, "wang", "2027-02-16 14:20")
    await sign_in(chat, "liu", "2027-02-16 14:20", "wr-school")
    await sign_in(chat, "wang", "2027-02-17 14:20")
    await sign_in(chat, "liu", "2027-02-17 14:20", "wr-school")
    clock.set(at("2027-02-26 17:00"))
    report = await app.reminders.tick()
    assert lists(sent, "zhou") == [] and report.skipped >= 1
