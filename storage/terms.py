"""换届: the elections of each branch's committee, kept as history."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import BranchTerm


class Recorded(StrEnum):
    NEW = "新登记"
    UPDATED = "更新任期"
    SAME = "已登记，无变化"


async def find(s: AsyncSession, branch_id: int, elected_on: date) -> BranchTerm | None:
    stmt = select(BranchTerm).where(
        BranchTerm.branch_id == branch_id, BranchTerm.elected_on == elected_on
    )
    return (await s.exec(stmt)).first()


async def record(
    s: AsyncSession, branch_id: int, elected_on: date, years: int, source: str, now: datetime
) -> Recorded:
    """Record an election; the same date again only changes the term's length."""
    term = await find(s, branch_id, elected_on)
    if term is None:
        s.add(
            BranchTerm(
                branch_id=branch_id,
                elected_on=elected_on,
                years=years,
                source=source[:200],
                recorded_at=now,
            )
        )
        await s.flush()
        return Recorded.NEW
    if term.years == years:
        return Recorded.SAME
    term.years = years
    term.source = source[:200]
    term.recorded_at = now
    s.add(term)
    await s.flush()
    return Recorded.UPDATED


async def remove(s: AsyncSession, branch_id: int, elected_on: date) -> bool:
    """Delete one record (entered by mistake); whether there was one."""
    term = await find(s, branch_id, elected_on)
    if term is None:
        return False
    await s.delete(term)
    await s.flush()
    return True


async def latest(s: AsyncSession, branch_ids: Iterable[int] | None = None) -> dict[int, BranchTerm]:
    """Each branch's current term: its latest election (a later one supersedes)."""
    stmt = select(BranchTerm).order_by(col(BranchTerm.branch_id), col(BranchTerm.elected_on))
    if branch_ids is not None:
        stmt = stmt.where(col(BranchTerm.branch_id).in_(list(branch_ids)))
    # Ordered by date, so the last one seen of each branch wins.
    return {t.branch_id: t for t in (await s.exec(stmt)).all()}
