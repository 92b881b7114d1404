"""Daily check-ins (上下班两次签到)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from qingfeng.storage.models import CheckIn
from qingfeng.storage.prepared import PreparedInsert

_RECORD = PreparedInsert(
    CheckIn.__table__,  # type: ignore[attr-defined]
    ["member_id", "day", "slot"],
    ["member_id", "day", "slot", "at", "on_time"],
)


async def checkin_of(s: AsyncSession, member_id: int, day: date, slot: str) -> CheckIn | None:
    stmt = select(CheckIn).where(
        CheckIn.member_id == member_id, CheckIn.day == day, CheckIn.slot == slot
    )
    return (await s.exec(stmt)).first()


async def record_if_new(
    s: AsyncSession, member_id: int, day: date, slot: str, at: datetime, on_time: bool
) -> bool:
    """Write the check-in unless the slot already has one (one statement either way)."""
    new_id = await _RECORD.insert(
        s, member_id=member_id, day=day, slot=slot, at=at, on_time=on_time
    )
    return new_id is not None


async def record_checkin(
    s: AsyncSession, member_id: int, day: date, slot: str, at: datetime, on_time: bool
) -> CheckIn:
    row = CheckIn(member_id=member_id, day=day, slot=slot, at=at, on_time=on_time)
    s.add(row)
    await s.flush()
    return row
