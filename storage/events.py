"""Events (主题党日, 三会一课) and attendance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.members import EXPECTED_STATUSES
from storage.models import Attendance, AttendanceStatus, Event, EventKind, Member

SIGNIN_OPENS_BEFORE = timedelta(minutes=30)
SIGNIN_CLOSES_AFTER = timedelta(minutes=60)
# Attendance that means the member came (a 请假 row does not).
SIGNED_IN = (AttendanceStatus.PRESENT.value, AttendanceStatus.LATE.value)


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


async def move_event(s: AsyncSession, event: Event, starts_at: datetime, place: str) -> None:
    """改期: same row, same number, leave already given kept."""
    event.starts_at, event.place = starts_at, place
    s.add(event)
    await s.flush()


async def cancel_event(s: AsyncSession, event: Event, now: datetime, reason: str) -> None:
    """取消: the row and its leave stay on record; nothing counts or pushes it any more."""
    event.cancelled_at, event.cancel_reason = now, reason
    s.add(event)
    await s.flush()


def _live() -> ColumnElement[bool]:
    return col(Event.cancelled_at).is_(None)


async def event_by_number(s: AsyncSession, branch_id: int, number: int) -> Event | None:
    """The branch's meeting with that number (cancelled ones too: the caller says so)."""
    stmt = select(Event).where(Event.branch_id == branch_id, Event.number == number)
    return (await s.exec(stmt)).first()


async def open_events(
    s: AsyncSession, branch_id: int, now: datetime, member_id: int
) -> list[tuple[Event, bool]]:
    """The branch's meetings whose sign-in window contains `now`, earliest first, each with
    whether it expects the member (expected_at_event)."""
    stmt = (
        select(Event, Member.id)
        .outerjoin(Member, and_(expected_at_event(), col(Member.id) == member_id))
        .where(Event.branch_id == branch_id, _live())
        .where(col(Event.starts_at) >= now - SIGNIN_CLOSES_AFTER)
        .where(col(Event.starts_at) <= now + SIGNIN_OPENS_BEFORE)
        .order_by(col(Event.starts_at), col(Event.id))
    )
    return [(e, mid is not None) for e, mid in (await s.exec(stmt)).all()]


async def upcoming(
    s: AsyncSession, branch_id: int, now: datetime, limit: int = 5
) -> Sequence[Event]:
    """Meetings not cancelled and not yet closed for sign-in, soonest first."""
    stmt = (
        select(Event)
        .where(Event.branch_id == branch_id, _live())
        .where(col(Event.starts_at) >= now - SIGNIN_CLOSES_AFTER)
        .order_by(col(Event.starts_at), col(Event.id))
        .limit(limit)
    )
    return (await s.exec(stmt)).all()


async def upcoming_expected(
    s: AsyncSession, member_id: int, now: datetime, limit: int = 6
) -> Sequence[Event]:
    """Meetings the member is expected at and not yet closed for sign-in, soonest first."""
    stmt = (
        select(Event)
        .join(Member, expected_at_event())
        .where(col(Member.id) == member_id)
        .where(col(Event.starts_at) >= now - SIGNIN_CLOSES_AFTER)
        .order_by(col(Event.starts_at), col(Event.id))
        .limit(limit)
    )
    return (await s.exec(stmt)).all()


async def is_expected(s: AsyncSession, event_id: int, member_id: int) -> bool:
    stmt = (
        select(Event.id)
        .join(Member, expected_at_event())
        .where(col(Event.id) == event_id, col(Member.id) == member_id)
    )
    return (await s.exec(stmt)).first() is not None


async def find_event(
    s: AsyncSession, branch_id: int, kind: str, starts_at: datetime, party_group: str = ""
) -> Event | None:
    """A meeting (not cancelled) of that kind and group at exactly that time."""
    stmt = select(Event).where(
        Event.branch_id == branch_id,
        Event.kind == kind,
        Event.starts_at == starts_at,
        Event.party_group == party_group,
        _live(),
    )
    return (await s.exec(stmt)).first()


async def planned_in(
    s: AsyncSession,
    branch_id: int,
    kind: str,
    party_group: str,
    period: tuple[datetime, datetime],
    now: datetime,
) -> Sequence[Event]:
    """Meetings of that kind (and 党小组) in [period) still to be held: not cancelled, not
    started, nobody signed in. Rule meetings first, then by time."""
    signed = select(Attendance.event_id).where(
        col(Attendance.status).in_(SIGNED_IN), col(Attendance.event_id) == Event.id
    )
    stmt = (
        select(Event)
        .where(Event.branch_id == branch_id, Event.kind == kind, _live())
        .where(Event.party_group == party_group)
        .where(col(Event.starts_at) >= period[0], col(Event.starts_at) < period[1])
        .where(col(Event.starts_at) > now)
        .where(~signed.exists())
        .order_by(col(Event.rule_key).is_(None), col(Event.starts_at), col(Event.id))
    )
    return (await s.exec(stmt)).all()


async def signed_in_count(s: AsyncSession, event_id: int) -> int:
    stmt = select(func.count()).where(
        Attendance.event_id == event_id, col(Attendance.status).in_(SIGNED_IN)
    )
    return int((await s.exec(stmt)).one())


async def on_leave(s: AsyncSession, event_id: int) -> Sequence[tuple[Member, Attendance]]:
    """Who asked for leave from the meeting, with their 请假 rows, in roster order."""
    stmt = (
        select(Member, Attendance)
        .join(Attendance, col(Attendance.member_id) == Member.id)
        .where(Attendance.event_id == event_id, Attendance.status == AttendanceStatus.LEAVE.value)
        .order_by(col(Member.id))
    )
    return (await s.exec(stmt)).all()


async def create_event(
    s: AsyncSession,
    branch_id: int,
    kind: str,
    starts_at: datetime,
    place: str = "",
    created_by: int | None = None,
    rule_key: str | None = None,
    party_group: str = "",
) -> Event:
    event = Event(
        branch_id=branch_id,
        number=await next_number(s, branch_id),
        kind=kind,
        starts_at=starts_at,
        place=place,
        party_group=party_group,
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
    s: AsyncSession,
    event_id: int,
    member_id: int,
    status: str,
    at: datetime,
    reason: str = "",
    entered_by: int | None = None,
) -> Attendance:
    """Record 出席/迟到/请假, replacing an earlier 请假 by a sign-in. `entered_by`: the
    secretary who entered it afterwards (补签, 补假); None for the member's own."""
    row = await attendance_of(s, event_id, member_id)
    if row is None:
        row = Attendance(
            event_id=event_id,
            member_id=member_id,
            status=status,
            at=at,
            reason=reason,
            entered_by=entered_by,
        )
        s.add(row)
    else:
        row.status, row.at, row.reason, row.entered_by = status, at, reason, entered_by
    await s.flush()
    return row
