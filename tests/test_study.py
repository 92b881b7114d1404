"""学习 and 学习任务."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from storage import study
from storage.models import StudyConfirmation
from tests.conftest import SCHOOL, at, branch_id


async def add_task(app, title: str, due: date | None = None, branch: str | None = None) -> int:
    async with app.db.write() as s:
        bid = await branch_id(app, branch) if branch else None
        now = app.clock.now()
        task = await study.create_task(
            s, title, "https://example.org/a", bid, due, None, created_at=now
        )
    assert task.id is not None
    return task.id


async def confirmations(app) -> list[tuple[int, bool]]:
    async with app.db.read() as s:
        rows = (await s.exec(select(StudyConfirmation).order_by(StudyConfirmation.id))).all()
    return [(r.task_id, r.late) for r in rows]


async def test_no_tasks(chat):
    assert await chat.text("wang", "学习") == "目前没有待学习的任务。"
    assert await chat.text("wang", "学习任务") == "目前没有待学习的任务。"


async def test_confirm_newest_open_task_without_number(app, chat):
    first = await add_task(app, "二十大报告", date(2026, 12, 10))
    second = await add_task(app, "纪律处分条例")
    assert await chat.text("wang", "学习") == f"✅ 已确认学习 #{second}《纪律处分条例》"
    assert await chat.text("wang", "已学") == f"✅ 已确认学习 #{first}《二十大报告》"
    assert await chat.text("wang", "学习") == "👍 您已完成全部学习任务。"
    assert await confirmations(app) == [(second, False), (first, False)]


async def test_confirm_by_number_once(app, chat):
    task = await add_task(app, "《廉洁从教》")
    assert await chat.text("wang", f"学习 {task}") == f"✅ 已确认学习 #{task}《廉洁从教》"
    assert await chat.text("wang", f"已学习 #{task}") == (
        f"您已于 12月1日(周二) 确认学习 #{task}《廉洁从教》。"
    )
    assert len(await confirmations(app)) == 1


async def test_confirmation_after_due_date_is_late(app, chat, clock):
    task = await add_task(app, "二十大报告", date(2026, 11, 30))
    assert await chat.text("wang", "学习") == "目前没有待学习的任务。"  # past due: not open
    reply = await chat.text("wang", f"学习 {task}")
    assert reply == (
        f"✅ 已确认学习 #{task}《二十大报告》\n已过截止日期 11月30日(周一)，记为逾期。"
    )
    assert await confirmations(app) == [(task, True)]


async def test_due_date_itself_is_on_time(app, chat, clock):
    task = await add_task(app, "二十大报告", date(2026, 12, 1))
    clock.set(at("2026-12-01 23:59"))
    assert await chat.text("wang", "学习") == f"✅ 已确认学习 #{task}《二十大报告》"
    assert await confirmations(app) == [(task, False)]


async def test_other_branch_task_is_not_visible(app, chat):
    task = await add_task(app, "一中校本学习", branch=SCHOOL)
    assert await chat.text("wang", f"学习 {task}") == (
        f"没有编号为 {task} 的学习任务。发送「学习任务」查看。"
    )
    assert (
        await chat.text("wang", "学习 999") == "没有编号为 999 的学习任务。发送「学习任务」查看。"
    )
    assert await confirmations(app) == []


async def test_task_list_shows_own_status(app, chat):
    a = await add_task(app, "二十大报告", date(2026, 12, 10))
    b = await add_task(app, "一中校本学习", branch=SCHOOL)
    await chat.text("liu", f"学习 {a}")
    reply = await chat.text("liu", "任务", chat="wr-school")
    assert reply == (
        "📚 学习任务\n"
        f"⬜ 未学 #{b}《一中校本学习》\n  https://example.org/a\n"
        f"✅ 已学 #{a}《二十大报告》\n  截止 12月10日(周四)\n  https://example.org/a\n"
        "学完发送「学习 编号」确认。"
    )
