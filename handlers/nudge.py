"""未学习, 催学 and 发布学习: study tasks from the secretary's side; the @-mention
mechanics 催承诺 (handlers.pledges) shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.context import Context
from bot.messages import Mention, Reply
from bot.router import Command
from handlers import text
from handlers.args import parse_published, parse_task_number
from handlers.study import _title, for_everyone
from handlers.summary import Refusal, Scope, name_lines, paragraphs, resolve_scope
from storage import accounting, members, study
from storage.models import Role, StudyAudience, StudyTask


async def _task_and_scope(ctx: Context, number: int | None) -> tuple[StudyTask, Scope]:
    """The task asked for and the branches to report on; raise Refusal otherwise."""
    scope = await resolve_scope(ctx, group_first=True)
    s = ctx.session
    one = None if scope.county else scope.branches[0].id
    if number is None:
        task = await study.newest_task(s, one)
        if task is None:
            raise Refusal("还没有学习任务。")
    else:
        found = (
            await study.task_for_branch(s, number, one) if one else await s.get(StudyTask, number)
        )
        if found is None:
            # A secretary never learns whether another branch has such a task.
            raise Refusal(f"没有编号为 {number} 的学习任务。")
        task = found
    if scope.county and task.branch_id is not None:
        branch = await members.branch_by_id(s, task.branch_id)
        assert branch is not None
        scope = Scope((branch,), county=False)
    return task, scope


async def not_studied(ctx: Context, number: int | None) -> Reply:
    try:
        task, scope = await _task_and_scope(ctx, number)
    except Refusal as exc:
        return Reply(str(exc))
    assert task.id is not None
    ids = scope.branch_ids or [b.id for b in scope.branches if b.id is not None]
    roll = await accounting.study_roll(ctx.session, task, ids, ctx.services.clock.tz)
    rows = roll.missing
    names = {b.id: b.name for b in scope.branches}
    who = "全体人员" if for_everyone(task) else "党员"
    lines = [
        f"📚 {_title(task)}",
        f"{scope.label}（{who}）：已学 {len(roll.done)} 人，未学 {len(rows)} 人",
    ]
    if task.due:
        lines.append(f"截止 {text.day(task.due)}")
    parts = ["\n".join(lines)]
    if rows:
        parts.extend(paragraphs("未学：", name_lines(rows, names, len(scope.branches) > 1)))
    return Reply("\n\n".join(parts))


def outside_own_group(ctx: Context, word: str, missing: str) -> Reply | None:
    """The refusal when `word` (催学, 催承诺) is not sent in a branch group the sender may
    nudge: a secretary their own, the admin any. `missing`: 未学, 未承诺."""
    if ctx.msg.chat_type != "group" or ctx.group is None or ctx.group.branch_id is None:
        return Reply(f"请在本支部的群里发送「{word}」，我会在群里提醒{missing}的同志。")
    if ctx.role is Role.SECRETARY and ctx.group.branch_id != ctx.require_member().branch_id:
        return Reply(f"您只能在本支部的群里{word}。")
    return None


async def mentions_of(
    ctx: Context, rows: list[tuple[int, str, int]]
) -> tuple[tuple[Mention, ...], list[str]]:
    """@-mentions on this platform for (branch id, name, member id) rows, and the names of
    those without an account here (named in the text instead)."""
    accounts = await members.accounts_for(ctx.session, [i for _, _, i in rows], ctx.msg.platform)
    mentions = tuple(Mention(accounts[i], n) for _, n, i in rows if i in accounts)
    return mentions, [n for _, n, i in rows if i not in accounts]


async def nudge(ctx: Context, number: int | None) -> Reply:
    refused = outside_own_group(ctx, "催学", "未学")
    if refused is not None:
        return refused
    assert ctx.group is not None and ctx.group.branch_id is not None
    try:
        task, _ = await _task_and_scope(ctx, number)
    except Refusal as exc:
        return Reply(str(exc))
    assert task.id is not None
    if task.branch_id is not None and task.branch_id != ctx.group.branch_id:
        return Reply(f"没有编号为 {task.id} 的学习任务。")
    roll = await accounting.study_roll(
        ctx.session, task, [ctx.group.branch_id], ctx.services.clock.tz
    )
    rows = roll.missing
    if not rows:
        return Reply(f"👍 {_title(task)}\n本支部应学的同志都已学习。")
    mentions, unreachable = await mentions_of(ctx, rows)
    lines = [f"📢 学习提醒：{_title(task)}"]
    if task.due:
        lines.append(f"截止 {text.day(task.due)}，请抓紧学习。")
    if task.link:
        lines.append(task.link)
    lines.append("学完请发送「学习 " + str(task.id) + "」确认。")
    if unreachable:
        lines.append(f"（未绑定账号、无法@：{'、'.join(unreachable)}）")
    return Reply("\n".join(lines), mentions=mentions)


@dataclass(frozen=True)
class NewTask:
    title: str
    link: str
    due: date | None
    audience: str = StudyAudience.PARTY.value


ALL_WORDS = ("全体", "全员")  # for every member on the roster, 群众 included


def parse_new_task(rest: str) -> NewTask:
    """标题 [链接] [截止 YYYY-MM-DD] [全体]: without 全体 the task is for 党员 and 预备党员."""
    title, link, due, everyone = parse_published(rest, "学习任务", ALL_WORDS)
    audience = StudyAudience.ALL if everyone else StudyAudience.PARTY
    return NewTask(title, link, due, audience.value)


async def publish(ctx: Context, args: NewTask) -> Reply:
    member = ctx.require_member()
    if args.due is not None and args.due < ctx.today:
        return Reply(f"截止日期 {text.day(args.due)} 已经过去。")
    # A secretary's task is their branch's; an admin's is the group's branch, else the county's.
    branch_id: int | None = member.branch_id
    if ctx.role is Role.ADMIN:
        branch_id = ctx.group.branch_id if ctx.group is not None else None
    task = await study.create_task(
        ctx.session,
        args.title,
        args.link,
        branch_id,
        args.due,
        member.id,
        created_at=ctx.now,
        audience=args.audience,
    )
    assert task.id is not None
    branch = await members.branch_by_id(ctx.session, branch_id) if branch_id else None
    where = branch.name if branch else "全县"
    who = "全体人员" if for_everyone(task) else "党员、预备党员"
    head = [f"📚 新学习任务 {_title(task)}", f"范围：{where} · {who}"]
    ask = f"学完请发送「学习 {task.id}」确认。"
    return await announce(
        ctx, head, task.due, task.link, ask, branch_id, "study_task", f"study-task:{task.id}"
    )


async def announce(
    ctx: Context,
    head: list[str],
    due: date | None,
    link: str,
    ask: str,
    branch_id: int | None,
    kind: str,
    key: str,
) -> Reply:
    """A published study task or pledge: its notice pushed to the branch's groups (every
    group for None), and the reply saying where it went."""
    lines = [*head, *([f"截止 {text.day(due)}"] if due else []), *([link] if link else []), ask]
    notice = "\n".join(lines)
    pusher = ctx.services.pusher
    if pusher is None:
        tail = "（推送未开启，请把本消息转发到支部群。）"
    else:
        n = await pusher.to_branch_groups(ctx.session, branch_id, kind, key, Reply(notice))
        tail = f"已推送到 {n} 个群。" if n else "（没有可推送的群，请把本消息转发到支部群。）"
    return Reply(f"✅ 已发布\n{notice}\n{tail}")


COMMANDS = [
    Command(
        name="未学习",
        role=Role.SECRETARY,
        usage="未学习 [编号]",
        summary="谁还没有确认学习（默认最新任务）",
        run=not_studied,
        parse=parse_task_number,
    ),
    Command(
        name="催学",
        role=Role.SECRETARY,
        usage="催学 [编号]",
        summary="在群里@未学习的同志",
        run=nudge,
        parse=parse_task_number,
    ),
    Command(
        name="发布学习",
        role=Role.SECRETARY,
        usage="发布学习 标题 [链接] [截止 YYYY-MM-DD] [全体]",
        summary="发布学习任务并推送到支部群（默认面向党员，加“全体”面向全体人员）",
        run=publish,
        parse=parse_new_task,
    ),
]
