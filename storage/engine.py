"""The async engine and its sessions: SQLite in WAL mode, or PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

_READ_ONLY = "qingfeng_read_only"


def _sqlite_setup(engine: AsyncEngine, busy_timeout: float) -> None:
    """SQLAlchemy's documented recipe for SQLite transactions ("Serializable isolation /
    Savepoints / Transactional DDL" in the pysqlite dialect's docs): the driver's own
    transaction handling off, BEGIN emitted from the "begin" event."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then
        # writes can fail with SQLITE_BUSY instead of waiting its turn.
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Owns the engine; hands out read and write sessions."""

    def __init__(self, url: str, echo: bool = False, busy_timeout: float = 3.0) -> None:
        # busy_timeout: how long a writer waits for SQLite's lock. The platforms give up after
        # 5 s, so waiting longer only turns an apology into silence.
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": busy_timeout}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine, busy_timeout)
        # SQLite has one writer at a time. Queueing this process's writers on an asyncio lock
        # is far cheaper than letting them poll SQLite's lock with its sleeping busy handler
        # (measured: p99 of concurrent check-ins fell from ~1 s to ~0.1 s). Other processes
        # still wait through busy_timeout. PostgreSQL needs no such lock.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @property
    def sqlite_path(self) -> str | None:
        if not self.is_sqlite:
            return None
        return make_url(self.url).database or None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends and rolls back on error.

        Do not open a second write() inside one: on SQLite it would wait for itself.
        """
        lock = self._write_lock or contextlib.nullcontext()
        async with lock, self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only snapshot; on SQLite it does not block writers."""
        async with self._sessions() as session:
            # Closing the session ends the transaction; objects stay readable (detached).
            await session.connection(execution_options={_READ_ONLY: True})
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
