"""Events (主题党日, 三会一课) and attendance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Attendance, Event

SIGNIN_OPENS_BEFORE = timedelta(minutes=30)
SIGNIN_CLOSES_AFTER = timedelta(minutes=60)


async def event_by_id(s: AsyncSession, event_id: int) -> Event | None:
    return await s.get(Event, event_id)


async def open_event(s: AsyncSession, branch_id: int, now: datetime) -> Event | None:
    """The branch's earliest event whose sign-in window contains `now`."""
    stmt = (
        select(Event)
        .where(Event.branch_id == branch_id)
        .where(col(Event.starts_at) >= now - SIGNIN_CLOSES_AFTER)
        .where(col(Event.starts_at) <= now + SIGNIN_OPENS_BEFORE)
        .order_by(col(Event.starts_at), col(Event.id))
        .limit(1)
    )
    return (await s.exec(stmt)).first()


async def upcoming(
    s: AsyncSession, branch_id: int, now: datetime, limit: int = 5
) -> Sequence[Event]:
    """Events not yet closed for sign-in, soonest first."""
    stmt = (
        select(Event)
        .where(Event.branch_id == branch_id)
        .where(Event.starts_at >= now - SIGNIN_CLOSES_AFTER)
        .order_by(Event.starts_at)  # type: ignore[arg-type]
        .limit(limit)
    )
    return (await s.exec(stmt)).all()


async def find_event(
    s: AsyncSession, branch_id: int, kind: str, starts_at: datetime
) -> Event | None:
    stmt = select(Event).where(
        Event.branch_id == branch_id, Event.kind == kind, Event.starts_at == starts_at
    )
    return (await s.exec(stmt)).first()


async def create_event(
    s: AsyncSession,
    branch_id: int,
    kind: str,
    starts_at: datetime,
    place: str = "",
    created_by: int | None = None,
    rule_key: str | None = None,
) -> Event:
    event = Event(
        branch_id=branch_id,
        kind=kind,
        starts_at=starts_at,
        place=place,
        created_by=created_by,
        rule_key=rule_key,
    )
    s.add(event)
    await s.flush()
    return event


async def attendance_of(s: AsyncSession, event_id: int, member_id: int) -> Attendance | None:
    stmt = select(Attendance).where(
        Attendance.event_id == event_id, Attendance.member_id == member_id
    )
    return (await s.exec(stmt)).first()


async def set_attendance(
    s: AsyncSession, event_id: int, member_id: int, status: str, at: datetime, reason: str = ""
) -> Attendance:
    """Record 出席/迟到/请假, replacing an earlier 请假 by a sign-in."""
    row = await attendance_of(s, event_id, member_id)
    if row is None:
        row = Attendance(
            event_id=event_id, member_id=member_id, status=status, at=at, reason=reason
        )
        s.add(row)
    else:
        row.status, row.at, row.reason = status, at, reason
    await s.flush()
    return row
