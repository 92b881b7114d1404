"""Study tasks and their confirmations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import StudyConfirmation, StudyTask


def _in_scope(branch_id: int):  # type: ignore[no-untyped-def]
    return or_(col(StudyTask.branch_id).is_(None), StudyTask.branch_id == branch_id)


async def task_for_branch(s: AsyncSession, task_id: int, branch_id: int) -> StudyTask | None:
    """The task if it exists and applies to the branch (its own, or county-wide)."""
    stmt = select(StudyTask).where(StudyTask.id == task_id, _in_scope(branch_id))
    return (await s.exec(stmt)).first()


async def open_tasks(s: AsyncSession, branch_id: int, today: date) -> Sequence[StudyTask]:
    """Tasks of the branch or the county that are not past their due date, newest first."""
    stmt = (
        select(StudyTask)
        .where(_in_scope(branch_id))
        .where(or_(col(StudyTask.due).is_(None), col(StudyTask.due) >= today))
        .order_by(col(StudyTask.id).desc())
    )
    return (await s.exec(stmt)).all()


async def confirmed_task_ids(
    s: AsyncSession, member_id: int, task_ids: Sequence[int]
) -> dict[int, StudyConfirmation]:
    if not task_ids:
        return {}
    stmt = select(StudyConfirmation).where(
        StudyConfirmation.member_id == member_id,
        col(StudyConfirmation.task_id).in_(task_ids),
    )
    return {c.task_id: c for c in (await s.exec(stmt)).all()}


async def confirmation_of(
    s: AsyncSession, task_id: int, member_id: int
) -> StudyConfirmation | None:
    stmt = select(StudyConfirmation).where(
        StudyConfirmation.task_id == task_id, StudyConfirmation.member_id == member_id
    )
    return (await s.exec(stmt)).first()


async def confirm(
    s: AsyncSession, task_id: int, member_id: int, at: datetime, late: bool
) -> StudyConfirmation:
    row = StudyConfirmation(task_id=task_id, member_id=member_id, at=at, late=late)
    s.add(row)
    await s.flush()
    return row


async def create_task(
    s: AsyncSession,
    title: str,
    link: str,
    branch_id: int | None,
    due: date | None,
    created_by: int | None,
    *,
    created_at: datetime,
) -> StudyTask:
    task = StudyTask(
        title=title,
        link=link,
        branch_id=branch_id,
        due=due,
        created_by=created_by,
        created_at=created_at,
    )
    s.add(task)
    await s.flush()
    return task
