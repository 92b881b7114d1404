"""Read-only questions the start-up check and the CLI ask of the database."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import Database
from storage.migrate import current_revision, head_revision
from storage.models import Account, Branch, Group, Member

SchemaState = Literal["missing", "empty", "old", "current"]


def sqlite_file_missing(url: str) -> str | None:
    """The SQLite file `url` names when it does not exist yet, else None.

    Asked before connecting: SQLite creates a missing file on connect, which would leave a
    stray empty database behind a mistyped path."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = parsed.database
    if not path or path == ":memory:" or Path(path).exists():
        return None
    return path


async def schema_state(url: str) -> SchemaState:
    """Whether the database at `url` exists and has the current schema."""
    if sqlite_file_missing(url) is not None:
        return "missing"
    db = Database(url)
    try:
        current = await current_revision(db)
    finally:
        await db.dispose()
    if current is None:
        return "empty"
    return "current" if current == head_revision() else "old"


async def branches_without_group(s: AsyncSession) -> list[str]:
    """Branches no chat group belongs to: their reminders have nowhere to go."""
    has_group = select(Group.id).where(Group.branch_id == Branch.id).exists()
    stmt = select(Branch.name).where(sa.not_(has_group)).order_by(col(Branch.id))
    return list((await s.exec(stmt)).all())


async def unbound_per_branch(s: AsyncSession) -> dict[str, int]:
    """Active members with no account on any platform, counted per branch."""
    has_account = select(Account.id).where(Account.member_id == Member.id).exists()
    stmt = (
        select(Branch.name, sa.func.count(col(Member.id)))
        .join(Branch, col(Branch.id) == Member.branch_id)
        .where(col(Member.active).is_(True), sa.not_(has_account))
        .group_by(col(Branch.id), col(Branch.name))
        .order_by(col(Branch.id))
    )
    return {name: int(n) for name, n in (await s.exec(stmt)).all()}


async def account_platforms(s: AsyncSession) -> set[str]:
    """The platforms active members have bound accounts on (direct pushes go there)."""
    stmt = (
        select(Account.platform)
        .join(Member, col(Member.id) == Account.member_id)
        .where(col(Member.active).is_(True))
        .distinct()
    )
    return set((await s.exec(stmt)).all())
