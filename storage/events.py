"""Events (主题党日, 三会一课) and attendance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.members import EXPECTED_STATUSES
from storage.models import Attendance, Event, EventKind, Member

SIGNIN_OPENS_BEFORE = timedelta(minutes=30)
SIGNIN_CLOSES_AFTER = timedelta(minutes=60)


def expected_at_event() -> ColumnElement[bool]:
    """Join condition Member ↔ Event: who the meeting expects. The one rule, used by every
    count, list and push: 党员 and 预备党员 of the branch (群众 never) who had joined by the
    start; 支委会 only the committee; a 党小组会 of one group only that group's members. A
    cancelled meeting expects nobody."""
    return and_(
        col(Member.branch_id) == col(Event.branch_id),
        col(Member.status).in_(EXPECTED_STATUSES),
        col(Member.created_at) <= col(Event.starts_at),
        col(Event.cancelled_at).is_(None),
        or_(col(Event.kind) != EventKind.COMMITTEE.value, col(Member.committee) != ""),
        or_(
            col(Event.kind) != EventKind.GROUP.value,
            col(Event.party_group) == "",
            col(Event.party_group) == col(Member.party_group),
        ),
    )


async def next_number(s: AsyncSession, branch_id: int) -> int:
    """The branch's next meeting number (1, 2, ...)."""
    stmt = select(func.coalesce(func.max(Event.number), 0)).where(Event.branch_id == branch_id)
    return int((await s.exec(stmt)).one()) + 1


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
        number=await next_number(s, branch_id),
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
