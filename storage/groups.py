"""Chat groups: which branch a group belongs to."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Group, Outbox, OutboxState
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


def placeholder_chat_id(name: str) -> str:
    """The chat id a config group without one is kept under until it is filled in."""
    return f"name:{name}"


async def adopt_placeholder(s: AsyncSession, platform: str, name: str, chat_id: str) -> None:
    """A config group's chat_id filled in later: the placeholder row becomes that group.

    Its id, and so its outbox history and keys, carry over; a second row would have every
    push queued twice. When the real row exists as well (绑定本群 in the meantime), the
    placeholder's history moves onto it, its pending copies are skipped, and it goes.
    """
    old = await group_by_chat(s, platform, placeholder_chat_id(name))
    if old is None:
        return
    real = await group_by_chat(s, platform, chat_id)
    if real is None:
        old.chat_id = chat_id
        s.add(old)
        await s.flush()
        return
    mine = col(Outbox.group_id) == old.id
    skip = (
        sa.update(Outbox)
        .where(mine, col(Outbox.state) == OutboxState.PENDING.value)
        .values(state=OutboxState.SKIPPED.value, last_error="群已填写 chat_id，此重复推送已取消")
        .execution_options(synchronize_session=False)
    )
    await s.exec(skip)  # type: ignore[call-overload]
    move = (
        sa.update(Outbox)
        .where(mine)
        .values(group_id=real.id)
        .execution_options(synchronize_session=False)
    )
    await s.exec(move)  # type: ignore[call-overload]
    await s.delete(old)
    await s.flush()
