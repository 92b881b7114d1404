"""What each 看板 page shows, gathered through the same rules as 汇总 (handlers.accounting).

Plain dataclasses in, templates out: nothing here writes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import as_utc
from bot.context import Services
from handlers import accounting, terms
from handlers.periods import Period
from handlers.summary import Scope, SummaryData, load_summary
from schedules import report, rules
from schedules.occurrences import branch_shapes
from schedules.terms import term_ends
from storage import accounting as ledger
from storage import branches as branch_store
from storage import console, events, members
from storage.accounting import BranchSummary, Counts, MemberSummary
from storage.engine import Database
from storage.models import Branch, OutboxState

TREND_MONTHS = 12
LOW_RATE = 0.6  # below this a rate puts the branch among those needing attention
FAILED_SINCE = timedelta(days=30)
SORTS = {"": "需关注优先", "score": "综合", "attendance": "出勤率", "checkin": "签到率",
         "study": "学习完成率", "name": "名称"}  # fmt: skip


def month_start(d: date, plus: int = 0) -> date:
    m = d.month - 1 + plus
    return date(d.year + m // 12, m % 12 + 1, 1)


def month_period(first: date) -> Period:
    last = month_start(first, 1) - timedelta(days=1)
    return Period(first, last, f"{first.year}年{first.month}月")


def parse_month(text: str, now: datetime, services: Services) -> date | None:
    """`YYYY-MM` (default this month) as its first day; None when it is not one."""
    today = now.astimezone(services.clock.tz).date()
    if not text:
        return today.replace(day=1)
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    if not m or not 2000 <= int(m[1]) <= 2100 or not 1 <= int(m[2]) <= 12:
        return None
    return date(int(m[1]), int(m[2]), 1)


@dataclass(frozen=True)
class Trend:
    months: list[date]
    attendance: list[float | None]
    checkin: list[float | None]
    study: list[float | None]


@dataclass(frozen=True)
class BranchRow:
    branch: BranchSummary
    failed: int
    reasons: list[str]  # why it needs attention; empty when it does not
    trend: list[float | None]  # 组织生活出勤率, month by month
    term: str  # 换届: 已到期 / 6个月内到期 / 正常 / 未登记


@dataclass(frozen=True)
class CountyView:
    rows: list[BranchRow]
    totals: Counts
    members: int
    failed_county: int  # county-wide pushes that failed (not to one branch)
    months: list[date]
    sorts: dict[str, str] = field(default_factory=lambda: SORTS)


def trend_months(services: Services, now: datetime) -> list[date]:
    today = now.astimezone(services.clock.tz).date()
    return [month_start(today, -i) for i in range(TREND_MONTHS - 1, -1, -1)]


async def attendance_trends(
    s: AsyncSession, services: Services, branch_ids: Sequence[int] | None, now: datetime
) -> tuple[list[date], dict[int, list[float | None]]]:
    """Each branch's 组织生活出勤率 month by month over the last TREND_MONTHS months, from
    one query of per-meeting tallies (the 汇总 rules), summed by month here."""
    months = trend_months(services, now)
    span = Period(months[0], month_start(months[-1], 1) - timedelta(days=1), "")
    tallies = await ledger.meeting_tallies(s, branch_ids, accounting.window(services, span, now))
    index = {m: i for i, m in enumerate(months)}
    sums: dict[int, list[list[int]]] = {}
    tz = services.clock.tz
    for branch_id, starts, expected, came in tallies:
        i = index[starts.astimezone(tz).date().replace(day=1)]
        cell = sums.setdefault(branch_id, [[0, 0] for _ in months])[i]
        cell[0] += expected
        cell[1] += came
    return months, {b: [c / e if e else None for e, c in cells] for b, cells in sums.items()}


async def branch_trend(s: AsyncSession, services: Services, branch: Branch, now: datetime) -> Trend:
    """One branch's three rates, month by month: the 汇总 figures of each month."""
    months = trend_months(services, now)
    by_month = await accounting.branch_figures_by_period(
        s, services, (branch,), [month_period(m) for m in months], now
    )
    counts = [figures[0].counts if figures else None for figures in by_month]
    return Trend(
        months,
        [c.attendance_rate if c else None for c in counts],
        [c.checkin_rate if c else None for c in counts],
        [c.study_rate if c else None for c in counts],
    )


def _reasons(b: BranchSummary, failed: int, term: terms.Status) -> list[str]:
    c = b.counts
    out = []
    if term in (terms.Status.ENDED, terms.Status.SOON):
        out.append(f"换届{term.value}")
    for label, rate in (("出勤", c.attendance_rate), ("签到", c.checkin_rate),
                        ("学习", c.study_rate)):  # fmt: skip
        if rate is not None and rate < LOW_RATE:
            out.append(f"{label}率低")
    if failed:
        out.append(f"{failed} 条推送失败")
    return out


def _sort_key(sort: str) -> object:
    def rate(value: float | None) -> float:
        return -1.0 if value is None else value

    keys = {
        "score": lambda r: (-r.branch.score, r.branch.name),
        "attendance": lambda r: (rate(r.branch.counts.attendance_rate), r.branch.name),
        "checkin": lambda r: (rate(r.branch.counts.checkin_rate), r.branch.name),
        "study": lambda r: (rate(r.branch.counts.study_rate), r.branch.name),
        "name": lambda r: r.branch.name,
    }
    return keys.get(sort, lambda r: (not r.reasons, r.branch.score, r.branch.name))


async def county(
    db: Database, services: Services, period: Period, now: datetime, sort: str
) -> CountyView:
    # The month's figures and the twelve months' trends are the page's two large queries,
    # independent of each other: each reads in its own session, both at once (SQLite runs
    # each connection in its own thread and lets go of the GIL while a query runs).
    async def figures() -> tuple[SummaryData, dict[int | None, int], dict[int, terms.Status]]:
        async with db.read() as s:
            all_branches = tuple(await members.all_branches(s))
            data = await load_summary(s, services, Scope(all_branches, county=True), period, now)
            failed = await console.failed_by_branch(s, now - FAILED_SINCE)
            today = now.astimezone(services.clock.tz).date()
            term = {t.branch.id: t.status for t in await terms.states(s, today)}
        return data, failed, term

    async def trends() -> tuple[list[date], dict[int, list[float | None]]]:
        async with db.read() as s:
            return await attendance_trends(s, services, None, now)

    (data, failed, term), (months, by_branch) = await asyncio.gather(figures(), trends())
    empty: list[float | None] = [None] * len(months)
    rows = []
    for b in data.branches:
        status, n = term.get(b.branch_id, terms.Status.NONE), failed.get(b.branch_id, 0)
        reasons = _reasons(b, n, status)
        rows.append(BranchRow(b, n, reasons, by_branch.get(b.branch_id, empty), status.value))
    rows.sort(key=_sort_key(sort))  # type: ignore[arg-type]
    totals = ledger.sum_counts([b.counts for b in data.branches])
    return CountyView(
        rows, totals, sum(b.members for b in data.branches), failed.get(None, 0), months
    )


@dataclass(frozen=True)
class Meeting:
    number: int | None
    starts_at: datetime
    kind: str
    present: list[str]
    late: list[str]
    leave: list[str]
    absent: list[str]


@dataclass(frozen=True)
class Task:
    task_id: int
    title: str
    due: date | None
    confirmed: list[str]
    missing: list[str]


@dataclass(frozen=True)
class BranchView:
    branch: Branch
    summary: BranchSummary | None
    members: list[MemberSummary]
    meetings: list[Meeting]
    tasks: list[Task]
    unbound: list[str]
    upcoming: list[tuple[int | None, datetime, str, str]]  # number, local start, kind, place
    trend: Trend


async def branch(
    db: Database, services: Services, branch_id: int, period: Period, now: datetime
) -> BranchView | None:
    async with db.read() as s:
        found = await members.branch_by_id(s, branch_id)
    if found is None:
        return None

    async def trend() -> Trend:  # the page's largest query, read at the same time
        async with db.read() as s:
            return await branch_trend(s, services, found, now)

    async def lists() -> _Lists:
        async with db.read() as s:
            return await _branch_lists(s, services, found, period, now)

    trend_view, rest = await asyncio.gather(trend(), lists())
    return BranchView(found, *rest, trend_view)


class _Lists(NamedTuple):
    """The branch page but its trend, in BranchView's order."""

    summary: BranchSummary | None
    members: list[MemberSummary]
    meetings: list[Meeting]
    tasks: list[Task]
    unbound: list[str]
    upcoming: list[tuple[int | None, datetime, str, str]]


async def _branch_lists(
    s: AsyncSession, services: Services, found: Branch, period: Period, now: datetime
) -> _Lists:
    assert found.id is not None
    branch_id = found.id
    tz = services.clock.tz
    scope = Scope((found,), county=False)
    data = await load_summary(s, services, scope, period, now)
    meetings: dict[tuple[int | None, datetime, str], Meeting] = {}
    for a in await ledger.attendance_rows(s, [branch_id], data.window):
        key = (a.number, a.starts_at, a.kind)
        m = meetings.setdefault(key, Meeting(a.number, a.starts_at.astimezone(tz), a.kind,
                                             [], [], [], []))  # fmt: skip
        bucket = {"出席": m.present, "迟到": m.late, "请假": m.leave}.get(a.status, m.absent)
        bucket.append(f"{a.name}（{a.reason}）" if a.status == "请假" and a.reason else a.name)
    tasks: dict[int, Task] = {}
    for r in await ledger.study_rows(s, [branch_id], data.window):
        t = tasks.setdefault(r.task_id, Task(r.task_id, r.title, r.due, [], []))
        (t.missing if r.confirmed_at is None else t.confirmed).append(r.name)
    unbound = [r.member.name for r in await branch_store.member_rows(s, branch_id, unbound=True)]
    upcoming = [
        (e.number, as_utc(e.starts_at).astimezone(tz),
         rules.meeting_label(e.kind, e.party_group), e.place)
        for e in await events.upcoming(s, branch_id, now)
    ]  # fmt: skip
    return _Lists(
        data.branches[0] if data.branches else None,
        data.members,
        sorted(meetings.values(), key=lambda m: m.starts_at),
        sorted(tasks.values(), key=lambda t: t.task_id),
        unbound,
        upcoming,
    )


@dataclass(frozen=True)
class PlannedRow:
    due: datetime
    label: str
    target: str
    estimated: bool


@dataclass(frozen=True)
class OutboxRow:
    row_id: int
    due: datetime
    state: str
    state_name: str
    kind: str
    target: str
    attempts: int
    error: str

    @property
    def resendable(self) -> bool:
        return self.state in (OutboxState.FAILED.value, OutboxState.MISSED.value)


@dataclass(frozen=True)
class CalendarView:
    month: date
    previous: date
    next: date
    planned: list[PlannedRow]
    outbox: list[OutboxRow]
    branch: str  # "" for the county


async def calendar(
    s: AsyncSession, services: Services, branch_id: int | None, month: date, now: datetime
) -> CalendarView:
    """What the rules will push in `month` (`qingfeng calendar`), and the outbox's rows."""
    tz = services.clock.tz
    all_branches = await members.all_branches(s)
    names = [b.name for b in all_branches if branch_id is None or b.id == branch_id]
    by_id = await branch_shapes(s)
    shapes = {b.name: by_id[b.id] for b in all_branches if b.id in by_id}
    ends = await term_ends(s)
    planned = report.year_plan(
        services.settings, services.calendar, month.year, names, shapes, ends
    )
    rows = [
        PlannedRow(p.due, p.label, report.target_label(p), p.estimated)
        for p in planned
        if (p.due.year, p.due.month) == (month.year, month.month)
    ]
    first = datetime.combine(month, datetime.min.time(), tz)
    last = datetime.combine(month_start(month, 1), datetime.min.time(), tz)
    out = []
    for row, group, person in await console.outbox_between(s, first, last, branch_id):
        assert row.id is not None
        out.append(
            OutboxRow(
                row.id,
                as_utc(row.due_at).astimezone(tz),
                row.state,
                report.STATE_NAMES.get(row.state, row.state),
                report.kind_name(row.kind),
                group or (f"{person}（私信）" if person else "—"),
                row.attempts,
                row.last_error,
            )
        )
    label = names[0] if branch_id is not None and names else ""
    return CalendarView(month, month_start(month, -1), month_start(month, 1), rows, out, label)
