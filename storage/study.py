"""Study tasks and their confirmations.

Who a task expects (its branch, its audience, joined by its date) is storage.accounting's
rule; here a member sees the tasks of their branch and the county meant for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.members import EXPECTED_STATUSES
from storage.models import StudyAudience, StudyConfirmation, StudyTask


def _in_scope(branch_id: int, status: str | None = None) -> ColumnElement[bool]:
    """Tasks of the branch or the county; with `status`, only those meant for that 身份."""
    branch = or_(col(StudyTask.branch_id).is_(None), StudyTask.branch_id == branch_id)
    if status is None or status in EXPECTED_STATUSES:
        return branch
    return and_(branch, StudyTask.audience == StudyAudience.ALL.value)


async def task_for_branch(
    s: AsyncSession, task_id: int, branch_id: int, status: str | None = None
) -> StudyTask | None:
    """The task if it exists and applies to the branch (its own, or county-wide), and
    with `status` to a member of that 身份."""
    stmt = select(StudyTask).where(StudyTask.id == task_id, _in_scope(branch_id, status))
    return (await s.exec(stmt)).first()


async def open_tasks(
    s: AsyncSession, branch_id: int, today: date, status: str | None = None
) -> Sequence[StudyTask]:
    """Tasks of the branch or the county (with `status`: meant for that 身份) that are not
    past their due date, newest first."""
    stmt = (
        select(StudyTask)
        .where(_in_scope(branch_id, status))
        .where(or_(col(StudyTask.due).is_(None), col(StudyTask.due) >= today))
        .order_by(col(StudyTask.id).desc())
    )
    return (await s.exec(stmt)).all()


async def newest_task(s: AsyncSession, branch_id: int | None) -> StudyTask | None:
    """The newest task visible to a branch (its own or county-wide); None branch: any."""
    stmt = select(StudyTask).order_by(col(StudyTask.id).desc()).limit(1)
    if branch_id is not None:
        stmt = stmt.where(_in_scope(branch_id))
    return (await s.exec(stmt)).first()


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
    audience: str = StudyAudience.PARTY.value,
) -> StudyTask:
    task = StudyTask(
        title=title,
        link=link,
        branch_id=branch_id,
        due=due,
        audience=audience,
        created_by=created_by,
        created_at=created_at,
    )
    s.add(task)
    await s.flush()
    return task
