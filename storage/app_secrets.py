"""Secrets the app generates once and keeps in the database."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AppSecret


async def find(s: AsyncSession, name: str) -> str | None:
    row = await s.get(AppSecret, name)
    return None if row is None else row.value


async def get_or_create(s: AsyncSession, name: str) -> str:
    """The secret called `name`, made (random, 256 bits) the first time it is asked for."""
    row = await s.get(AppSecret, name)
    if row is not None:
        return row.value
    try:
        # A savepoint: a replica that won the race leaves our transaction usable.
        async with s.begin_nested():
            s.add(AppSecret(name=name, value=secrets.token_urlsafe(32)))
    except IntegrityError:
        pass
    row = await s.get(AppSecret, name, populate_existing=True)
    assert row is not None
    return row.value
