"""廉洁自律承诺: the pledges the admin publishes and the members' confirmations.

Whom a pledge expects (every active member of its branch, or of every branch, on the roster
by its date) is storage.accounting's rule, beside the study rule but apart from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Pledge, PledgeConfirmation


def _in_scope(branch_id: int) -> ColumnElement[bool]:
    """Pledges of the branch or the county."""
    return or_(col(Pledge.branch_id).is_(None), Pledge.branch_id == branch_id)


async def create_pledge(
    s: AsyncSession,
    title: str,
    link: str,
    branch_id: int | None,
    due: date | None,
    created_by: int | None,
    *,
    created_at: datetime,
) -> Pledge:
    pledge = Pledge(
        title=title,
        link=link,
        branch_id=branch_id,
        due=due,
        created_by=created_by,
        created_at=created_at,
    )
    s.add(pledge)
    await s.flush()
    return pledge


async def pledge_for_branch(s: AsyncSession, pledge_id: int, branch_id: int) -> Pledge | None:
    """The pledge if it exists and applies to the branch (its own, or county-wide)."""
    stmt = select(Pledge).where(Pledge.id == pledge_id, _in_scope(branch_id))
    return (await s.exec(stmt)).first()


async def pledges_in_scope(s: AsyncSession, branch_id: int) -> Sequence[Pledge]:
    """Every pledge of the branch or the county, newest first."""
    stmt = select(Pledge).where(_in_scope(branch_id)).order_by(col(Pledge.id).desc())
    return (await s.exec(stmt)).all()


async def newest_pledge(s: AsyncSession, branch_id: int | None) -> Pledge | None:
    """The newest pledge visible to a branch (its own or county-wide); None branch: any."""
    stmt = select(Pledge).order_by(col(Pledge.id).desc()).limit(1)
    if branch_id is not None:
        stmt = stmt.where(_in_scope(branch_id))
    return (await s.exec(stmt)).first()


async def confirmed_ids(s: AsyncSession, member_id: int, pledge_ids: Sequence[int]) -> set[int]:
    if not pledge_ids:
        return set()
    stmt = select(PledgeConfirmation.pledge_id).where(
        PledgeConfirmation.member_id == member_id,
        col(PledgeConfirmation.pledge_id).in_(pledge_ids),
    )
    return set((await s.exec(stmt)).all())


async def confirmation_of(
    s: AsyncSession, pledge_id: int, member_id: int
) -> PledgeConfirmation | None:
    stmt = select(PledgeConfirmation).where(
        PledgeConfirmation.pledge_id == pledge_id, PledgeConfirmation.member_id == member_id
    )
    return (await s.exec(stmt)).first()


async def confirm(
    s: AsyncSession, pledge_id: int, member_id: int, at: datetime, late: bool
) -> PledgeConfirmation:
    row = PledgeConfirmation(pledge_id=pledge_id, member_id=member_id, at=at, late=late)
    s.add(row)
    await s.flush()
    return row


async def due_between(s: AsyncSession, first: date, last: date) -> Sequence[Pledge]:
    """Pledges due on a day in [first, last] (for the deadline push)."""
    stmt = select(Pledge).where(col(Pledge.due) >= first, col(Pledge.due) <= last)
    return (await s.exec(stmt.order_by(col(Pledge.id)))).all()
