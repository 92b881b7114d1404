"""Daily check-ins (上下班两次签到)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CheckIn
from storage.prepared import Prepared, PreparedInsert

_RECORD = PreparedInsert(
    CheckIn.__table__,  # type: ignore[attr-defined]
    ["member_id", "day", "slot"],
    ["member_id", "day", "slot", "at", "on_time"],
)


_T = CheckIn.__table__  # type: ignore[attr-defined]
_AT = Prepared(
    select(_T.c.at).where(
        _T.c.member_id == bindparam("member"),
        _T.c.day == bindparam("day", type_=_T.c.day.type),
        _T.c.slot == bindparam("slot"),
    )
)


async def checked_in_at(s: AsyncSession, member_id: int, day: date, slot: str) -> datetime | None:
    """When the slot's check-in was made (a second 签到 is common: people re-send in 接龙)."""
    row = await _AT.first(s, member=member_id, day=day, slot=slot)
    return None if row is None else row[0]  # type: ignore[no-any-return]


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
