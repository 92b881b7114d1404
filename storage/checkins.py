"""Daily check-ins (上下班两次签到)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CheckIn
from storage.upsert import insert_if_new


async def checked_in_at(s: AsyncSession, member_id: int, day: date, slot: str) -> datetime | None:
    """When the slot's check-in was made (a second 签到 is common: people re-send in 接龙)."""
    stmt = select(CheckIn.at).where(
        CheckIn.member_id == member_id, CheckIn.day == day, CheckIn.slot == slot
    )
    return (await s.exec(stmt)).first()


async def record_if_new(
    s: AsyncSession, member_id: int, day: date, slot: str, at: datetime, on_time: bool
) -> bool:
    """Write the check-in unless the slot already has one (one statement either way)."""
    values = {"member_id": member_id, "day": day, "slot": slot, "at": at, "on_time": on_time}
    return await insert_if_new(s, CheckIn, ["member_id", "day", "slot"], values)


async def record_checkin(
    s: AsyncSession, member_id: int, day: date, slot: str, at: datetime, on_time: bool
) -> CheckIn:
    row = CheckIn(member_id=member_id, day=day, slot=slot, at=at, on_time=on_time)
    s.add(row)
    await s.flush()
    return row
