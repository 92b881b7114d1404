"""Queries the reminder rules need: rule events, who is missing, the monthly figures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from qingfeng.storage.members import EXPECTED_STATUSES
from qingfeng.storage.models import (
    Account,
    Attendance,
    Branch,
    Event,
    Member,
    Role,
    StudyConfirmation,
    StudyTask,
)


async def ensure_rule_event(
    s: AsyncSession,
    branch_id: int,
    kind: str,
    starts_at: datetime,
    place: str,
    rule_key: str,
    period: tuple[datetime, datetime],
    now: datetime,
) -> bool:
    """Create the rule's event once (by rule_key), unless the branch already scheduled that
    kind itself in the same period. True when a row was written."""
    own = select(Event.id).where(
        Event.branch_id == branch_id,
        Event.kind == kind,
        col(Event.rule_key).is_(None),
        col(Event.starts_at) >= period[0],
        col(Event.starts_at) < period[1],
    )
    if (await s.exec(own)).first() is not None:
        return False
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Event)
        .values(
            branch_id=branch_id,
            kind=kind,
            starts_at=starts_at,
            place=place,
            rule_key=rule_key,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["rule_key"])
    )
    result = await s.exec(stmt)  # type: ignore[call-overload]
    return bool(result.rowcount)


async def events_between(
    s: AsyncSession, start: datetime, end: datetime
) -> Sequence[tuple[Event, Branch]]:
    stmt = (
        select(Event, Branch)
        .join(Branch, col(Branch.id) == Event.branch_id)
        .where(col(Event.starts_at) >= start, col(Event.starts_at) < end)
        .order_by(col(Event.starts_at), col(Event.id))
    )
    return (await s.exec(stmt)).all()


async def secretaries(s: AsyncSession, branch_id: int | None = None) -> Sequence[Member]:
    """书记 of one branch, or of every branch."""
    stmt = select(Member).where(Member.role == Role.SECRETARY.value, Member.active)
    if branch_id is not None:
        stmt = stmt.where(Member.branch_id == branch_id)
    return (await s.exec(stmt.order_by(col(Member.branch_id), col(Member.id)))).all()


async def event_absentees(s: AsyncSession, event: Event) -> Sequence[Member]:
    """Expected members of the event's branch with no attendance row (缺席)."""
    stmt = (
        select(Member)
        .outerjoin(
            Attendance,
            sa.and_(Attendance.member_id == Member.id, Attendance.event_id == event.id),
        )
        .where(Member.branch_id == event.branch_id, Member.active)
        .where(col(Member.status).in_(EXPECTED_STATUSES))
        .where(col(Attendance.id).is_(None))
        .order_by(col(Member.id))
    )
    return (await s.exec(stmt)).all()


async def unconfirmed(s: AsyncSession, task_id: int, branch_id: int) -> Sequence[Member]:
    """Active members of the branch who have not confirmed the task."""
    stmt = (
        select(Member)
        .outerjoin(
            StudyConfirmation,
            sa.and_(StudyConfirmation.member_id == Member.id, StudyConfirmation.task_id == task_id),
        )
        .where(Member.branch_id == branch_id, Member.active)
        .where(col(StudyConfirmation.id).is_(None))
        .order_by(col(Member.id))
    )
    return (await s.exec(stmt)).all()


async def tasks_due_between(s: AsyncSession, first: date, last: date) -> Sequence[StudyTask]:
    stmt = select(StudyTask).where(col(StudyTask.due) >= first, col(StudyTask.due) <= last)
    return (await s.exec(stmt.order_by(col(StudyTask.id)))).all()


async def long_absent(
    s: AsyncSession, branch_id: int, start: datetime, end: datetime
) -> Sequence[Member]:
    """Expected members, on the roster since `start`, with no attendance (not even 请假) at
    any of the branch's events in [start, end); empty when the branch held none."""
    events = select(Event.id).where(
        Event.branch_id == branch_id, col(Event.starts_at) >= start, col(Event.starts_at) < end
    )
    if (await s.exec(events.limit(1))).first() is None:
        return []
    attended = select(Attendance.member_id).where(col(Attendance.event_id).in_(events))
    stmt = (
        select(Member)
        .where(Member.branch_id == branch_id, Member.active)
        .where(col(Member.status).in_(EXPECTED_STATUSES))
        .where(col(Member.created_at) <= start)
        .where(col(Member.id).not_in(attended))
        .order_by(col(Member.id))
    )
    return (await s.exec(stmt)).all()


async def accounts_of_member(s: AsyncSession, member_id: int) -> Sequence[Account]:
    stmt = select(Account).where(Account.member_id == member_id).order_by(col(Account.id))
    return (await s.exec(stmt)).all()
