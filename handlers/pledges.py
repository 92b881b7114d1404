"""廉洁承诺: 发布承诺, 承诺, 未承诺, 催承诺, and the 廉洁承诺 sheet of the export.

The teachers' 廉洁自律承诺 is for every member on the roster, 群众 included (they teach
too); it is counted beside study (storage.accounting) but never in study's figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import as_utc
from bot.context import Context, Services
from bot.messages import Reply
from bot.router import Command
from handlers import accounting, text
from handlers.args import parse_published, parse_task_number
from handlers.nudge import announce, mentions_of, outside_own_group
from handlers.periods import Period
from handlers.summary import Refusal, Scope, name_lines, paragraphs, resolve_scope
from storage import accounting as ledger
from storage import members, pledges
from storage.accounting import task_cutoff
from storage.models import Pledge, Role
from storage.xlsx_sheet import DATE, DATETIME, Sheet

WHO = "全体人员（党员、预备党员和群众）"


def title_of(pledge: Pledge) -> str:
    title = pledge.title if pledge.title.startswith("《") else f"《{pledge.title}》"
    return f"#{pledge.id}{title}"


async def confirm(ctx: Context, number: int | None) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    s = ctx.session
    if number is None:
        # The newest open pledge the member owes; else the newest overdue one (it counts
        # as 未承诺 in 我的 and 未承诺 until confirmed, late).
        tz = ctx.services.clock.tz
        found = [
            p
            for p in await pledges.pledges_in_scope(s, member.branch_id)
            if as_utc(member.created_at) < task_cutoff(p.due, as_utc(p.created_at), tz)
        ]
        if not found:
            return Reply("目前没有待确认的廉洁承诺。")
        done = await pledges.confirmed_ids(s, member.id, [p.id for p in found if p.id])
        pending = [p for p in found if p.id not in done]
        if not pending:
            return Reply("👍 您已确认全部廉洁承诺。")
        still_open = [p for p in pending if p.due is None or p.due >= ctx.today]
        pledge = (still_open or pending)[0]
    else:
        one = await pledges.pledge_for_branch(s, number, member.branch_id)
        if one is None:
            return Reply(f"没有编号为 {number} 的廉洁承诺。")
        pledge = one
    assert pledge.id is not None
    prior = await pledges.confirmation_of(s, pledge.id, member.id)
    if prior is not None:
        at = as_utc(prior.at).astimezone(ctx.services.clock.tz)
        return Reply(f"您已于 {text.when(at)} 确认承诺 {title_of(pledge)}。")
    late = pledge.due is not None and ctx.today > pledge.due
    await pledges.confirm(s, pledge.id, member.id, ctx.now, late)
    if late:
        assert pledge.due is not None
        return Reply(
            f"✅ 已确认承诺 {title_of(pledge)}\n已过截止日期 {text.day(pledge.due)}，记为逾期。"
        )
    return Reply(f"✅ 已确认承诺 {title_of(pledge)}")


@dataclass(frozen=True)
class NewPledge:
    title: str
    link: str
    due: date | None


def parse_new_pledge(rest: str) -> NewPledge:
    """标题 [链接] [截止 YYYY-MM-DD], read as 发布学习 reads them."""
    title, link, due, _ = parse_published(rest, "承诺")
    return NewPledge(title, link, due)


async def publish(ctx: Context, args: NewPledge) -> Reply:
    member = ctx.require_member()
    if args.due is not None and args.due < ctx.today:
        return Reply(f"截止日期 {text.day(args.due)} 已经过去。")
    # The county's pledge: every branch, wherever the admin sends it from.
    pledge = await pledges.create_pledge(
        ctx.session, args.title, args.link, None, args.due, member.id, created_at=ctx.now
    )
    assert pledge.id is not None
    head = [f"🤝 廉洁自律承诺 {title_of(pledge)}", f"范围：全县 · {WHO}"]
    ask = f"请阅读后发送「承诺 {pledge.id}」确认。"
    return await announce(
        ctx, head, pledge.due, pledge.link, ask, None, "pledge", f"pledge:{pledge.id}"
    )


async def _pledge_and_scope(ctx: Context, number: int | None) -> tuple[Pledge, Scope]:
    """The pledge asked for (default: the newest) and the branches to report on; raise
    Refusal otherwise."""
    scope = await resolve_scope(ctx, group_first=True)
    s = ctx.session
    one = None if scope.county else scope.branches[0].id
    if number is None:
        found = await pledges.newest_pledge(s, one)
        if found is None:
            raise Refusal("还没有发布廉洁承诺。")
    else:
        found = (
            await pledges.pledge_for_branch(s, number, one) if one else await s.get(Pledge, number)
        )
        if found is None:
            raise Refusal(f"没有编号为 {number} 的廉洁承诺。")
    if scope.county and found.branch_id is not None:
        branch = await members.branch_by_id(s, found.branch_id)
        assert branch is not None
        scope = Scope((branch,), county=False)
    return found, scope


async def not_pledged(ctx: Context, number: int | None) -> Reply:
    try:
        pledge, scope = await _pledge_and_scope(ctx, number)
    except Refusal as exc:
        return Reply(str(exc))
    ids = scope.branch_ids or [b.id for b in scope.branches if b.id is not None]
    roll = await ledger.pledge_roll(ctx.session, pledge, ids, ctx.services.clock.tz)
    rows = roll.missing
    names = {b.id: b.name for b in scope.branches}
    lines = [
        f"🤝 {title_of(pledge)}",
        f"{scope.label}：已承诺 {len(roll.done)} 人，未承诺 {len(rows)} 人",
    ]
    if pledge.due:
        lines.append(f"截止 {text.day(pledge.due)}")
    parts = ["\n".join(lines)]
    if rows:
        parts.extend(paragraphs("未承诺：", name_lines(rows, names, len(scope.branches) > 1)))
    return Reply("\n\n".join(parts))


async def nudge(ctx: Context, number: int | None) -> Reply:
    refused = outside_own_group(ctx, "催承诺", "未承诺")
    if refused is not None:
        return refused
    assert ctx.group is not None and ctx.group.branch_id is not None
    try:
        pledge, _ = await _pledge_and_scope(ctx, number)
    except Refusal as exc:
        return Reply(str(exc))
    if pledge.branch_id is not None and pledge.branch_id != ctx.group.branch_id:
        return Reply(f"没有编号为 {pledge.id} 的廉洁承诺。")
    roll = await ledger.pledge_roll(
        ctx.session, pledge, [ctx.group.branch_id], ctx.services.clock.tz
    )
    rows = roll.missing
    if not rows:
        return Reply(f"👍 {title_of(pledge)}\n本支部的同志都已承诺。")
    mentions, unreachable = await mentions_of(ctx, rows)
    lines = [f"📢 廉洁承诺提醒：{title_of(pledge)}"]
    if pledge.due:
        lines.append(f"截止 {text.day(pledge.due)}，请抓紧确认。")
    if pledge.link:
        lines.append(pledge.link)
    lines.append(f"请阅读后发送「承诺 {pledge.id}」确认。")
    if unreachable:
        lines.append(f"（未绑定账号、无法@：{'、'.join(unreachable)}）")
    return Reply("\n".join(lines), mentions=mentions)


def status_of(confirmed_at: datetime | None, late: bool) -> str:
    if confirmed_at is None:
        return "未承诺"
    return "逾期" if late else "已承诺"


async def export_sheet(
    s: AsyncSession,
    services: Services,
    branch_ids: Sequence[int] | None,
    period: Period,
    now: datetime,
    *,
    private: bool = False,
) -> Sheet | None:
    """Each member and each pledge of the period (by the study rule's date); no sheet
    when no pledge falls in it. Nothing here is private (`private` is ignored): who has
    confirmed is what 催承诺 posts in the group anyway."""
    tz = services.clock.tz
    rows = await ledger.pledge_rows(s, branch_ids, accounting.window(services, period, now))
    if not rows:
        return None
    return Sheet(
        "廉洁承诺",
        ["编号", "承诺", "截止日期", "支部", "姓名", "情况", "确认时间"],
        [8, 30, 12, 26, 10, 8, 17],
        [
            [
                r.pledge_id,
                r.title,
                r.due,
                r.branch,
                r.name,
                status_of(r.confirmed_at, r.late),
                as_utc(r.confirmed_at).astimezone(tz).replace(tzinfo=None)
                if r.confirmed_at
                else None,
            ]
            for r in rows
        ],
        {3: DATE, 7: DATETIME},
    )


COMMANDS: list[Command] = [
    Command(
        name="承诺",
        aliases=("已承诺",),
        usage="承诺 [编号]",
        summary="确认廉洁自律承诺（全体人员，不写编号为最新一份）",
        run=confirm,
        parse=parse_task_number,
    ),
    Command(
        name="未承诺",
        role=Role.SECRETARY,
        usage="未承诺 [编号]",
        summary="谁还没有确认廉洁承诺（默认最新一份）",
        run=not_pledged,
        parse=parse_task_number,
    ),
    Command(
        name="催承诺",
        role=Role.SECRETARY,
        usage="催承诺 [编号]",
        summary="在群里@未承诺的同志",
        run=nudge,
        parse=parse_task_number,
    ),
    Command(
        name="发布承诺",
        role=Role.ADMIN,
        usage="发布承诺 标题 [链接] [截止 YYYY-MM-DD]",
        summary="发布年度廉洁自律承诺并推送到各支部群（面向全体人员）",
        run=publish,
        parse=parse_new_pledge,
    ),
]
