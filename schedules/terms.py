"""换届: reminders of a branch's term of office, to its secretary and the county admin.

The secretary hears 6, 3 and 1 months before the term ends; the admins get one notice a
week listing every branch whose term has ended with no later election recorded (a county
has hundreds of branches: one message each would flood them), and a first notice on the
first working day after a term ends mid-week. All are rendered when sent, so an election
recorded meanwhile silences them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Reply
from handlers.terms import (
    REMIND_MONTHS,
    Status,
    TermState,
    add_months,
    cn_day,
    record_hint,
    states,
    term_end,
    time_left,
)
from schedules import rules
from storage import members, reminders, terms
from storage.models import Group, Outbox

if TYPE_CHECKING:
    from schedules.holidays import HolidayCalendar
    from schedules.occurrences import Planner, Render

AT = time(9, 0)


def remind_day(end: date, months: int, calendar: HolidayCalendar) -> date:
    """`months` before the end, or the last working day before that if it is a rest day."""
    return calendar.workday_on_or_before(add_months(end, -months))


def weekly_day(day: date, calendar: HolidayCalendar) -> date | None:
    """The admins' notice day of `day`'s week: its Monday, or the next working day of the
    same week if Monday is a holiday; None for a week with no working day."""
    monday = day - timedelta(days=day.weekday())
    first = calendar.next_workday(monday)
    return first if first < monday + timedelta(days=7) else None


def first_notice_day(end: date, calendar: HolidayCalendar) -> date:
    return calendar.next_workday(end)


async def term_ends(s: AsyncSession) -> dict[str, date]:
    """Each branch's current term's end, by branch name (those with a term recorded)."""
    current = await terms.latest(s)
    return {b.name: term_end(current[b.id]) for b in await members.all_branches(s)
            if b.id in current}  # fmt: skip


def admin_notices(
    ends: Sequence[date], first: date, last: date, calendar: HolidayCalendar
) -> dict[date, str]:
    """The admins' notice days from `first` to `last` and their kinds: each week's notice
    day once some term has ended ("term_overdue"), and the first working day after a term
    ends when that is not a week's notice day ("term_ended")."""
    notices: dict[date, str] = {}
    day = first
    while day <= last:
        # A weekly notice only when some term will have ended by then (rendered anew).
        if weekly_day(day, calendar) == day and any(e <= day for e in ends):
            notices[day] = "term_overdue"
        day += timedelta(days=1)
    for end in ends:
        notice = first_notice_day(end, calendar)
        if first <= notice <= last and notice != weekly_day(notice, calendar):
            notices.setdefault(notice, "term_ended")  # else the week's notice names it
    return notices


def planned(
    ends: Mapping[str, date], year: int, calendar: HolidayCalendar, tz: ZoneInfo
) -> list[rules.Planned]:
    """The year's 换届 pushes for `qingfeng calendar` and the 看板, as `plan` would queue
    them for terms as recorded now: the secretary's reminders and the admins' notices
    (each sent only if it still applies then)."""
    estimated = calendar.is_estimated(year)
    out = []
    for branch, end in ends.items():
        for months in REMIND_MONTHS:
            day = remind_day(end, months, calendar)
            out.append(
                rules.Planned("term_due", f"term:{branch}:{months}m",
                              datetime.combine(day, AT, tz),
                              f"换届提醒（{end.isoformat()} 届满，提前{months}个月）",
                              rules.SECRETARIES, "", estimated=estimated, branch=branch)
            )  # fmt: skip
    notices = admin_notices(list(ends.values()), date(year, 1, 1), date(year, 12, 31), calendar)
    for day, kind in notices.items():
        if kind == "term_ended":
            names = "、".join(b for b, e in ends.items() if first_notice_day(e, calendar) == day)
            label = f"换届督促：{names}任期届满"
        else:
            label = "换届督促：已到期未换届的支部一览（登记新一届后不再发）"
        out.append(
            rules.Planned(kind, f"{kind}:{day.isoformat()}", datetime.combine(day, AT, tz),
                          label, rules.ADMINS, "", estimated=estimated)
        )  # fmt: skip
    return [p for p in out if p.due.year == year]


def _payload(ref: dict[str, Any]) -> str:
    return json.dumps({"text": "", "ref": ref}, ensure_ascii=False)


async def plan(
    planner: Planner, s: AsyncSession, all_groups: list[Group], low: datetime, high: datetime
) -> list[dict[str, Any]]:
    """Outbox rows due in [low, high]."""
    tz, calendar = planner.tz, planner.calendar
    current = await terms.latest(s)
    rows: list[dict[str, Any]] = []

    def due(day: date) -> datetime | None:
        at = datetime.combine(day, AT, tz)
        return at.astimezone(UTC) if low <= at <= high else None

    for branch_id, term in current.items():
        end = term_end(term)
        for months in REMIND_MONTHS:
            when = due(remind_day(end, months, calendar))
            if when is None:
                continue
            ref = {
                "kind": "term_due",
                "branch_id": branch_id,
                "elected_on": term.elected_on.isoformat(),
                "years": term.years,
                "months": months,
            }
            # The election in the key: a new one brings its own reminders.
            key = f"term:{branch_id}:{term.elected_on.isoformat()}:{term.years}y:{months}m"
            rows += [
                {
                    "key": f"{key}:m{m.id}",
                    "kind": "term_due",
                    "due_at": when,
                    "payload": _payload(ref),
                    "member_id": m.id,
                }
                for m in await reminders.secretaries(s, branch_id)
            ]
    if not current:
        return rows
    ends = [term_end(t) for t in current.values()]
    notices = admin_notices(ends, low.astimezone(tz).date(), high.astimezone(tz).date(), calendar)
    admins = await reminders.admins(s)
    for day, kind in sorted(notices.items()):
        when = due(day)
        if when is None:
            continue
        ref = {"kind": kind, "day": day.isoformat()}
        rows += [
            {
                "key": f"{kind}:{day.isoformat()}:m{a.id}",
                "kind": kind,
                "due_at": when,
                "payload": _payload(ref),
                "member_id": a.id,
            }
            for a in admins
        ]
    return rows


async def _term_due(
    planner: Planner, s: AsyncSession, ref: dict[str, Any], row: Outbox
) -> Reply | None:
    branch = await members.branch_by_id(s, int(ref["branch_id"]))
    term = (await terms.latest(s, [int(ref["branch_id"])])).get(int(ref["branch_id"]))
    if branch is None or term is None:
        return None
    if term.elected_on.isoformat() != ref["elected_on"] or term.years != ref["years"]:
        return None  # a new election (or a corrected term) since it was planned
    end = term_end(term)
    today = planner.clock.now().astimezone(planner.tz).date()
    return Reply(
        f"🗳️ 换届提醒：{branch.name}\n"
        f"本届支部委员会 {cn_day(term.elected_on)} 选举产生，任期 {term.years} 年，"
        f"将于 {cn_day(end)} 届满（{time_left(end, today)}）。\n"
        "请提前做好换届选举准备，按程序向上级党组织报告；"
        f"选举后请把选举日期告诉管理员登记（{record_hint(branch.name)}）。"
    )


def _overdue_lines(rows: list[TermState], today: date) -> list[str]:
    rows = sorted(rows, key=lambda r: (r.end or date.min, r.branch.name))
    return [
        f"{r.branch.name}（{r.end.isoformat()} 届满，{time_left(r.end, today)}）"
        for r in rows
        if r.end is not None
    ]


async def _overdue(
    planner: Planner, s: AsyncSession, ref: dict[str, Any], row: Outbox
) -> Reply | None:
    today = planner.clock.now().astimezone(planner.tz).date()
    ended = [r for r in await states(s, today) if r.status is Status.ENDED]
    if ref["kind"] == "term_ended":
        # Only the terms this first notice is for; the others were in the week's notice.
        day = date.fromisoformat(ref["day"])
        ended = [
            r
            for r in ended
            if r.end is not None and first_notice_day(r.end, planner.calendar) == day
        ]
        head = f"🗳️ 换届督促：{len(ended)} 个支部任期已届满"
    else:
        head = f"🗳️ 换届督促：{len(ended)} 个支部任期已届满，尚未登记新一届选举"
    if not ended:
        return None
    return Reply(
        "\n".join(
            [
                head,
                *_overdue_lines(ended, today),
                "请督促按期换届；选举后登记：qingfeng branch term 支部 --elected YYYY-MM-DD",
            ]
        )
    )


RENDERS: dict[str, Render] = {
    "term_due": _term_due,
    "term_overdue": _overdue,
    "term_ended": _overdue,
}
