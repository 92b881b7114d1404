"""What every incoming message needs first, in one statement: has this message id been
answered before, who sent it (an active member and their branch), and which group it
came from."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, literal, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Account, Branch, Group, InboundMessage, Member


class Arrival(NamedTuple):
    prior_reply: str | None  # the reply recorded for this message id; None: never seen
    member: Member | None  # the sender, if an active member with this account
    branch: Branch | None  # the sender's branch
    group: Group | None  # the group it was sent in, if known


async def arrival(
    s: AsyncSession, platform: str, message_id: str, sender_id: str, chat_id: str | None
) -> Arrival:
    """One row, whatever is missing: each part is joined to a one-row select with LEFT
    JOIN (unique keys, so it never multiplies) and comes back None when absent.
    `chat_id` None: a direct chat, no group."""
    prior = (
        select(InboundMessage.reply)
        .where(
            col(InboundMessage.platform) == platform,
            col(InboundMessage.message_id) == message_id,
        )
        .scalar_subquery()
    )
    one = select(literal(1).label("one")).subquery()
    stmt = (
        select(prior.label("prior"), Member, Branch, Group)
        .select_from(one)
        .outerjoin(
            Account,
            and_(col(Account.platform) == platform, col(Account.external_id) == sender_id),
        )
        .outerjoin(Member, and_(col(Member.id) == Account.member_id, col(Member.active)))
        .outerjoin(Branch, col(Branch.id) == Member.branch_id)
        # chat_id None compares as IS NULL, which no group matches (the column is NOT NULL).
        .outerjoin(Group, and_(col(Group.platform) == platform, col(Group.chat_id) == chat_id))
    )
    row = (await s.exec(stmt)).one()
    return Arrival(row[0], row[1], row[2], row[3])
