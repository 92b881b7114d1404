"""组织生活会 and 民主评议: the admin's list of branches that have not held them in the window.

The meetings themselves come from schedules.rules.held_meetings like every rule meeting
(preview, 今天, sign-in, absentees); this module adds the county admin's check at the
window's end: its last working day, 17:00, one private push per admin, its text made when
it is sent (from the sign-ins then), none when every branch held both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Reply
from schedules.rules import YEARLY, yearly_check_due, yearly_window
from storage import appraisals, reminders
from storage.models import Group, Outbox

if TYPE_CHECKING:
    from schedules.occurrences import Planner, Render

KIND = "yearly_missing"


async def plan(
    planner: Planner, s: AsyncSession, all_groups: list[Group], low: datetime, high: datetime
) -> list[dict[str, Any]]:
    """Outbox rows due in [low, high]: the admins' list of the year whose check falls in it."""
    rows: list[dict[str, Any]] = []
    years = {low.astimezone(planner.tz).year, high.astimezone(planner.tz).year}
    for year in sorted(years):
        due = yearly_check_due(planner.settings, planner.calendar, year)
        if not low <= due <= high:
            continue
        payload = json.dumps({"text": "", "ref": {"kind": KIND, "year": year}}, ensure_ascii=False)
        rows += [
            {
                "key": f"{KIND}:{year}:m{admin.id}",
                "kind": KIND,
                "due_at": due.astimezone(UTC),
                "payload": payload,
                "member_id": admin.id,
            }
            for admin in await reminders.admins(s)
        ]
    return rows


async def render_missing(
    planner: Planner, s: AsyncSession, ref: dict[str, Any], row: Outbox
) -> Reply | None:
    """The branches without a held 组织生活会 / 民主评议 this year up to the window's end."""
    year = int(ref["year"])
    start, end = yearly_window(planner.settings, year)
    # Held early in the year before a later window counts too: the work plan asks for one
    # a year, the window is when the county expects it.
    since = datetime(year, 1, 1, tzinfo=planner.tz)
    until = datetime.combine(end, time(), planner.tz)
    lines: list[str] = []
    for kind in YEARLY:
        missing = await appraisals.branches_without(s, kind.value, since, until)
        if missing:
            names = "、".join(b.name for b in missing)
            lines.append(f"{kind.value}（{len(missing)} 个）：{names}")
        else:
            lines.append(f"{kind.value}：各支部均已召开")
    if all(line.endswith("均已召开") for line in lines):
        return None
    last = end - timedelta(days=1)
    months = f"{start.month}月" + (f"–{last.month}月" if last.month != start.month else "")
    head = (
        f"📋 {year}年组织生活会和民主评议党员（{months}）\n"
        f"截至{last.month}月{last.day}日，尚未召开（无人签到）的支部："
    )
    tail = "请督促以上支部尽快召开，书记可发「安排 组织生活会 日期 时间」安排。"
    return Reply("\n".join([head, *lines, tail]))


RENDERS: dict[str, Render] = {KIND: render_missing}
