"""Database leases: at most one holder per name, until the lease expires or is released."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Lease


async def acquire(s: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew `name` for `holder` until now + ttl; False while another holds it."""
    # One conditional UPDATE: atomic on PostgreSQL (row lock) and SQLite (write lock).
    taken = await s.exec(  # type: ignore[call-overload]
        update(Lease)
        .where(
            col(Lease.name) == name,
            or_(col(Lease.holder) == holder, col(Lease.expires_at) <= now),
        )
        .values(
            holder=holder,
            expires_at=now + ttl,
            # A renewal keeps the start of the tenure; a takeover starts a new one.
            acquired_at=case((col(Lease.holder) == holder, col(Lease.acquired_at)), else_=now),
        )
    )
    if taken.rowcount == 1:
        return True
    if await s.get(Lease, name) is not None:
        return False  # held by someone else, not yet expired
    try:
        async with s.begin_nested():  # a racing replica may insert first
            s.add(Lease(name=name, holder=holder, expires_at=now + ttl, acquired_at=now))
    except IntegrityError:
        return False
    return True


async def release(s: AsyncSession, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at once, so another replica need not wait for it to expire."""
    await s.exec(  # type: ignore[call-overload]
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder)
        .values(expires_at=now)
    )


async def holder_of(s: AsyncSession, name: str, now: datetime) -> str | None:
    """The current holder of `name`, or None when it is free."""
    row = (await s.exec(select(Lease).where(Lease.name == name))).first()
    if row is None or row.expires_at <= now:
        return None
    return row.holder
