"""谈心谈话: record a talk, and who in a branch has not been talked with in a span."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.members import EXPECTED_STATUSES
from storage.models import Branch, Member, Talk


async def add(
    s: AsyncSession, branch_id: int, member_id: int, by_member_id: int, note: str, at: datetime
) -> Talk:
    talk = Talk(
        branch_id=branch_id, member_id=member_id, by_member_id=by_member_id, note=note, at=at
    )
    s.add(talk)
    await s.flush()
    return talk


async def in_span(
    s: AsyncSession, branch_id: int, since: datetime, until: datetime
) -> Sequence[tuple[Talk, Member]]:
    """The branch's talks in [since, until), oldest first, with the member talked with."""
    stmt = (
        select(Talk, Member)
        .join(Member, col(Member.id) == col(Talk.member_id))
        .where(Talk.branch_id == branch_id, Talk.at >= since, Talk.at < until)
        .order_by(col(Talk.at), col(Talk.id))
    )
    return (await s.exec(stmt)).all()


async def for_export(
    s: AsyncSession, branch_ids: Sequence[int] | None, since: datetime, until: datetime
) -> Sequence[tuple[Talk, str, str, str]]:
    """Talks in [since, until) of the branches (None: all): the talk, its branch's name, the
    name of who was talked with and of who recorded it; by branch (id), then time."""
    by = aliased(Member)
    stmt = (
        select(Talk, Branch.name, Member.name, by.name)
        .join(Branch, col(Branch.id) == col(Talk.branch_id))
        .join(Member, col(Member.id) == col(Talk.member_id))
        .join(by, col(by.id) == col(Talk.by_member_id))
        .where(Talk.at >= since, Talk.at < until)
        .order_by(col(Talk.branch_id), col(Talk.at), col(Talk.id))
    )
    if branch_ids is not None:
        stmt = stmt.where(col(Talk.branch_id).in_(branch_ids))
    return (await s.exec(stmt)).all()


async def not_talked(
    s: AsyncSession, branch_id: int, since: datetime, until: datetime
) -> Sequence[Member]:
    """Active 党员 and 预备党员 of the branch without a talk in [since, until), by id."""
    talked = select(Talk.member_id).where(
        Talk.branch_id == branch_id, Talk.at >= since, Talk.at < until
    )
    stmt = (
        select(Member)
        .where(Member.branch_id == branch_id, Member.active)
        .where(col(Member.status).in_(EXPECTED_STATUSES))
        .where(col(Member.id).not_in(talked))
        .order_by(col(Member.id))
    )
    return (await s.exec(stmt)).all()
