"""汇总, 未签到 and 导出: what a secretary (their branch) or the admin (every branch) pulls."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Context, Services
from bot.export_tokens import PRIVATE, SUMMARY, ExportGrant, export_url
from bot.messages import Reply
from bot.router import ArgError, Command
from handlers import accounting, text
from handlers.args import parse_optional_date, plain_text
from handlers.periods import Period, PeriodError, looks_like_period, parse_period
from storage import accounting as ledger
from storage import members
from storage.accounting import BranchSummary, Counts, MemberSummary, Window
from storage.models import Branch, Role

# WeCom caps a text message at 2048 UTF-8 bytes; adapters split a reply at blank lines,
# so every paragraph stays under this.
PARAGRAPH_BYTES = 2000
NAMES_PER_LINE = 8  # a phone shows about this many names on a line


@dataclass(frozen=True)
class Scope:
    """Which branches a request may see: one branch, or the whole county (branch None)."""

    branches: tuple[Branch, ...]
    county: bool

    @property
    def branch_ids(self) -> list[int] | None:
        return None if self.county else [b.id for b in self.branches if b.id is not None]

    @property
    def branch_id(self) -> int | None:
        """The one branch, or None for the county."""
        return None if self.county else self.branches[0].id

    @property
    def label(self) -> str:
        return "全县" if self.county else self.branches[0].name


@dataclass(frozen=True)
class SummaryData:
    period: Period
    window: Window
    scope: Scope
    branches: list[BranchSummary]
    members: list[MemberSummary]  # empty for the county view


class Refusal(Exception):
    """A one-line reason shown to the person as is."""


async def resolve_scope(ctx: Context, branch_name: str = "", *, group_first: bool = False) -> Scope:
    """The branches this sender may see; raise Refusal otherwise.

    A secretary sees their own branch only. An admin sees a named branch, else (with
    `group_first`) the branch of the group they speak in, else the whole county.
    """
    member = ctx.require_member()
    s = ctx.session
    own = ctx.branch or await members.branch_by_id(s, member.branch_id)
    assert own is not None
    if ctx.role is Role.SECRETARY:
        if branch_name and branch_name != own.name:
            raise Refusal(f"您只能查看本支部（{own.name}）的数据。")
        return Scope((own,), county=False)
    if branch_name:
        named = await members.branch_by_name(s, branch_name)
        if named is None:
            raise Refusal(f"没有叫“{branch_name[:30]}”的支部。")
        return Scope((named,), county=False)
    if group_first and ctx.group is not None and ctx.group.branch_id is not None:
        found = await members.branch_by_id(s, ctx.group.branch_id)
        if found is not None:
            return Scope((found,), county=False)
    return Scope(tuple(await members.all_branches(s)), county=True)


async def load_summary(
    s: AsyncSession, services: Services, scope: Scope, period: Period, now: datetime
) -> SummaryData:
    """Branch sums (ranked for the county) and, for one branch, its members' rows: both
    from the accounting rules (handlers.accounting), like 我的."""
    w = accounting.window(services, period, now)
    member_rows: list[MemberSummary] = []
    if scope.county:
        branches = await accounting.branch_figures(
            s, services, scope.branches, period, now, county=True
        )
        branches.sort(key=lambda b: (-b.score, b.branch_id))
    else:
        member_rows = await accounting.member_figures(s, services, scope.branches, period, now)
        branches = accounting.branch_sums(services, scope.branches, member_rows)
    return SummaryData(period, w, scope, branches, member_rows)


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def rates_lines(c: Counts, daily_checkin: bool) -> list[str]:
    lines = [f"组织生活出勤 {pct(c.attendance_rate)}（{c.ev_present + c.ev_late}/{c.ev_expected}）"]
    if daily_checkin:
        lines.append(f"日常签到 {pct(c.checkin_rate)}（{c.checkin_done}/{c.checkin_due or 0}）")
    lines.append(f"学习完成 {pct(c.study_rate)}（{c.st_confirmed}/{c.st_total}）")
    if c.pl_total:  # only in a period that has a 廉洁承诺; never in the ranking
        lines.append(f"廉洁承诺 {pct(c.pledge_rate)}（{c.pl_confirmed}/{c.pl_total}）")
    return lines


def paragraphs(title: str, lines: Sequence[str], limit: int = PARAGRAPH_BYTES) -> list[str]:
    """`title` and `lines` as paragraphs of at most `limit` UTF-8 bytes, title repeated."""
    out: list[str] = []
    current = [title]
    size = len(title.encode())
    for line in lines:
        n = len(line.encode()) + 1
        if size + n > limit and len(current) > 1:
            out.append("\n".join(current))
            current, size = [f"{title}（续）"], len(title.encode()) + 9
        current.append(line)
        size += n
    out.append("\n".join(current))
    return out


def summary_text(data: SummaryData) -> str:
    """The summary as phone-sized paragraphs separated by blank lines."""
    p = data.period
    head = [f"📊 {data.scope.label} · {p.label}", f"{p.first} ~ {p.last}"]
    parts: list[str] = []
    if data.scope.county:
        head.append(f"共 {len(data.branches)} 个支部，按三项平均率排名")
        parts.append("\n".join(head))
        lines = []
        for i, b in enumerate(data.branches, 1):
            c = b.counts
            ck = f" 签到{pct(c.checkin_rate)}" if b.daily_checkin else ""
            pl = f" 承诺{pct(c.pledge_rate)}" if c.pl_total else ""
            lines.append(
                f"{i}. {b.name}（{b.members}人）\n"
                f"  出勤{pct(c.attendance_rate)}{ck} 学习{pct(c.study_rate)}{pl}"
            )
        parts.extend(paragraphs("【支部排名】", lines))
        return "\n\n".join(parts)
    branch = data.branches[0] if data.branches else None
    if branch is None:
        head.append("本支部没有在册人员。")
        return "\n".join(head)
    head.extend(rates_lines(branch.counts, branch.daily_checkin))
    parts.append("\n".join(head))
    if branch.daily_checkin:
        lines = [
            f"{m.name} 按时{m.counts.checkin_on_time} 迟到{m.counts.checkin_late} "
            f"缺{m.counts.checkin_missing}"
            for m in data.members
        ]
        parts.extend(paragraphs("【日常签到】", lines))
    expected = [m for m in data.members if m.counts.ev_expected]
    if expected:
        lines = [
            f"{m.name} 出席{m.counts.ev_present} 迟到{m.counts.ev_late} "
            f"请假{m.counts.ev_leave} 缺席{m.counts.ev_absent}"
            for m in expected
        ]
        parts.extend(paragraphs("【组织生活】", lines))
    else:
        parts.append("【组织生活】\n期间内没有已结束的活动。")
    with_tasks = [m for m in data.members if m.counts.st_total]
    if with_tasks:
        lines = [
            f"{m.name} 已学{m.counts.st_on_time} 逾期{m.counts.st_late} 未学{m.counts.st_missing}"
            for m in with_tasks
        ]
        parts.extend(paragraphs("【学习】", lines))
    else:
        parts.append("【学习】\n期间内没有应完成的学习任务。")
    pledged = [m for m in data.members if m.counts.pl_total]
    if pledged:  # no paragraph at all in a period without a 廉洁承诺
        lines = [
            f"{m.name} 已承诺{m.counts.pl_on_time} 逾期{m.counts.pl_late} "
            f"未承诺{m.counts.pl_missing}"
            for m in pledged
        ]
        parts.extend(paragraphs("【廉洁承诺】", lines))
    return "\n\n".join(parts)


def split_args(ctx: Context, rest: str) -> tuple[Period, str]:
    """`[期间] [支部名]` in either order; raise ArgError (PeriodError for a bad 期间)."""
    words = rest.split()
    period_words, others = [], []
    for word in words:
        try:
            parse_period(word, ctx.today)
        except PeriodError:
            if looks_like_period(word):
                raise  # a mistyped date or month, not a branch name
            others.append(word)
        else:
            period_words.append(word)
    if len(period_words) > 1:
        raise PeriodError("只能写一个期间。")
    if others and not period_words and len(others) == 1 and ctx.role is not Role.ADMIN:
        # A secretary's single unknown word is a bad 期间, not a branch name.
        parse_period(others[0], ctx.today)
    branch_name = plain_text(" ".join(others), "支部名称", 100)
    return parse_period(period_words[0] if period_words else "", ctx.today), branch_name


async def _period_and_scope(ctx: Context, rest: str, usage: str) -> tuple[Period, Scope] | Reply:
    """The 期间 and branches asked for, or the one-line reply refusing them."""
    try:
        period, branch_name = split_args(ctx, rest)
        return period, await resolve_scope(ctx, branch_name)
    except ArgError as exc:
        return Reply(f"{exc}\n用法：{usage}")
    except Refusal as exc:
        return Reply(str(exc))


async def summarize(ctx: Context, rest: str) -> Reply:
    asked = await _period_and_scope(ctx, rest, "汇总 [期间]")
    if isinstance(asked, Reply):
        return asked
    period, scope = asked
    data = await load_summary(ctx.session, ctx.services, scope, period, ctx.now)
    body = summary_text(data)
    image = None
    if ctx.msg.platform in ("wecom", "console"):
        # Imported here: matplotlib is slow to import and only 汇总 needs it.
        from handlers.chart import summary_chart

        # Rendering takes a moment; keep it off the event loop.
        image = await asyncio.to_thread(summary_chart, data)
    elif ctx.msg.platform == "dingtalk":
        # DingTalk robots cannot post an image from bytes: give the workbook instead.
        body += "\n\n" + await export_link_text(ctx, scope, period)
    return Reply(body, image_png=image)


async def export_link_text(ctx: Context, scope: Scope, period: Period) -> str:
    settings = ctx.settings
    expires = ctx.now + timedelta(hours=settings.server.export_ttl_hours)
    # Asked for in a direct chat, the workbook also holds 谈心要点 and 评议等次; a link
    # posted in a group can be opened by every member, so that one leaves them out.
    private = ctx.msg.chat_type == "direct"
    grant = ExportGrant(scope.branch_id, period, expires, PRIVATE if private else SUMMARY)
    url = await export_url(ctx.session, settings, grant)
    until = expires.astimezone(ctx.services.clock.tz)
    note = "" if private else "；谈心要点、评议等次只在私聊发送“导出”得到的文件里"
    return f"📎 Excel 明细（{text.when(until)} 前有效{note}）：\n{url}"


async def export(ctx: Context, rest: str) -> Reply:
    asked = await _period_and_scope(ctx, rest, "导出 [期间]")
    if isinstance(asked, Reply):
        return asked
    period, scope = asked
    head = f"📤 {scope.label} · {period.label}（{period.first} ~ {period.last}）"
    return Reply(f"{head}\n{await export_link_text(ctx, scope, period)}")


async def missing_checkins(ctx: Context, asked: date | None) -> Reply:
    day = asked or ctx.today
    try:
        scope = await resolve_scope(ctx, group_first=True)
    except Refusal as exc:
        return Reply(str(exc))
    on = [b for b in scope.branches if ctx.services.checkin_of(b.name).daily]
    if not on:
        return Reply(f"{scope.label}未开启每日上下班签到。")
    if day > ctx.today:
        return Reply(f"{text.day(day)} 还没到。")
    if not ctx.services.calendar.is_workday(day):
        return Reply(f"{text.day(day)} 是休息日，无需签到。")
    names = {b.id: b.name for b in on}
    parts = [f"🕒 {scope.label} · {text.day(day)} 未签到"]
    local = ctx.local_now
    for i, (slot, _) in enumerate(accounting.SLOT_KEYS):
        # When the slot closes in each branch: who joined later does not owe it.
        closes = {
            b.id: datetime.combine(day, accounting.slot_ends(ctx.services, b.name)[i], local.tzinfo)
            for b in on
            if b.id is not None
        }
        # A slot whose window has not closed yet is reported as "so far".
        open_now = any(c > local for c in closes.values())
        rows = await ledger.missing_checkins(ctx.session, closes, day, slot)
        label = f"{slot}（截至 {text.hm(local)}）" if open_now else slot
        parts.extend(paragraphs(f"【{label}】{len(rows)} 人", name_lines(rows, names, len(on) > 1)))
    return Reply("\n\n".join(parts))


def name_lines(
    rows: Sequence[tuple[int, str, int]], names: dict[int | None, str], show_branch: bool
) -> list[str]:
    """(branch id, name, member id) rows as short lines of names, grouped by branch."""
    if not rows:
        return ["无"]
    groups: list[tuple[int, list[str]]] = []
    for branch_id, name, _ in rows:
        if not groups or groups[-1][0] != branch_id:
            groups.append((branch_id, []))
        groups[-1][1].append(name)
    out: list[str] = []
    for branch_id, people in groups:
        step = NAMES_PER_LINE
        chunks = ["、".join(people[i : i + step]) for i in range(0, len(people), step)]
        if show_branch:
            chunks[0] = f"{names.get(branch_id, '')}：{chunks[0]}"
        out.extend(chunks)
    return out


async def export_workbook(
    s: AsyncSession,
    services: Services,
    branch_id: int | None,
    period: Period,
    now: datetime,
    *,
    private: bool = False,
) -> bytes | None:
    """The .xlsx of a branch (None: every branch) for `period`; None if the branch is gone.
    `private`: asked for in a direct chat (handlers.export_sheets.year_sheets)."""
    if branch_id is None:
        scope = Scope(tuple(await members.all_branches(s)), county=True)
    else:
        branch = await members.branch_by_id(s, branch_id)
        if branch is None:
            return None
        scope = Scope((branch,), county=False)
    data = await load_summary(s, services, scope, period, now)
    member_rows = data.members or await accounting.member_figures(
        s, services, scope.branches, period, now, county=scope.county
    )
    from handlers.export_sheets import year_sheets  # it imports modules that import this one

    # openpyxl pulls in numpy and Pillow: load it when a workbook is asked for, not at start.
    from storage.export_xlsx import build_workbook

    return build_workbook(
        title=f"清风 · {scope.label} · {period.first} ~ {period.last}",
        first=period.first,
        last=period.last,
        tz=services.clock.tz,
        branches=data.branches,
        members=member_rows,
        branch_names={b.id: b.name for b in scope.branches if b.id is not None},
        attendance=await ledger.attendance_rows(s, scope.branch_ids, data.window),
        study=await ledger.study_rows(s, scope.branch_ids, data.window),
        extra=await year_sheets(s, services, scope.branch_ids, period, now, private=private),
    )


async def long_absent(
    s: AsyncSession, services: Services, branch: Branch, period: Period, now: datetime
) -> list[str]:
    """Names of the members expected at one or more meetings of `period` who came to none
    and sent no leave, and who were on the roster for all of it (the 组织生活预警)."""
    start, _ = period.bounds(services.clock.tz)
    rows = await accounting.member_figures(s, services, (branch,), period, now)
    return [
        m.name
        for m in rows
        if m.counts.ev_expected
        and m.counts.ev_absent == m.counts.ev_expected
        and m.joined_at <= start
    ]


COMMANDS = [
    Command(
        name="汇总",
        aliases=("统计",),
        role=Role.SECRETARY,
        usage="汇总 [期间]",
        summary="签到、组织生活和学习汇总（默认本月）",
        run=summarize,
    ),
    Command(
        name="未签到",
        aliases=("缺勤",),
        role=Role.SECRETARY,
        usage="未签到 [YYYY-MM-DD]",
        summary="某天谁没有上下班签到（默认今天）",
        run=missing_checkins,
        parse=parse_optional_date,
    ),
    Command(
        name="导出",
        role=Role.SECRETARY,
        usage="导出 [期间]",
        summary="导出 Excel 明细（链接限时有效）",
        run=export,
    ),
]
