"""Chat groups: which branch a group belongs to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Group
from storage.prepared import Prepared
from storage.rows import GroupRow, from_select
from storage.upsert import insert_if_new

_T = Group.__table__  # type: ignore[attr-defined]
_BY_CHAT = Prepared(
    select(_T).where(_T.c.platform == bindparam("platform"), _T.c.chat_id == bindparam("chat"))
)


async def group_by_chat(s: AsyncSession, platform: str, chat_id: str) -> GroupRow | None:
    """A read-only snapshot of the group (every group message asks); see `group_for_update`."""
    row = await _BY_CHAT.first(s, platform=platform, chat=chat_id)
    return None if row is None else from_select(GroupRow, row)


async def group_for_update(s: AsyncSession, platform: str, chat_id: str) -> Group | None:
    """The group as a session object, for changing it."""
    stmt = select(Group).where(Group.platform == platform, Group.chat_id == chat_id)
    return (await s.exec(stmt)).first()


async def upsert_group(
    s: AsyncSession, platform: str, chat_id: str, name: str, branch_id: int | None
) -> Group:
    """Create the group, or point it at `branch_id` (绑定本群, config sync)."""
    group = await group_for_update(s, platform, chat_id)
    if group is None:
        # ON CONFLICT: replicas starting together sync the same config groups at once.
        new = Group(platform=platform, chat_id=chat_id, name=name, branch_id=branch_id)
        await insert_if_new(s, Group, ["platform", "chat_id"], new.model_dump(exclude={"id"}))
        group = await group_for_update(s, platform, chat_id)  # ours, or the other replica's
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
