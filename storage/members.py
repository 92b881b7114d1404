"""Branches, members and their platform accounts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Account, Branch, Member, Status
from storage.upsert import insert_if_new

EXPECTED_STATUSES = (Status.MEMBER.value, Status.PROBATIONARY.value)


async def branch_by_id(s: AsyncSession, branch_id: int) -> Branch | None:
    return await s.get(Branch, branch_id)


async def branch_by_name(s: AsyncSession, name: str) -> Branch | None:
    return (await s.exec(select(Branch).where(Branch.name == name))).first()


async def all_branches(s: AsyncSession) -> Sequence[Branch]:
    return (await s.exec(select(Branch).order_by(Branch.id))).all()


async def get_or_create_branch(s: AsyncSession, name: str) -> Branch:
    branch = await branch_by_name(s, name)
    if branch is None:
        # ON CONFLICT: another replica may create the same branch at the same moment.
        await insert_if_new(s, Branch, ["name"], Branch(name=name).model_dump(exclude={"id"}))
        branch = await branch_by_name(s, name)
        assert branch is not None
    return branch


async def member_and_branch_by_account(
    s: AsyncSession, platform: str, external_id: str
) -> tuple[Member, Branch] | tuple[None, None]:
    """The sender and their branch in one query (every message asks)."""
    stmt = (
        select(Member, Branch)
        .join(Account, col(Account.member_id) == Member.id)
        .join(Branch, col(Branch.id) == Member.branch_id)
        .where(Account.platform == platform, Account.external_id == external_id)
        .where(Member.active)
    )
    row = (await s.exec(stmt)).first()
    if row is None:
        return None, None
    member, branch = row
    return member, branch


async def account_of(s: AsyncSession, member_id: int, platform: str) -> Account | None:
    stmt = select(Account).where(Account.member_id == member_id, Account.platform == platform)
    return (await s.exec(stmt)).first()


async def accounts_for(s: AsyncSession, member_ids: Sequence[int], platform: str) -> dict[int, str]:
    """member id -> external id on `platform`, for those who have one."""
    if not member_ids:
        return {}
    stmt = select(Account.member_id, Account.external_id).where(
        Account.platform == platform,
        Account.member_id.in_(member_ids),  # type: ignore[attr-defined]
    )
    return {mid: ext for mid, ext in (await s.exec(stmt)).all()}


async def members_named(s: AsyncSession, name: str) -> Sequence[Member]:
    stmt = select(Member).where(Member.name == name, Member.active)
    return (await s.exec(stmt)).all()


async def bind_account(s: AsyncSession, platform: str, external_id: str, member_id: int) -> None:
    s.add(Account(platform=platform, external_id=external_id, member_id=member_id))
    await s.flush()


async def set_account(s: AsyncSession, platform: str, external_id: str, member_id: int) -> None:
    """Make `external_id` the member's one account on `platform` (roster import)."""
    mine = await account_of(s, member_id, platform)
    if mine is not None and mine.external_id == external_id:
        return
    taken = (
        await s.exec(
            select(Account).where(Account.platform == platform, Account.external_id == external_id)
        )
    ).first()
    if taken is not None:
        await s.delete(taken)
    if mine is not None:
        await s.delete(mine)
    await s.flush()
    s.add(Account(platform=platform, external_id=external_id, member_id=member_id))
    await s.flush()


async def named_in_branch(s: AsyncSession, branch_id: int, name: str) -> Sequence[Member]:
    """Active members of the branch with that name (two people may share one)."""
    stmt = select(Member).where(Member.branch_id == branch_id, Member.name == name, Member.active)
    return (await s.exec(stmt.order_by(col(Member.id)))).all()


async def party_groups(s: AsyncSession) -> dict[int, list[str]]:
    """branch id -> its 党小组 (of 党员 and 预备党员 on the roster), by name."""
    stmt = (
        select(Member.branch_id, Member.party_group)
        .where(Member.party_group != "", Member.active)
        .where(col(Member.status).in_(EXPECTED_STATUSES))
        .distinct()
    )
    out: dict[int, list[str]] = {}
    # Sorted here, not by the database: PostgreSQL's collation orders Chinese its own way.
    for branch_id, group in sorted((await s.exec(stmt)).all()):
        out.setdefault(branch_id, []).append(group)
    return out


async def branches_with_committee(s: AsyncSession) -> set[int]:
    """Branches whose roster names a 支委 (a 支委会 expects only the committee)."""
    stmt = select(Member.branch_id).where(Member.committee != "", Member.active).distinct()
    return set((await s.exec(stmt)).all())


async def member_by_phone(s: AsyncSession, phone: str) -> Member | None:
    return (await s.exec(select(Member).where(Member.phone == phone))).first()


async def all_members(s: AsyncSession) -> Sequence[tuple[Member, Branch]]:
    stmt = (
        select(Member, Branch)
        .join(Branch, Branch.id == Member.branch_id)
        .order_by(Branch.id, Member.id)
    )
    return (await s.exec(stmt)).all()


async def all_accounts(s: AsyncSession) -> dict[tuple[int, str], str]:
    """(member id, platform) -> external id, for the roster export."""
    rows = (await s.exec(select(Account.member_id, Account.platform, Account.external_id))).all()
    return {(mid, platform): ext for mid, platform, ext in rows}


async def count_members(s: AsyncSession) -> int:
    return (await s.exec(select(func.count()).select_from(Member))).one()
