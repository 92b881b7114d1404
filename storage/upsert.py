"""INSERT ... ON CONFLICT DO NOTHING on either backend: one statement to write-if-new."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


async def insert_if_new(
    s: AsyncSession, model: Any, conflict_on: list[str], values: dict[str, Any]
) -> bool:
    """Insert a row unless one with the same unique key exists; whether it was inserted."""
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model.__table__).values(**values)
    stmt = stmt.on_conflict_do_nothing(index_elements=conflict_on)
    result = await s.exec(stmt)  # type: ignore[call-overload]
    return result.rowcount == 1  # type: ignore[no-any-return]
