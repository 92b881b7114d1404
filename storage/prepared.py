"""Statements for the per-message path: compiled once, run on SQLite's own connection.

An ORM query costs ~230 µs and a Core one ~60 µs on this stack; the same statement on the
stdlib `sqlite3` connection costs ~4 µs. Each inbound message runs half a dozen small
statements (message id, sender, group, open event, check-in, reply), so for those the
SQLAlchemy machinery is most of the bot's time. A `Prepared` keeps the statement in Core,
compiled against the models' tables and their types (the same SQL and the same conversions
SQLAlchemy would use), and runs it:

- on SQLite, directly on the driver connection, on the event loop. That is safe because it
  only happens inside a session's transaction: a write session already holds SQLite's write
  lock (BEGIN IMMEDIATE), and WAL readers never wait, so these statements cannot block on
  another process; they are single-row index lookups and inserts.
- on PostgreSQL, through SQLAlchemy Core on the session's connection (asyncpg is already
  async, and there the network round trip dominates).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_values
from storage.upsert import insert_if_new_statement

_RAW = "qingfeng_sqlite_conn"
Row = tuple[Any, ...]
_Proc = Callable[[Any], Any] | None
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[tuple[str, _Proc], ...]  # each positional parameter and its conversion
    result: tuple[tuple[int, Callable[[Any], Any]], ...]  # the result columns to convert
    fixed: dict[str, Any]


class Prepared:
    """A Core statement with named `bindparam`s, run with keyword values."""

    def __init__(self, stmt: Executable | None = None) -> None:
        self._stmts: dict[str, Executable] = {}
        self._default = stmt
        self._by_dialect: dict[str, _Compiled] = {}

    def build(self, dialect: str) -> Executable:
        """The statement for a dialect; subclasses whose SQL differs by dialect override it."""
        assert self._default is not None
        return self._default

    def statement(self, dialect: str) -> Executable:
        stmt = self._stmts.get(dialect)
        if stmt is None:
            stmt = self._stmts[dialect] = self.build(dialect)
        return stmt

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            stmt = self.statement(dialect.name)
            c = stmt.compile(dialect=dialect)
            names = tuple(c.positiontup or ())
            bind = sqlite_values.bind_processor
            params = tuple((n, bind(c.binds[n].type, dialect)) for n in names)
            # Values the statement carries itself, such as a LIMIT.
            fixed = {n: b.effective_value for n, b in c.binds.items() if not b.required}
            cols = getattr(stmt, "exported_columns", ())
            procs = [sqlite_values.result_processor(col.type, dialect) for col in cols]
            result = tuple((i, p) for i, p in enumerate(procs) if p is not None)
            found = _Compiled(c.string, params, result, fixed)
            self._by_dialect[dialect.name] = found
        return found

    async def all(self, s: AsyncSession, **values: Any) -> list[Row]:
        """Every row, converted to Python values as the ORM would."""
        dialect, conn = await _ready(s)
        if conn is None:
            return await self._core_rows(s, dialect, values)
        rows, c = self._on_sqlite(conn, dialect, values, sqlite3.Cursor.fetchall)
        if not c.result or not rows:
            return rows
        converted = []
        for row in rows:
            out = list(row)
            for i, p in c.result:
                out[i] = p(out[i])
            converted.append(tuple(out))
        return converted

    async def many(self, s: AsyncSession, rows: Sequence[dict[str, Any]]) -> int | None:
        """Run once per set of values (executemany); the rows changed in all, or None where
        the driver does not say (PostgreSQL's executemany)."""
        if not rows:
            return 0
        dialect, conn = await _ready(s)
        if conn is None:
            core = await s.connection()
            await core.execute(self.statement(dialect.name), list(rows))  # type: ignore[call-overload]
            return None
        c = self._compiled(dialect)
        args = [self._args(c, values) for values in rows]
        try:
            return conn.executemany(c.sql, args).rowcount
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(exc, c.sql, args) from exc

    async def _core_rows(
        self, s: AsyncSession, dialect: Dialect, values: dict[str, Any]
    ) -> list[Row]:
        """Through SQLAlchemy Core on the session's connection (PostgreSQL)."""
        core = await s.connection()
        stmt = self.statement(dialect.name)
        return [tuple(r) for r in await core.execute(stmt, values)]  # type: ignore[call-overload]

    def _on_sqlite(
        self,
        conn: sqlite3.Connection,
        dialect: Dialect,
        values: dict[str, Any],
        read: Callable[[sqlite3.Cursor], _T],
    ) -> tuple[_T, _Compiled]:
        """Run on SQLite's own connection and `read` the cursor; SQLite's errors, reading
        included, come out as SQLAlchemy's."""
        c = self._compiled(dialect)
        args = self._args(c, values)
        try:
            return read(conn.execute(c.sql, args)), c
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(exc, c.sql, args) from exc

    @staticmethod
    def _args(c: _Compiled, values: dict[str, Any]) -> list[Any]:
        if c.fixed:
            values = {**c.fixed, **values}
        return [values[n] if p is None else p(values[n]) for n, p in c.params]

    async def first(self, s: AsyncSession, **values: Any) -> Row | None:
        rows = await self.all(s, **values)
        return rows[0] if rows else None


class PreparedInsert(Prepared):
    """INSERT … ON CONFLICT DO NOTHING: the new row's id, or None if it existed.

    On SQLite without RETURNING: SQLite buffers returned rows in a temporary b-tree it
    opens and drops per statement, ~half of such an insert's cost. The cursor's rowcount
    and lastrowid say the same.
    """

    def __init__(self, table: Table, conflict_on: Sequence[str], columns: Sequence[str]) -> None:
        self.table = table
        self.conflict_on = list(conflict_on)
        self.columns = list(columns)
        super().__init__()

    def build(self, dialect: str) -> Executable:
        values = {c: bindparam(c) for c in self.columns}
        returning = dialect != "sqlite"
        return insert_if_new_statement(  # type: ignore[no-any-return]
            dialect, self.table, self.conflict_on, values, returning
        )

    async def insert(self, s: AsyncSession, **values: Any) -> int | None:
        dialect, conn = await _ready(s)
        if conn is None:
            rows = await self._core_rows(s, dialect, values)  # RETURNING id
            return int(rows[0][0]) if rows else None
        new_id, _ = self._on_sqlite(conn, dialect, values, _new_id)
        return new_id


def _new_id(cur: sqlite3.Cursor) -> int | None:
    return cur.lastrowid if cur.rowcount == 1 else None


async def _ready(s: AsyncSession) -> tuple[Dialect, sqlite3.Connection | None]:
    """Flush what the session holds (the ORM's autoflush before a query), then the dialect
    and, on SQLite, the connection to run on."""
    if not s.sync_session._is_clean():
        await s.flush()
    return s.info.get(_RAW) or await _attach(s)  # type: ignore[no-any-return]


def as_sqlalchemy_error(exc: sqlite3.Error, sql: str | None, args: Any = None) -> DBAPIError:
    """The exception SQLAlchemy would raise (OperationalError, IntegrityError...), so callers
    handle a full disk or a lock alike on either path."""
    return DBAPIError.instance(sql, args, exc, sqlite3.Error)


async def _attach(s: AsyncSession) -> tuple[Dialect, sqlite3.Connection | None]:
    """The dialect and, on SQLite, the stdlib connection under `s`'s transaction; kept in
    the session's info until the transaction ends."""
    assert s.bind is not None
    dialect = s.bind.dialect
    sqlite_conn: sqlite3.Connection | None = None
    if dialect.name == "sqlite":
        conn = await s.connection()  # starts the transaction (BEGIN IMMEDIATE for writers)
        raw = await conn.get_raw_connection()
        sqlite_conn = raw.driver_connection._conn  # type: ignore[union-attr]
    s.info[_RAW] = (dialect, sqlite_conn)
    return dialect, sqlite_conn


def attach_connection(s: AsyncSession, dialect: Dialect, conn: sqlite3.Connection) -> None:
    """Hand `s` the SQLite connection whose write transaction it runs in (Database.write)."""
    s.info[_RAW] = (dialect, conn)


def forget_connection(s: Any) -> None:
    """Drop the cached connection when a session's transaction ends (the engine calls this)."""
    s.info.pop(_RAW, None)


@cache
def columns_of(model: Any) -> tuple[str, ...]:
    """A table model's column names, in the order `select(table)` returns them."""
    return tuple(c.name for c in model.__table__.columns)
