"""The async engine and its sessions: SQLite in WAL mode, or PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import configure_mappers
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.checkpoints import BACKSTOP_PAGES
from storage.prepared import as_sqlalchemy_error, attach_connection, forget_connection
from storage.sqlite_driver import BEGIN_WRITE, OneTripConnection, OneTripDBAPI

_READ_ONLY = "qingfeng_read_only"


def _sqlite_setup(engine: AsyncEngine, busy_timeout: float) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # see storage/checkpoints
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then
        # writes can fail with SQLITE_BUSY instead of waiting its turn.
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        elif not conn.connection.dbapi_connection.writing:
            conn.exec_driver_sql(BEGIN_WRITE)
        # else: Database.write() began it on the held writer; the ORM joins in


def _session_class() -> type[Session]:
    """A Session class of this Database's own, so its listener does not pile up on a shared
    class as tests create databases."""

    class QingfengSession(Session):
        pass

    @event.listens_for(QingfengSession, "after_transaction_end")
    def _ended(session: Session, _transaction: Any) -> None:
        # The connection goes back to the pool; the next transaction may get another one.
        forget_connection(session)

    return QingfengSession


class Database:
    """Owns the engine; hands out read and write sessions."""

    def __init__(self, url: str, echo: bool = False, busy_timeout: float = 3.0) -> None:
        # busy_timeout: how long a writer waits for SQLite's lock. The platforms give up after
        # 5 s, so waiting longer only turns an apology into silence.
        self.url = url
        # Instances built from prepared rows (storage/prepared.py) need the mappers set up,
        # which the ORM otherwise does lazily at its first query.
        configure_mappers()
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            # check_same_thread: prepared statements run on this connection from the event loop's
            # thread (storage/prepared.py); aiosqlite's thread and the loop never use it at once.
            kwargs["connect_args"] = {"timeout": busy_timeout, "check_same_thread": False}
            kwargs["module"] = OneTripDBAPI(int(busy_timeout * 1000))
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
        session_class = _session_class()
        self._sessions = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            sync_session_class=session_class,
            expire_on_commit=False,
        )
        # SQLite's writers take turns on the lock above, so they share one connection, kept
        # open: a session that checks a connection out of the pool and back costs ~400 µs,
        # one on a held connection ~35 µs, and every message is a write. write() begins
        # SQLite's transaction itself; when a handler uses the ORM, the session begins its
        # own on the same connection (the begin listener sees SQLite's already open), and
        # write() commits or rolls back through it. Handlers never commit a write() session
        # themselves; savepoints (begin_nested) work as usual.
        self._writer: tuple[AsyncConnection, OneTripConnection] | None = None
        self._joined = async_sessionmaker(
            class_=AsyncSession, sync_session_class=session_class, expire_on_commit=False
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
        if self._write_lock is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._write_lock:
            conn, adapted = await self._held_writer()
            session: AsyncSession | None = None
            try:
                try:
                    await adapted.begin_write()
                except sqlite3.Error as exc:
                    raise as_sqlalchemy_error(exc, BEGIN_WRITE) from exc
                session = self._joined(bind=conn)
                attach_connection(session, conn.dialect, adapted.sqlite)
                yield session
                if not session.sync_session._is_clean():
                    await session.flush()
                if conn.in_transaction():
                    await conn.commit()  # the ORM joined in: commit through it
                else:
                    try:
                        adapted.commit()
                    except sqlite3.Error as exc:
                        raise as_sqlalchemy_error(exc, "COMMIT") from exc
            except BaseException:
                await self._undo(conn, adapted)
                raise
            finally:
                if session is not None:
                    forget_connection(session)
                    if session.sync_session.identity_map or session.in_transaction():
                        await session.close()

    async def _held_writer(self) -> tuple[AsyncConnection, OneTripConnection]:
        if self._writer is None:
            conn = await self.engine.connect()
            raw = await conn.get_raw_connection()
            self._writer = conn, raw.dbapi_connection  # type: ignore[assignment]
        return self._writer

    async def _undo(self, conn: AsyncConnection, adapted: OneTripConnection) -> None:
        """Roll back the held writer; if even that fails, let the next write start afresh."""
        try:
            # Always through SQLAlchemy first: after a failed COMMIT it keeps an inactive
            # transaction on the connection that only a rollback clears (the connection is
            # held, so nothing else ever would), and it costs nothing when there is none.
            await conn.rollback()
            if adapted.writing or adapted.sqlite.in_transaction:
                # A failed COMMIT has cleared `writing` but may leave SQLite's transaction open.
                adapted.rollback()
        except Exception:
            self._writer = None
            try:
                await conn.close()
            except Exception:
                pass  # the connection is beyond use either way

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only snapshot; on SQLite it does not block writers."""
        async with self._sessions() as session:
            # Closing the session ends the transaction; objects stay readable (detached).
            await session.connection(execution_options={_READ_ONLY: True})
            yield session

    async def dispose(self) -> None:
        if self._writer is not None:
            (writer, _), self._writer = self._writer, None
            await writer.close()
        await self.engine.dispose()
