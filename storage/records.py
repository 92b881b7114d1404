"""One member's own record over a period (the 我的 command), counted by the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.events import SIGNIN_CLOSES_AFTER
from storage.models import (
    Attendance,
    AttendanceStatus,
    CheckIn,
    Event,
    StudyConfirmation,
    StudyTask,
)
from storage.study import _in_scope


@dataclass
class MemberRecord:
    checkins_on_time: int = 0
    checkins_late: int = 0
    events: dict[str, int] = field(default_factory=dict)  # AttendanceStatus value -> count
    study_confirmed: int = 0
    study_late: int = 0
    study_missing: int = 0


async def member_record(
    s: AsyncSession,
    member_id: int,
    branch_id: int,
    first_day: date,
    last_day: date,
    start: datetime,
    end: datetime,
    now: datetime,
) -> MemberRecord:
    """Counts for [start, end) (UTC instants) and [first_day, last_day] (local dates)."""
    rec = MemberRecord()
    on_time, late = (
        await s.exec(
            select(
                func.coalesce(func.sum(case((col(CheckIn.on_time), 1), else_=0)), 0),
                func.coalesce(func.sum(case((col(CheckIn.on_time), 0), else_=1)), 0),
            ).where(
                CheckIn.member_id == member_id,
                col(CheckIn.day) >= first_day,
                col(CheckIn.day) <= last_day,
            )
        )
    ).one()
    rec.checkins_on_time, rec.checkins_late = int(on_time), int(late)

    # Events whose sign-in has closed: no attendance row means 缺席.
    status = func.coalesce(Attendance.status, AttendanceStatus.ABSENT.value)
    rows = (
        await s.exec(
            select(status, func.count())
            .select_from(Event)
            .outerjoin(
                Attendance,
                and_(Attendance.event_id == Event.id, Attendance.member_id == member_id),
            )
            .where(Event.branch_id == branch_id)
            .where(col(Event.starts_at) >= start, col(Event.starts_at) < end)
            .where(col(Event.starts_at) <= now - SIGNIN_CLOSES_AFTER)
            .group_by(status)
        )
    ).all()
    rec.events = {st: int(n) for st, n in rows}

    confirmed, late_n, total = (
        await s.exec(
            select(
                func.count(StudyConfirmation.id),
                func.coalesce(func.sum(case((col(StudyConfirmation.late), 1), else_=0)), 0),
                func.count(StudyTask.id),
            )
            .select_from(StudyTask)
            .outerjoin(
                StudyConfirmation,
                and_(
                    StudyConfirmation.task_id == StudyTask.id,
                    StudyConfirmation.member_id == member_id,
                ),
            )
            .where(_in_scope(branch_id))
            .where(col(StudyTask.created_at) >= start, col(StudyTask.created_at) < end)
        )
    ).one()
    rec.study_confirmed = int(confirmed) - int(late_n)
    rec.study_late = int(late_n)
    rec.study_missing = int(total) - int(confirmed)
    return rec
