"""Inbound message ids and the replies given, so a platform's retry changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from qingfeng.storage.models import InboundMessage
from qingfeng.storage.upsert import insert_if_new


async def find(s: AsyncSession, platform: str, message_id: str) -> InboundMessage | None:
    stmt = select(InboundMessage).where(
        InboundMessage.platform == platform, InboundMessage.message_id == message_id
    )
    return (await s.exec(stmt)).first()


async def record(
    s: AsyncSession, platform: str, message_id: str, sender: str, at: datetime, reply: str
) -> bool:
    """Record the id with its reply; False when a concurrent twin recorded it first."""
    values = {
        "platform": platform,
        "message_id": message_id,
        "sender": sender,
        "received_at": at,
        "reply": reply,
    }
    return await insert_if_new(s, InboundMessage, ["platform", "message_id"], values) is not None


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
