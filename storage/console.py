"""看板 sessions: start one from a login link (once), find it by cookie, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Branch, ConsoleSession, Group, Member, Outbox
from storage.upsert import insert_if_new


async def start(
    s: AsyncSession,
    member_id: int,
    login_nonce: str,
    token_hash: str,
    now: datetime,
    expires_at: datetime,
) -> bool:
    """Record a session for a login link's nonce; False when that link was used already."""
    return await insert_if_new(
        s,
        ConsoleSession,
        ["login_nonce"],
        {
            "member_id": member_id,
            "login_nonce": login_nonce,
            "token_hash": token_hash,
            "created_at": now,
            "expires_at": expires_at,
        },
    )


async def find(
    s: AsyncSession, token_hash: str, now: datetime
) -> tuple[ConsoleSession, Member, Branch] | None:
    """The live session with this cookie hash, its member (still active) and their branch."""
    stmt = (
        select(ConsoleSession, Member, Branch)
        .join(Member, col(Member.id) == col(ConsoleSession.member_id))
        .join(Branch, col(Branch.id) == col(Member.branch_id))
        .where(ConsoleSession.token_hash == token_hash)
        .where(col(ConsoleSession.revoked_at).is_(None), ConsoleSession.expires_at > now)
        .where(Member.active)
    )
    return (await s.exec(stmt)).first()


async def revoke(s: AsyncSession, now: datetime, member_id: int | None = None) -> int:
    """End live sessions (of one member, or everyone's); how many were ended."""
    stmt = (
        update(ConsoleSession)
        .where(col(ConsoleSession.revoked_at).is_(None), col(ConsoleSession.expires_at) > now)
        .values(revoked_at=now)
    )
    if member_id is not None:
        stmt = stmt.where(col(ConsoleSession.member_id) == member_id)
    result = await s.exec(stmt)  # type: ignore[call-overload]
    return int(result.rowcount)


async def revoke_by_hash(s: AsyncSession, token_hash: str, now: datetime) -> None:
    """Log out: end the one session."""
    await s.exec(  # type: ignore[call-overload]
        update(ConsoleSession)
        .where(col(ConsoleSession.token_hash) == token_hash)
        .values(revoked_at=now)
    )


_TROUBLE = ("failed", "missed")


def _outbox_branch() -> Any:
    """The branch a push went to: its group's, or its person's."""
    return func.coalesce(Group.branch_id, Member.branch_id)


async def outbox_between(
    s: AsyncSession, since: datetime, until: datetime, branch_id: int | None, limit: int = 300
) -> Sequence[tuple[Outbox, str | None, str | None]]:
    """Pushes due in [since, until) (to one branch's groups and people, or all), failed
    first, then by time; with the target group's or person's name."""
    stmt = (
        select(Outbox, Group.name, Member.name)
        .outerjoin(Group, col(Group.id) == Outbox.group_id)
        .outerjoin(Member, col(Member.id) == Outbox.member_id)
        .where(col(Outbox.due_at) >= since, col(Outbox.due_at) < until)
    )
    if branch_id is not None:
        stmt = stmt.where(_outbox_branch() == branch_id)
    trouble = case((col(Outbox.state).in_(_TROUBLE), 0), else_=1)
    stmt = stmt.order_by(trouble, col(Outbox.due_at), col(Outbox.id)).limit(limit)
    return (await s.exec(stmt)).all()


async def failed_by_branch(s: AsyncSession, since: datetime) -> dict[int | None, int]:
    """Failed or missed pushes due since `since`, counted by branch (None: county-wide)."""
    branch = _outbox_branch()
    stmt = (
        select(branch, func.count())
        .select_from(Outbox)
        .outerjoin(Group, col(Group.id) == Outbox.group_id)
        .outerjoin(Member, col(Member.id) == Outbox.member_id)
        .where(col(Outbox.state).in_(_TROUBLE), col(Outbox.due_at) >= since)
        .group_by(branch)
    )
    return {b: int(n) for b, n in (await s.exec(stmt)).all()}
