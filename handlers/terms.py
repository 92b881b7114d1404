"""换届 in chat: a secretary's branch term, the admin's county table; the rules of a term
(when it ends, how it stands), the 换届 export sheet and the import of many branches' terms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Context, Services
from bot.messages import Reply
from bot.router import ArgError, Command
from handlers.args import parse_date, plain_text, shown
from handlers.periods import Period
from handlers.roster import RosterError, read_table
from storage import members, terms
from storage.branches import close_matches
from storage.engine import Database
from storage.models import Branch, BranchTerm, Role
from storage.xlsx_sheet import DATE, Sheet

DEFAULT_YEARS = 3  # a 支部委员会 serves three years; a larger committee up to five
MAX_YEARS = 5
WARN_MONTHS = 6  # "6个月内到期" in the county table; the first reminder
REMIND_MONTHS = (6, 3, 1)


class Status(StrEnum):
    ENDED = "已到期"
    SOON = "6个月内到期"
    FINE = "正常"
    NONE = "未登记"


def add_months(d: date, months: int) -> date:
    """The same day `months` later (or earlier); past a month's end, its last day
    (a term elected on Feb 29 ends on Feb 28)."""
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, min(d.day, day))
        except ValueError:
            continue
    raise AssertionError("every month has 28 days")


def term_end(term: BranchTerm) -> date:
    return add_months(term.elected_on, 12 * term.years)


def status_of(end: date | None, today: date) -> Status:
    if end is None:
        return Status.NONE
    if end <= today:
        return Status.ENDED
    if end <= add_months(today, WARN_MONTHS):
        return Status.SOON
    return Status.FINE


def cn_day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def time_left(end: date, today: date) -> str:
    """还有 5 个月 29 天 / 今天届满 / 已超期 12 天"""
    if end == today:
        return "今天届满"
    if end < today:
        return f"已超期 {(today - end).days} 天"
    months = 0
    while add_months(today, months + 1) <= end:
        months += 1
    days = (end - add_months(today, months)).days
    parts = ([f"{months} 个月"] if months else []) + ([f"{days} 天"] if days else [])
    return "还有 " + " ".join(parts)


def record_hint(branch: str) -> str:
    return f"qingfeng branch term {branch} --elected YYYY-MM-DD"


@dataclass(frozen=True)
class TermState:
    branch: Branch
    term: BranchTerm | None
    end: date | None
    status: Status


async def states(
    s: AsyncSession, today: date, branch_ids: Sequence[int] | None = None
) -> list[TermState]:
    """Each branch's current term and how it stands on `today`, in branch order."""
    if branch_ids is None:
        branches = list(await members.all_branches(s))
    else:
        found = [await members.branch_by_id(s, b) for b in branch_ids]
        branches = [b for b in found if b is not None]
    current = await terms.latest(s, [b.id for b in branches if b.id is not None])
    out = []
    for b in branches:
        term = current.get(b.id) if b.id is not None else None
        end = term_end(term) if term else None
        out.append(TermState(b, term, end, status_of(end, today)))
    return out


def county_lines(rows: Sequence[TermState], today: date) -> list[str]:
    """The county table: names under 已到期 / 6个月内到期 / 未登记, only a count for 正常
    (a county has hundreds of branches)."""
    lines = [f"🗳️ 全县支部换届情况（{cn_day(today)}，共 {len(rows)} 个支部）"]
    for status in Status:
        part = sorted((r for r in rows if r.status is status), key=lambda r: r.end or date.min)
        lines.append(f"{status.value}：{len(part)} 个")
        if status is Status.FINE:
            continue
        for r in part:
            left = f"（{r.end.isoformat()} 届满，{time_left(r.end, today)}）" if r.end else ""
            lines.append(f"  {r.branch.name}{left}")
    return lines


def branch_lines(row: TermState, today: date) -> list[str]:
    name = row.branch.name
    if row.term is None or row.end is None:
        return [
            f"🗳️ {name} 尚未登记换届信息。",
            "请把最近一次换届选举的日期告诉管理员登记：" + record_hint(name),
        ]
    lines = [
        f"🗳️ {name} 换届情况",
        f"本届选举：{cn_day(row.term.elected_on)}，任期 {row.term.years} 年",
        f"届满日期：{cn_day(row.end)}（{time_left(row.end, today)}）",
    ]
    if row.status is Status.ENDED:
        lines.append("任期已届满，请尽快组织换届选举并报上级党组织；选举后请管理员登记。")
    elif row.status is Status.SOON:
        lines.append("请提前做好换届选举准备，按程序向上级党组织报告。")
    return lines


# ---- 换届 in chat ----------------------------------------------------------------------


def parse_branch_name(rest: str) -> str:
    return plain_text(rest, "支部名称", 60)


async def show_terms(ctx: Context, rest: str) -> Reply:
    today = ctx.today
    if ctx.role is Role.ADMIN:
        if not rest:
            return Reply("\n".join(county_lines(await states(ctx.session, today), today)))
        branch = await members.branch_by_name(ctx.session, rest)
        if branch is None or branch.id is None:
            names = [b.name for b in await members.all_branches(ctx.session)]
            return Reply(f"没有叫“{shown(rest)}”的支部。{close_matches(rest, names)}")
        branch_id = branch.id
    else:
        branch_id = ctx.require_member().branch_id
        if rest and rest != (ctx.branch.name if ctx.branch else ""):
            return Reply("您只能查看本支部的换届情况，请发送：换届")
    found = await states(ctx.session, today, [branch_id])
    if not found:
        return Reply("没有找到您所在的支部，请联系管理员。")
    return Reply("\n".join(branch_lines(found[0], today)))


# ---- the export sheet ----------------------------------------------------------------


async def export_sheet(
    s: AsyncSession,
    services: Services,
    branch_ids: Sequence[int] | None,
    period: Period,
    now: datetime,
    *,
    private: bool = False,
) -> Sheet | None:
    """换届: each branch's current term and how it stands today (not at the period's end:
    the ledger is read for what to do now). Nothing in it is private to the secretary."""
    today = now.astimezone(services.clock.tz).date()
    rows = await states(s, today, branch_ids)
    if not rows:
        return None
    return Sheet(
        title="换届",
        headers=("支部", "选举日期", "任期（年）", "届满日期", "状态"),
        widths=(28, 12, 10, 12, 14),
        rows=[
            (
                r.branch.name,
                r.term.elected_on if r.term else None,
                r.term.years if r.term else None,
                r.end,
                r.status.value,
            )
            for r in rows
        ],
        formats={2: DATE, 4: DATE},
    )


# ---- recording elections (the command line) ---------------------------------------------


class TermError(Exception):
    """Terms that cannot be recorded; `problems` lists each bad row by number and reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def check_years(years: int) -> None:
    if not 1 <= years <= MAX_YEARS:
        raise ArgError(f"任期应为 1–{MAX_YEARS} 年：{years}")


def check_elected(elected_on: date, today: date) -> None:
    if elected_on > today:
        raise ArgError(f"选举日期不能晚于今天：{elected_on.isoformat()}")


@dataclass(frozen=True)
class TermRow:
    line: int  # in the file, 1-based; 0 for the command line
    branch: str
    elected_on: date
    years: int


_BRANCH_COLS = ("支部", "支部名称", "党支部")
_DATE_COLS = ("换届日期", "选举日期")
_YEARS_COLS = ("任期（年）", "任期(年)", "任期")


def parse_term_table(table: list[list[str]], today: date) -> list[TermRow]:
    """Rows of 支部, 换届日期 (or 选举日期), 任期（年） (optional, default 3); a title may
    stand above the header. Every bad row is listed; any makes the whole file refused."""
    header = None
    for i, cells in enumerate(table[:10]):
        names = [c.strip() for c in cells]
        if any(c in names for c in _BRANCH_COLS) and any(c in names for c in _DATE_COLS):
            header = i
            break
    if header is None:
        raise TermError(["找不到表头：需要“支部”和“换届日期”（或“选举日期”）两列"])
    names = [c.strip() for c in table[header]]

    def index(options: tuple[str, ...]) -> int | None:
        return next((names.index(c) for c in options if c in names), None)

    b_col, d_col, y_col = index(_BRANCH_COLS), index(_DATE_COLS), index(_YEARS_COLS)
    assert b_col is not None and d_col is not None
    rows: list[TermRow] = []
    problems: list[str] = []
    seen: dict[tuple[str, date], int] = {}
    for n, cells in enumerate(table[header + 1 :], start=header + 2):
        cells = [*cells, *[""] * (len(names) - len(cells))]
        if not any(c.strip() for c in cells):
            continue
        branch, raw_day = cells[b_col].strip(), cells[d_col].strip()
        raw_years = cells[y_col].strip() if y_col is not None else ""
        try:
            if not branch:
                raise ArgError("支部为空")
            # Excel may hand a date cell over as "2023-12-20 00:00:00".
            elected_on = parse_date(raw_day.split(" ")[0].replace("/", "-").replace(".", "-"))
            check_elected(elected_on, today)
            years = DEFAULT_YEARS
            if raw_years:
                if not raw_years.isascii() or not raw_years.isdigit():
                    raise ArgError(f"任期应是整数年：{shown(raw_years)}")
                years = int(raw_years)
                check_years(years)
            if (branch, elected_on) in seen:
                raise ArgError(f"与第 {seen[branch, elected_on]} 行重复")
        except ArgError as exc:
            problems.append(f"第 {n} 行：{exc}")
            continue
        seen[branch, elected_on] = n
        rows.append(TermRow(n, branch, elected_on, years))
    if problems:
        raise TermError(problems)
    if not rows:
        raise TermError(["文件里没有换届记录"])
    return rows


async def record_terms(
    s: AsyncSession, rows: Sequence[TermRow], now: datetime, source: str, *, apply: bool
) -> list[str]:
    """Preview lines for the rows, recorded when `apply`; an unknown branch refuses all."""
    problems = []
    found: dict[str, Branch] = {}
    every = [b.name for b in await members.all_branches(s)]
    for r in rows:
        branch = await members.branch_by_name(s, r.branch)
        if branch is None:
            where = f"第 {r.line} 行：" if r.line else ""
            problems.append(f"{where}没有叫“{r.branch}”的支部。{close_matches(r.branch, every)}")
        else:
            found[r.branch] = branch
    if problems:
        raise TermError(problems)
    current = await terms.latest(s, [b.id for b in found.values() if b.id is not None])
    lines = []
    for r in rows:
        branch = found[r.branch]
        assert branch.id is not None
        have = await terms.find(s, branch.id, r.elected_on)
        if have is None:
            what = terms.Recorded.NEW.value
        elif have.years != r.years:
            what = f"{terms.Recorded.UPDATED.value}（原 {have.years} 年）"
        else:
            what = terms.Recorded.SAME.value
        latest = current.get(branch.id)
        if latest is not None and latest.elected_on > r.elected_on:
            what += "；早于已登记的一届，作为历史记录"
        end = add_months(r.elected_on, 12 * r.years)
        where = f"第 {r.line} 行 " if r.line else ""
        lines.append(
            f"{where}{r.branch}：{r.elected_on.isoformat()} 选举，任期 {r.years} 年，"
            f"{end.isoformat()} 届满 · {what}"
        )
        if apply:
            await terms.record(s, branch.id, r.elected_on, r.years, source, now)
    return lines


async def import_terms(
    db: Database, path: Path, now: datetime, today: date, source: str, *, apply: bool
) -> list[str]:
    """Read a .csv or .xlsx of terms (as the roster is read) and preview or record it,
    all or nothing."""
    try:
        table = read_table(path)
    except RosterError as exc:
        raise TermError(exc.problems) from None
    rows = parse_term_table(table, today)
    async with db.write() if apply else db.read() as s:
        return await record_terms(s, rows, now, source, apply=apply)


COMMANDS = [
    Command(
        name="换届",
        role=Role.SECRETARY,
        usage="换届 [支部]",
        summary="本支部的任期和届满时间（管理员：全县换届情况，或写支部名看一个）",
        run=show_terms,
        parse=parse_branch_name,
    ),
]
