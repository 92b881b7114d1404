"""Study deadlines, monthly summaries with the 组织生活 warning, and the handlers' Pusher."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.messages import Reply
from storage import events, outbox, study
from storage.models import AttendanceStatus, Member
from tests.conftest import BUREAU, SCHOOL, at, branch_id, member_id
from tests.recording_transport import RecordingTransport


def recorder(app: App) -> RecordingTransport:
    t = RecordingTransport()
    app.transports["wecom"] = t
    return t


async def test_study_deadline_mentions_only_who_has_not_confirmed(
    app: App, clock: FakeClock, chat
) -> None:
    sent = recorder(app)
    async with app.db.write() as s:
        task = await study.create_task(
            s, "党章第一章", "", None, date(2026, 12, 9), None, created_at=clock.now()
        )
    clock.set(at("2026-12-07 10:00"))
    await app.reminders.tick()
    for who in ("zhou", "li", "wang", "chen"):
        await chat.text(who, f"学习 {task.id}")
    clock.set(at("2026-12-08 17:00"))  # the day before the due date
    await app.reminders.tick()
    await app.reminders.tick()
    deadline = [s for s in sent.sent if "学习提醒" in s.text]
    [bureau] = [s for s in deadline if s.to == "wr-bureau"]
    assert bureau.text.startswith("📚 学习提醒：明天截止\n《党章第一章》")
    # Not 钱群众: a 群众, and the task is for Party members.
    assert "还未确认（1 人）：\n孙预备\n" in bureau.text
    assert bureau.mentions == ("sun",)
    [school] = [s for s in deadline if s.to == "wr-school"]
    # 新同志 has no WeCom account: named, but not @-mentioned.
    assert school.mentions == ("liu",) and "刘老师、新同志" in school.text


async def test_study_deadline_is_skipped_when_everyone_confirmed(
    app: App, clock: FakeClock, chat
) -> None:
    sent = recorder(app)
    bureau = await branch_id(app, BUREAU)
    async with app.db.write() as s:
        task = await study.create_task(
            s, "廉洁文化读本", "", bureau, date(2026, 12, 9), None, created_at=clock.now()
        )
    for who in ("zhou", "li", "wang", "sun", "qian"):
        await chat.text(who, f"学习 {task.id}")
    clock.set(at("2026-12-08 17:00"))
    report = await app.reminders.tick()
    assert report.skipped == 1 and not [s for s in sent.sent if "学习提醒" in s.text]


async def test_monthly_summary_goes_to_each_secretary_with_the_absence_warning(
    app: App, clock: FakeClock
) -> None:
    sent = recorder(app)
    bureau = await branch_id(app, BUREAU)
    wang = await member_id(app, "王党员")
    async with app.db.write() as s:  # on the roster since summer; 孙预备 since mid-October
        await s.exec(sa.update(Member).values(created_at=at("2026-08-01 09:00")))
        joined = at("2026-10-15 09:00")
        await s.exec(sa.update(Member).where(Member.name == "孙预备").values(created_at=joined))
    async with app.db.write() as s:  # three months of events; only 王党员 ever came
        for month in (9, 10, 11):
            ev = await events.create_event(
                s, bureau, "主题党日", at(f"2026-{month:02d}-10 15:00"), "党员活动室"
            )
            assert ev.id is not None
            await events.set_attendance(
                s, ev.id, wang, AttendanceStatus.PRESENT.value, at(f"2026-{month:02d}-10 15:01")
            )
    clock.set(at("2026-11-30 12:00"))
    await app.reminders.tick()
    clock.set(at("2026-12-01 09:00"))  # the first working day, 09:00
    await app.reminders.tick()
    [to_li] = sent.to("li")
    assert to_li.startswith("📊 县教育局机关党支部 · 上月\n2026-11-01 ~ 2026-11-30")
    assert "组织生活出勤 25%（1/4）" in to_li  # the summaries' own figures
    assert "⚠️ 组织生活预警" in to_li and "连续 3 个月" in to_li
    warning = to_li.split("预警")[1]
    assert "周管理、李书记\n" in warning  # not 王党员 (came), not 孙预备 (not 3 months yet)
    [to_chen] = sent.to("chen")
    assert "县第一中学党支部" in to_chen and "预警" not in to_chen  # no events: no warning


async def test_pusher_queues_for_the_branch_groups_in_the_callers_transaction(
    app: App, clock: FakeClock
) -> None:
    sent = recorder(app)
    school = await branch_id(app, SCHOOL)
    async with app.db.write() as s:
        n = await app.services.pusher.to_branch_groups(
            s, school, "study_task", "study:99:publish", Reply("📚 新学习任务")
        )
        n_again = await app.services.pusher.to_branch_groups(
            s, school, "study_task", "study:99:publish", Reply("📚 新学习任务")
        )
    assert n == n_again == 1
    try:
        async with app.db.write() as s:
            await app.services.pusher.to_branch_groups(s, None, "x", "rolled-back", Reply("x"))
            raise RuntimeError("the handler failed")
    except RuntimeError:
        pass
    await app.reminders.worker.run_due()
    assert [(x.to, x.text) for x in sent.sent] == [("wr-school", "📚 新学习任务")]
    async with app.db.read() as s:
        assert [r.key for r in await outbox.rows_by_kind(s)] == ["study:99:publish:g2"]
    clock.advance(timedelta(hours=1))
    assert (await app.reminders.worker.run_due()).sent == 0
