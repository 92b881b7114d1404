"""INSERT ... ON CONFLICT DO NOTHING on either backend: one statement to write-if-new."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


async def insert_if_new(
    s: AsyncSession, model: Any, conflict_on: list[str], values: dict[str, Any]
) -> int | None:
    """Insert a row; its id, or None when a row with the same unique key already exists."""
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = (
        module.insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_on)
        .returning(model.id)
    )
    return (await s.exec(stmt)).scalar_one_or_none()  # type: ignore[call-overload]
