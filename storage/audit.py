"""The history of changes to people (member_changes), and unbinding a person who leaves."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Account, MemberChange


async def record(s: AsyncSession, changes: Sequence[MemberChange]) -> None:
    s.add_all(changes)
    await s.flush()


async def history(s: AsyncSession, phone: str | None = None) -> Sequence[MemberChange]:
    """Changes in the order they were made; of one person when `phone` is given."""
    stmt = select(MemberChange)
    if phone is not None:
        stmt = stmt.where(MemberChange.phone == phone)
    return (await s.exec(stmt.order_by(col(MemberChange.at), col(MemberChange.id)))).all()


async def unbind_all(
    s: AsyncSession, member_id: int, platforms: Sequence[str] | None = None
) -> int:
    """Remove the member's platform accounts (all, or those of `platforms`): one who left,
    or `member unbind`; return how many."""
    stmt = delete(Account).where(col(Account.member_id) == member_id)
    if platforms is not None:
        stmt = stmt.where(col(Account.platform).in_(platforms))
    result = await s.exec(stmt)  # type: ignore[call-overload]
    await s.flush()
    return int(result.rowcount or 0)
