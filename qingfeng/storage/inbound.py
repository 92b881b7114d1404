"""Inbound message ids and the replies given, so a platform's retry changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from qingfeng.storage.models import InboundMessage
from qingfeng.storage.prepared import Prepared, PreparedInsert

_T = InboundMessage.__table__  # type: ignore[attr-defined]
_REPLY = Prepared(
    select(_T.c.reply).where(
        _T.c.platform == bindparam("platform"), _T.c.message_id == bindparam("id")
    )
)
_RECORD = PreparedInsert(
    _T, ["platform", "message_id"], ["platform", "message_id", "sender", "received_at", "reply"]
)


async def reply_to(s: AsyncSession, platform: str, message_id: str) -> str | None:
    """The reply recorded for this message id, or None if it was never seen."""
    row = await _REPLY.first(s, platform=platform, id=message_id)
    return None if row is None else row[0]  # type: ignore[no-any-return]


async def record(
    s: AsyncSession, platform: str, message_id: str, sender: str, at: datetime, reply: str
) -> bool:
    """Record the id with its reply; False when a concurrent twin recorded it first."""
    new_id = await _RECORD.insert(
        s, platform=platform, message_id=message_id, sender=sender, received_at=at, reply=reply
    )
    return new_id is not None


async def count_replies_since(
    s: AsyncSession, platform: str, sender: str, since: datetime, containing: str
) -> int:
    """How many replies to this sender since `since` contained `containing`."""
    stmt = (
        select(func.count())
        .select_from(InboundMessage)
        .where(InboundMessage.platform == platform, InboundMessage.sender == sender)
        .where(col(InboundMessage.received_at) >= since)
        .where(col(InboundMessage.reply).contains(containing))
    )
    return (await s.exec(stmt)).one()
