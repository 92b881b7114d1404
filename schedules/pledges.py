"""廉洁承诺: the pledge's deadline push to branch groups.

As for study tasks (rules.study_deadline_due): the day before the due date at 17:00, to each
branch group the pledge reaches, naming and @-mentioning who has not confirmed it by then
(rendered when sent), nothing when everyone has.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import Mention, Reply
from handlers import text
from schedules import rules
from storage import accounting, members, pledges
from storage.models import Group, Outbox, Pledge

if TYPE_CHECKING:
    from schedules.occurrences import Planner, Render

KIND = "pledge_deadline"


async def plan(
    planner: Planner, s: AsyncSession, all_groups: list[Group], low: datetime, high: datetime
) -> list[dict[str, Any]]:
    """Outbox rows due in [low, high]."""
    rows: list[dict[str, Any]] = []
    # The push comes the day before the due date: look one day further on both ends.
    first = low.astimezone(planner.tz).date() + timedelta(days=1)
    last = high.astimezone(planner.tz).date() + timedelta(days=1)
    for pledge in await pledges.due_between(s, first, last):
        assert pledge.due is not None
        due = rules.study_deadline_due(pledge.due, planner.tz)
        if not low <= due <= high:
            continue
        payload = json.dumps(
            {"text": "", "ref": {"kind": KIND, "pledge_id": pledge.id}}, ensure_ascii=False
        )
        rows += [
            {
                "key": f"pledge:{pledge.id}:deadline:g{g.id}",
                "kind": KIND,
                "due_at": due.astimezone(UTC),
                "payload": payload,
                "group_id": g.id,
            }
            for g in all_groups
            if g.branch_id is not None and pledge.branch_id in (None, g.branch_id)
        ]
    return rows


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
