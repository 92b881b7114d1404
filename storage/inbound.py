"""Inbound message ids and the replies given, so a platform's retry changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import InboundMessage
from storage.upsert import insert_if_new


async def reply_to(s: AsyncSession, platform: str, message_id: str) -> str | None:
    """The reply recorded for this message id, or None if it was never seen."""
    stmt = select(InboundMessage.reply).where(*_this(platform, message_id))
    return (await s.exec(stmt)).first()


async def record(
    s: AsyncSession,
    platform: str,
    message_id: str,
    sender: str,
    at: datetime,
    reply: str,
    delivered_at: datetime | None = None,
) -> bool:
    """Record the id with its reply; False when a concurrent twin recorded it first.

    `delivered_at` claims the reply's delivery at once, for a caller that sends it apart
    from the platform's answer (see claim_delivery)."""
    values = {
        "platform": platform,
        "message_id": message_id,
        "sender": sender,
        "received_at": at,
        "reply": reply,
        "delivered_at": delivered_at,
    }
    return await insert_if_new(s, InboundMessage, ["platform", "message_id"], values)


def _this(platform: str, message_id: str) -> tuple[ColumnElement[bool], ...]:
    return (col(InboundMessage.platform) == platform, col(InboundMessage.message_id) == message_id)


async def claim_delivery(s: AsyncSession, platform: str, message_id: str, at: datetime) -> bool:
    """Claim the sending of this message's reply; False when it was claimed before.

    One conditional UPDATE: atomic on PostgreSQL (row lock) and SQLite (write lock), so of
    replicas racing for it exactly one wins. A message never recorded (its reply was an
    apology for a database failure) has nothing to guard: True."""
    claimed = await s.exec(  # type: ignore[call-overload]
        update(InboundMessage)
        .where(*_this(platform, message_id), col(InboundMessage.delivered_at).is_(None))
        .values(delivered_at=at)
    )
    if claimed.rowcount == 1:
        return True
    return await reply_to(s, platform, message_id) is None


async def release_delivery(s: AsyncSession, platform: str, message_id: str) -> None:
    """The reply did not go out after all: a re-delivery of the message may send it."""
    await s.exec(  # type: ignore[call-overload]
        update(InboundMessage).where(*_this(platform, message_id)).values(delivered_at=None)
    )


async def delivered(s: AsyncSession, platform: str, message_id: str) -> bool:
    """Whether this message's reply was already sent apart from the platform's answer."""
    stmt = select(col(InboundMessage.delivered_at)).where(*_this(platform, message_id))
    return (await s.exec(stmt)).first() is not None  # None: no row, or not delivered


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
