"""换届: reminders of a branch's term of office, to its secretary and the county admin."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Group

if TYPE_CHECKING:
    from schedules.occurrences import Planner, Render

RENDERS: dict[str, Render] = {}


async def plan(
    planner: Planner, s: AsyncSession, all_groups: list[Group], low: datetime, high: datetime
) -> list[dict[str, Any]]:
    """Outbox rows due in [low, high]."""
    return []
