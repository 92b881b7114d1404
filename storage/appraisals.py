"""民主评议党员: each member's 评定等次 for a year, and which branches held the yearly meetings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.events import SIGNED_IN
from storage.members import EXPECTED_STATUSES
from storage.models import Appraisal, Attendance, Branch, Event, Member

GRADES = ("优秀", "合格", "基本合格", "不合格")


async def set_grade(
    s: AsyncSession,
    member: Member,
    year: int,
    grade: str,
    by_member_id: int | None,
    at: datetime,
) -> str | None:
    """Record the member's grade for the year, replacing one already there; returns the
    grade it replaced (None: the first)."""
    assert member.id is not None
    stmt = select(Appraisal).where(Appraisal.member_id == member.id, Appraisal.year == year)
    row = (await s.exec(stmt)).first()
    before = row.grade if row is not None else None
    if row is None:
        row = Appraisal(branch_id=member.branch_id, member_id=member.id, year=year, grade=grade)
    row.grade, row.by_member_id, row.at = grade, by_member_id, at
    row.branch_id = member.branch_id
    s.add(row)
    await s.flush()
    return before


async def grades_of(s: AsyncSession, member_id: int, years: Sequence[int]) -> dict[int, str]:
    """The member's grade by year, for the years given that have one."""
    stmt = select(Appraisal.year, Appraisal.grade).where(
        Appraisal.member_id == member_id, col(Appraisal.year).in_(list(years))
    )
    return dict((await s.exec(stmt)).all())


async def of_branch(
    s: AsyncSession, branch_id: int, year: int
) -> Sequence[tuple[Appraisal, Member]]:
    """The branch's grades of the year, with their members, in roster order."""
    stmt = (
        select(Appraisal, Member)
        .join(Member, col(Member.id) == col(Appraisal.member_id))
        .where(Appraisal.branch_id == branch_id, Appraisal.year == year)
        .order_by(col(Member.id))
    )
    return (await s.exec(stmt)).all()


async def ungraded(s: AsyncSession, branch_id: int, year: int) -> Sequence[Member]:
    """Active 党员 and 预备党员 of the branch without a grade for the year, by id."""
    graded = select(Appraisal.member_id).where(Appraisal.year == year)
    stmt = (
        select(Member)
        .where(Member.branch_id == branch_id, Member.active)
        .where(col(Member.status).in_(EXPECTED_STATUSES))
        .where(col(Member.id).not_in(graded))
        .order_by(col(Member.id))
    )
    return (await s.exec(stmt)).all()


async def for_export(
    s: AsyncSession, branch_ids: Sequence[int] | None, first_year: int, last_year: int
) -> Sequence[tuple[Appraisal, Member, Branch, Member | None]]:
    """Grades of the years, for the branches (None: every one), with member, branch and
    the person who entered each; by year, branch, roster order."""
    by = aliased(Member)
    stmt = (
        select(Appraisal, Member, Branch, by)
        .join(Member, col(Member.id) == col(Appraisal.member_id))
        .join(Branch, col(Branch.id) == col(Appraisal.branch_id))
        .outerjoin(by, col(by.id) == col(Appraisal.by_member_id))
        .where(col(Appraisal.year) >= first_year, col(Appraisal.year) <= last_year)
        .order_by(col(Appraisal.year), col(Branch.id), col(Member.id))
    )
    if branch_ids is not None:
        stmt = stmt.where(col(Appraisal.branch_id).in_(list(branch_ids)))
    return (await s.exec(stmt)).all()


async def branches_without(
    s: AsyncSession, kind: str, since: datetime, until: datetime
) -> Sequence[Branch]:
    """Branches that have not held a meeting of `kind` in [since, until): held means not
    cancelled, started in the span, and at least one member signed in (出席 or 迟到)."""
    held = (
        select(Event.branch_id)
        .join(Attendance, col(Attendance.event_id) == col(Event.id))
        .where(Event.kind == kind, col(Event.cancelled_at).is_(None))
        .where(col(Event.starts_at) >= since, col(Event.starts_at) < until)
        .where(col(Attendance.status).in_(SIGNED_IN))
    )
    stmt = select(Branch).where(col(Branch.id).not_in(held)).order_by(col(Branch.id))
    return (await s.exec(stmt)).all()
