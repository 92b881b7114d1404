"""INSERT ... ON CONFLICT DO NOTHING on either backend: one statement to write-if-new."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


async def insert_if_new(
    s: AsyncSession, model: Any, conflict_on: list[str], values: dict[str, Any]
) -> int | None:
    """Insert a row; its id, or None when a row with the same unique key already exists."""
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    stmt = insert_if_new_statement(dialect, model, conflict_on, values)
    return (await s.exec(stmt)).scalar_one_or_none()  # type: ignore[call-overload]


def insert_if_new_statement(
    dialect: str,
    target: Any,
    conflict_on: Sequence[str],
    values: dict[str, Any],
    returning: bool = True,
) -> Any:
    """INSERT … ON CONFLICT DO NOTHING [RETURNING id] for a model or table, on `dialect`."""
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(target).values(**values)
    stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict_on))
    if not returning:
        return stmt
    return stmt.returning(target.c.id if isinstance(target, Table) else target.id)
