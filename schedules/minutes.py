"""纪要: the once-only note to a secretary about a meeting without a record after 7 days.

One row per meeting and secretary (its key says so, so it goes out once), due at 09:00 on
the first working day more than 7 days after the meeting, and rendered when sent: a record
added meanwhile, or a cancelled meeting, sends nothing. Only meetings whose note falls due
now are planned, and none that started over 30 days ago, so a county upgrading with a year
of meetings behind it gets no flood.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import as_utc
from bot.messages import Reply
from handlers.events import title
from storage import minutes, reminders
from storage.models import Event, Group, Outbox

if TYPE_CHECKING:
    from schedules.occurrences import Planner, Render

KIND = "minutes_missing"
AFTER = timedelta(days=7)
OLDEST = timedelta(days=30)
AT = time(9, 0)


def due_at(planner: Planner, event: Event) -> datetime:
    """09:00 on the first working day at least 8 days after the meeting's day."""
    day = as_utc(event.starts_at).astimezone(planner.tz).date() + AFTER + timedelta(days=1)
    return datetime.combine(planner.calendar.next_workday(day), AT, planner.tz)


async def plan(
    planner: Planner, s: AsyncSession, all_groups: list[Group], low: datetime, high: datetime
) -> list[dict[str, Any]]:
    """Outbox rows due in [low, high]."""
    now = planner.clock.now()
    # A due time is at most ~2 weeks (a long holiday) after the meeting: look that far back.
    since = max(low - AFTER - timedelta(days=14), now - OLDEST)
    rows: list[dict[str, Any]] = []
    for event, _ in await minutes.without_notes(s, since, high - AFTER):
        due = due_at(planner, event)
        if not low <= due <= high:
            continue
        payload = json.dumps({"text": "", "ref": {"kind": KIND, "event_id": event.id}})
        rows += [
            {
                "key": f"minutes:{event.id}:m{m.id}",
                "kind": KIND,
                "due_at": due.astimezone(UTC),
                "payload": payload,
                "member_id": m.id,
            }
            for m in await reminders.secretaries(s, event.branch_id)
        ]
    return rows


async def _missing(
    planner: Planner, s: AsyncSession, ref: dict[str, Any], row: Outbox
) -> Reply | None:
    event = await s.get(Event, int(ref["event_id"]))
    if event is None or event.id is None or event.cancelled_at is not None:
        return None
    if await minutes.has_notes(s, event.id):
        return None
    n = event.number
    return Reply(
        f"📝 {title(event, planner.tz)}已过去 7 天，还没有会议纪要。\n"
        f"请发送「纪要 {n} 议题；内容」补记（可分几条发，10 分钟内发来的照片一并附上）；"
        f"未召开的请发「取消 {n}」。"
    )


RENDERS: dict[str, Render] = {KIND: _missing}
