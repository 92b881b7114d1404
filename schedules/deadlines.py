"""Deadline pushes of items that reach their branches' groups: study tasks and 廉洁承诺.

Both come the day before the due date at 17:00 (rules.study_deadline_due), one outbox row
per branch group the item reaches (a county-wide item reaches every branch group), and name
who has not confirmed when sent (each kind's render).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from schedules import rules
from storage.models import Group


class Dated(Protocol):
    id: int | None
    branch_id: int | None
    due: date | None


def due_dates(low: datetime, high: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """The due dates whose push falls in [low, high]: one day after each end."""
    return (
        low.astimezone(tz).date() + timedelta(days=1),
        high.astimezone(tz).date() + timedelta(days=1),
    )


def rows(
    items: Iterable[Dated],
    groups: Iterable[Group],
    low: datetime,
    high: datetime,
    tz: ZoneInfo,
    *,
    kind: str,
    key: str,
    ref_field: str,
) -> list[dict[str, Any]]:
    """Outbox rows due in [low, high] for `items`: key `{key}:{id}:deadline:g{group}`,
    payload a reference `{kind, ref_field: id}` rendered when sent."""
    branch_groups = [g for g in groups if g.branch_id is not None]
    out: list[dict[str, Any]] = []
    for item in items:
        assert item.due is not None
        due = rules.study_deadline_due(item.due, tz)
        if not low <= due <= high:
            continue
        ref = {"kind": kind, ref_field: item.id}
        payload = json.dumps({"text": "", "ref": ref}, ensure_ascii=False)
        out += [
            {
                "key": f"{key}:{item.id}:deadline:g{g.id}",
                "kind": kind,
                "due_at": due.astimezone(UTC),
                "payload": payload,
                "group_id": g.id,
            }
            for g in branch_groups
            if item.branch_id in (None, g.branch_id)
        ]
    return out
