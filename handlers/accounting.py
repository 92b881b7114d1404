"""The calendar half of the one set of rules (storage.accounting holds the SQL half).

Which daily check-in slots closed when, per branch, and the period as the queries take it;
and the two reads every view uses: the branches' sums and the members' rows. 我的 is the
members' rows for one member, so it always equals that member's row in 汇总.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Services
from handlers.periods import Period
from storage import accounting
from storage.accounting import BranchSummary, CheckinDue, MemberSummary, Window
from storage.models import Branch, Slot

SLOT_KEYS: tuple[tuple[str, Literal["morning", "evening"]], ...] = (
    (Slot.MORNING.value, "morning"),
    (Slot.EVENING.value, "evening"),
)


def window(services: Services, period: Period, now: datetime) -> Window:
    tz = services.clock.tz
    start, end = period.bounds(tz)
    return Window(period.first, period.last, start.astimezone(UTC), end.astimezone(UTC), now, tz)


def slot_ends(services: Services, branch: str) -> tuple[time, time]:
    """When the branch's morning and evening check-in windows close."""
    rules = services.checkin_of(branch)
    return rules.morning.end, rules.evening.end


def checkin_dues(
    services: Services, branches: Sequence[Branch], period: Period, now: datetime
) -> list[CheckinDue]:
    """Per branch with daily check-in: the slots that closed in the period by `now`."""
    tz = services.clock.tz
    local_now = now.astimezone(tz)
    today = local_now.date()
    # The calendar is slow to ask, and most branches share their windows: work each out once.
    workdays = services.calendar.workdays(period.first, min(period.last, today))
    computed: dict[tuple[time, time], tuple[tuple[datetime, ...], frozenset[str]]] = {}
    dues = []
    for branch in branches:
        if branch.id is None or not services.checkin_of(branch.name).daily:
            continue
        ends = slot_ends(services, branch.name)
        if ends not in computed:
            computed[ends] = _closes(workdays, ends, local_now)
        closes, closed_today = computed[ends]
        dues.append(CheckinDue(branch.id, closes, today, closed_today))
    return dues


def _closes(
    workdays: Sequence[date], ends: tuple[time, time], local_now: datetime
) -> tuple[tuple[datetime, ...], frozenset[str]]:
    """The closing instants (UTC, ascending) of the slots closed by `local_now`, and which
    of today's have closed."""
    tz = local_now.tzinfo
    today = local_now.date()
    closes: list[datetime] = []
    closed_today: set[str] = set()
    for day in workdays:
        for (slot, _), end in zip(SLOT_KEYS, ends, strict=True):
            closing = datetime.combine(day, end, tz)
            if closing <= local_now:
                closes.append(closing.astimezone(UTC))
                if day == today:
                    closed_today.add(slot)
    return tuple(closes), frozenset(closed_today)


async def branch_figures(
    s: AsyncSession,
    services: Services,
    branches: Sequence[Branch],
    period: Period,
    now: datetime,
    *,
    county: bool = False,
) -> list[BranchSummary]:
    """Each branch's sums (`county`: every branch that has members)."""
    ids = None if county else [b.id for b in branches if b.id is not None]
    dues = checkin_dues(services, branches, period, now)
    return await accounting.branch_summaries(s, ids, window(services, period, now), dues)


async def branch_figures_by_period(
    s: AsyncSession,
    services: Services,
    branches: Sequence[Branch],
    periods: Sequence[Period],
    now: datetime,
) -> list[list[BranchSummary]]:
    """branch_figures of each period (a trend's months), in a few statements."""
    ids = [b.id for b in branches if b.id is not None]
    windows = [
        (window(services, p, now), checkin_dues(services, branches, p, now)) for p in periods
    ]
    return await accounting.branch_summaries_by_window(s, ids, windows)


def branch_sums(
    services: Services, branches: Sequence[Branch], rows: Sequence[MemberSummary]
) -> list[BranchSummary]:
    """branch_figures of `branches` from their members' rows, already loaded: the same
    sums without a second query (a branch without active members has none)."""
    out = []
    for branch in branches:
        mine = [r.counts for r in rows if r.branch_id == branch.id]
        if mine and branch.id is not None:
            daily = services.checkin_of(branch.name).daily
            counts = accounting.sum_counts(mine)
            out.append(BranchSummary(branch.id, branch.name, len(mine), counts, daily))
    return out


async def member_figures(
    s: AsyncSession,
    services: Services,
    branches: Sequence[Branch],
    period: Period,
    now: datetime,
    *,
    county: bool = False,
    member_ids: Sequence[int] | None = None,
) -> list[MemberSummary]:
    """Each member's row (only `member_ids`, when given), by branch then member."""
    ids = None if county else [b.id for b in branches if b.id is not None]
    dues = checkin_dues(services, branches, period, now)
    w = window(services, period, now)
    return await accounting.member_summaries(s, ids, w, dues, member_ids)
