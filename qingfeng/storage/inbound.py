"""Inbound message ids and the replies given, so a platform's retry changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from qingfeng.storage.models import InboundMessage


async def find(s: AsyncSession, platform: str, message_id: str) -> InboundMessage | None:
    stmt = select(InboundMessage).where(
        InboundMessage.platform == platform, InboundMessage.message_id == message_id
    )
    return (await s.exec(stmt)).first()


async def claim(
    s: AsyncSession, platform: str, message_id: str, sender: str, at: datetime
) -> InboundMessage:
    """Record the id first; a concurrent duplicate then fails on the unique key."""
    row = InboundMessage(platform=platform, message_id=message_id, sender=sender, received_at=at)
    s.add(row)
    await s.flush()
    return row
