"""Chat groups: which branch a group belongs to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Group
from storage.upsert import insert_if_new


async def group_by_chat(s: AsyncSession, platform: str, chat_id: str) -> Group | None:
    stmt = select(Group).where(Group.platform == platform, Group.chat_id == chat_id)
    return (await s.exec(stmt)).first()


async def upsert_group(
    s: AsyncSession, platform: str, chat_id: str, name: str, branch_id: int | None
) -> Group:
    """Create the group, or point it at `branch_id` (绑定本群, config sync)."""
    group = await group_by_chat(s, platform, chat_id)
    if group is None:
        # ON CONFLICT: replicas starting together sync the same config groups at once.
        new = Group(platform=platform, chat_id=chat_id, name=name, branch_id=branch_id)
        await insert_if_new(s, Group, ["platform", "chat_id"], new.model_dump(exclude={"id"}))
        group = await group_by_chat(s, platform, chat_id)  # ours, or the other replica's
        assert group is not None
    group.branch_id = branch_id
    if name:
        group.name = name
    await s.flush()
    return group


async def groups_of_branch(s: AsyncSession, branch_id: int) -> Sequence[Group]:
    stmt = select(Group).where(Group.branch_id == branch_id).order_by(Group.id)
    return (await s.exec(stmt)).all()


async def all_groups(s: AsyncSession) -> Sequence[Group]:
    return (await s.exec(select(Group).order_by(Group.id))).all()
