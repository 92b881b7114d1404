"""Read-only questions the start-up check and the CLI ask of the database."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url

from storage.engine import Database
from storage.migrate import current_revision, head_revision

SchemaState = Literal["missing", "empty", "old", "current"]


def sqlite_file_missing(url: str) -> str | None:
    """The SQLite file `url` names when it does not exist yet, else None.

    Asked before connecting: SQLite creates a missing file on connect, which would leave a
    stray empty database behind a mistyped path."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    path = parsed.database
    if not path or path == ":memory:" or Path(path).exists():
        return None
    return path


async def schema_state(url: str) -> SchemaState:
    """Whether the database at `url` exists and has the current schema."""
    if sqlite_file_missing(url) is not None:
        return "missing"
    db = Database(url)
    try:
        current = await current_revision(db)
    finally:
        await db.dispose()
    if current is None:
        return "empty"
    return "current" if current == head_revision() else "old"
