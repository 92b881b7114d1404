"""廉洁承诺: the pledge's deadline push to branch groups.

As for study tasks (rules.study_deadline_due): the day before the due date at 17:00, to each
branch group the pledge reaches, naming and @-mentioning who has not confirmed it by then
(rendered when sent), nothing when everyone has.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Mention, Reply
from handlers import text
from schedules import deadlines
from storage import accounting, members, pledges
from storage.models import Group, Outbox, Pledge

if TYPE_CHECKING:
    from schedules.occurrences import Planner, Render

KIND = "pledge_deadline"


async def plan(
    planner: Planner, s: AsyncSession, all_groups: list[Group], low: datetime, high: datetime
) -> list[dict[str, Any]]:
    """Outbox rows due in [low, high]."""
    due = await pledges.due_between(s, *deadlines.due_dates(low, high, planner.tz))
    return deadlines.rows(due, all_groups, low, high, planner.tz,
                          kind=KIND, key="pledge", ref_field="pledge_id")  # fmt: skip


async def _deadline(
    planner: Planner, s: AsyncSession, ref: dict[str, Any], row: Outbox
) -> Reply | None:
    pledge = await s.get(Pledge, int(ref["pledge_id"]))
    group = await s.get(Group, row.group_id) if row.group_id is not None else None
    if pledge is None or pledge.due is None or group is None or group.branch_id is None:
        return None
    roll = await accounting.pledge_roll(s, pledge, [group.branch_id], planner.tz)
    if not roll.missing:
        return None
    accounts = await members.accounts_for(s, [i for _, _, i in roll.missing], group.platform)
    mentions = tuple(Mention(accounts[i], n) for _, n, i in roll.missing if i in accounts)
    title = pledge.title.strip("《》")
    lines = [
        "🤝 廉洁承诺提醒：明天截止",
        f"《{title}》",
        f"截止：{text.day(pledge.due)}",
        f"以下同志还未确认（{len(roll.missing)} 人）：",
        "、".join(n for _, n, _ in roll.missing),
    ]
    if pledge.link:
        lines.append(pledge.link)
    lines.append(f"请阅读后@我发「承诺 {pledge.id}」。")
    return Reply("\n".join(lines), mentions=mentions)


RENDERS: dict[str, Render] = {KIND: _deadline}
