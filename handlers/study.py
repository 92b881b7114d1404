"""学习 and 学习任务: members confirm the study material assigned to them."""

from __future__ import annotations

from bot.clock import as_utc
from bot.context import Context
from bot.messages import Reply
from bot.router import Command
from handlers import text
from handlers.args import parse_task_number
from storage import study
from storage.members import EXPECTED_STATUSES
from storage.models import StudyAudience, StudyTask


def _title(task: StudyTask) -> str:
    title = task.title if task.title.startswith("《") else f"《{task.title}》"
    return f"#{task.id}{title}"


def for_everyone(task: StudyTask) -> bool:
    return task.audience == StudyAudience.ALL.value


async def confirm(ctx: Context, number: int | None) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    s = ctx.session
    if number is None:
        tasks = await study.open_tasks(s, member.branch_id, ctx.today, member.status)
        done = await study.confirmed_task_ids(s, member.id, [t.id for t in tasks if t.id])
        pending = [t for t in tasks if t.id not in done]
        if not tasks:
            return Reply("目前没有待学习的任务。")
        if not pending:
            return Reply("👍 您已完成全部学习任务。")
        task = pending[0]
    else:
        found = await study.task_for_branch(s, number, member.branch_id)
        if found is None:
            return Reply(f"没有编号为 {number} 的学习任务。发送「学习任务」查看。")
        if member.status not in EXPECTED_STATUSES and not for_everyone(found):
            return Reply(f"{_title(found)} 是党员学习任务，您无需确认。")
        task = found
    assert task.id is not None
    prior = await study.confirmation_of(s, task.id, member.id)
    if prior is not None:
        at = as_utc(prior.at).astimezone(ctx.services.clock.tz)
        return Reply(f"您已于 {text.day(at.date())} 确认学习 {_title(task)}。")
    late = task.due is not None and ctx.today > task.due
    await study.confirm(s, task.id, member.id, ctx.now, late)
    if late:
        assert task.due is not None
        return Reply(f"✅ 已确认学习 {_title(task)}\n已过截止日期 {text.day(task.due)}，记为逾期。")
    return Reply(f"✅ 已确认学习 {_title(task)}")


async def list_tasks(ctx: Context, _: str) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    tasks = await study.open_tasks(ctx.session, member.branch_id, ctx.today, member.status)
    if not tasks:
        return Reply("目前没有待学习的任务。")
    done = await study.confirmed_task_ids(ctx.session, member.id, [t.id for t in tasks if t.id])
    lines = ["📚 学习任务"]
    for t in tasks:
        mark = "✅ 已学" if t.id in done else "⬜ 未学"
        line = f"{mark} {_title(t)}"
        if t.due:
            line += f"\n  截止 {text.day(t.due)}"
        if t.link:
            line += f"\n  {t.link}"
        lines.append(line)
    lines.append("学完发送「学习 编号」确认。")
    return Reply("\n".join(lines))


COMMANDS = [
    Command(
        name="学习",
        aliases=("已学", "已学习"),
        usage="学习 [编号]",
        summary="确认已学习（不写编号为最新任务）",
        run=confirm,
        parse=parse_task_number,
    ),
    Command(
        name="学习任务",
        aliases=("任务",),
        usage="学习任务",
        summary="查看学习任务和完成情况",
        run=list_tasks,
    ),
]
