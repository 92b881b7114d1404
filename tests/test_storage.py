"""Migrations from empty, SQLite pragmas, the schema check at start-up, and backups."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import text

from bot.app import App, SchemaOutOfDate
from storage.backup import BackupError, backup_database
from storage.engine import Database
from storage.migrate import current_revision, head_revision, upgrade
from tests.conftest import at, make_settings

TABLES = {
    "branches",
    "members",
    "accounts",
    "chat_groups",
    "checkins",
    "events",
    "attendance",
    "study_tasks",
    "study_confirmations",
    "inbound_messages",
    "outbox",
    "alembic_version",
}


async def test_migration_from_empty_creates_every_table(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    try:
        assert await current_revision(db) is None
        await upgrade(db)
        assert await current_revision(db) == head_revision()
        await upgrade(db)  # a second run is a no-op
        async with db.read() as s:
            names = {r[0] for r in (await s.exec(text("SELECT name FROM sqlite_master"))).all()}
            journal = (await s.exec(text("PRAGMA journal_mode"))).one()[0]
            fks = (await s.exec(text("PRAGMA foreign_keys"))).one()[0]
    finally:
        await db.dispose()
    assert TABLES <= names
    assert journal == "wal"
    assert fks == 1


async def test_unique_keys_hold_in_the_database(app):
    from sqlalchemy.exc import IntegrityError

    from storage import checkins
    from tests.conftest import at, member_id

    wang = await member_id(app, "王党员")
    async with app.db.write() as s:
        await checkins.record_checkin(
            s, wang, at("2026-12-01 08:00").date(), "上班", app.clock.now(), True
        )
    with pytest.raises(IntegrityError):
        async with app.db.write() as s:
            await checkins.record_checkin(
                s, wang, at("2026-12-01 08:00").date(), "上班", app.clock.now(), True
            )


async def test_insert_if_new_says_whether_it_inserted(app):
    from storage import inbound
    from storage.models import InboundMessage
    from storage.upsert import insert_if_new

    now = app.clock.now()
    values = {
        "platform": "dingtalk",
        "sender": "dt1",
        "reply": "{}",
        "received_at": now,
        "delivered_at": None,
    }
    async with app.db.write() as s:
        key = ["platform", "message_id"]
        first = await insert_if_new(s, InboundMessage, key, {"message_id": "m-1", **values})
        second = await insert_if_new(s, InboundMessage, key, {"message_id": "m-2", **values})
        again = await insert_if_new(s, InboundMessage, key, {"message_id": "m-1", **values})
    async with app.db.read() as s:
        ids = (await s.exec(text("SELECT message_id FROM inbound_messages"))).all()
        assert await inbound.reply_to(s, "dingtalk", "m-2") == "{}"
    assert (first, second, again) == (True, True, False)
    assert sorted(i for (i,) in ids) == ["m-1", "m-2"]


async def test_app_refuses_to_start_on_an_old_schema(tmp_path, clock):
    application = App(make_settings(tmp_path), clock=clock)
    try:
        with pytest.raises(SchemaOutOfDate, match="qingfeng db upgrade"):
            await application.initialize()
    finally:
        await application.shutdown()


async def test_backup_of_a_live_database_under_writes(app, tmp_path, chat, clock):
    from sqlmodel import func, select

    from storage.models import InboundMessage

    stop = asyncio.Event()

    async def writer() -> int:
        n = 0
        while not stop.is_set():
            await chat.text("wang", "帮助")
            n += 1
        return n

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    dest = tmp_path / "backup.db"
    size = await asyncio.to_thread(backup_database, app.settings.database.url, dest)
    stop.set()
    written = await task
    assert size > 0 and written > 0
    if not app.db.is_sqlite:
        proc = await asyncio.create_subprocess_exec(
            "pg_restore", "--list", str(dest), stdout=asyncio.subprocess.PIPE
        )
        listing = (await proc.communicate())[0].decode()
        assert "TABLE DATA public members" in listing
        assert "TABLE DATA public inbound_messages" in listing
        return
    con = sqlite3.connect(dest)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copied = con.execute("SELECT count(*) FROM inbound_messages").fetchone()[0]
        members = con.execute("SELECT count(*) FROM members").fetchone()[0]
    finally:
        con.close()
    async with app.db.read() as s:
        live = (await s.exec(select(func.count()).select_from(InboundMessage))).one()
    assert 0 < copied <= live
    assert members == 8
    with pytest.raises(BackupError, match="已存在"):
        backup_database(app.settings.database.url, dest)


async def test_sqlite_checkpoints_the_log_itself(app):
    """No checkpoint thread: SQLite's automatic checkpoint copies the log back into the
    database file whenever a commit leaves it past its default mark of 1,000 pages."""
    if not app.db.is_sqlite:
        return  # PostgreSQL: nothing to checkpoint
    async with app.db.write() as s:
        assert (await s.exec(text("PRAGMA wal_autocheckpoint"))).one()[0] == 1000
        assert (await s.exec(text("PRAGMA journal_mode"))).one()[0] == "wal"


async def test_a_commit_that_fails_is_rolled_back_and_the_next_write_works(app, chat):
    """A deferred foreign key makes COMMIT itself fail and leaves SQLite's transaction open;
    the writer must roll it back, or every later write would fail to begin."""
    from datetime import date

    from sqlalchemy.exc import IntegrityError

    from storage import checkins

    if not app.db.is_sqlite:
        return  # PostgreSQL checks the key at the INSERT
    now = at("2026-12-01 08:10")
    with pytest.raises(IntegrityError):
        async with app.db.write() as s:
            await s.exec(text("PRAGMA defer_foreign_keys=ON"))
            await checkins.record_if_new(s, 999_999, date(2026, 12, 1), "上班", now, True)
    assert await chat.text("wang", "签到") == "✅ 上班签到成功 08:10，按时。"


async def test_an_orm_commit_that_fails_leaves_later_orm_writes_working(app):
    from datetime import date

    from sqlalchemy.exc import IntegrityError
    from sqlmodel import func, select

    from storage.models import CheckIn

    if not app.db.is_sqlite:
        return  # PostgreSQL checks the key at the INSERT
    now = at("2026-12-01 08:10")
    with pytest.raises(IntegrityError):
        async with app.db.write() as s:
            await s.exec(text("PRAGMA defer_foreign_keys=ON"))
            s.add(
                CheckIn(member_id=999_999, day=date(2026, 12, 1), slot="上班", at=now, on_time=True)
            )
    async with app.db.write() as s:
        wang = (await s.exec(text("SELECT id FROM members WHERE name = '王党员'"))).one()[0]
        s.add(CheckIn(member_id=wang, day=date(2026, 12, 1), slot="上班", at=now, on_time=True))
    async with app.db.read() as s:
        assert (await s.exec(select(func.count()).select_from(CheckIn))).one() == 1


async def test_a_write_cancelled_while_waiting_for_the_lock_does_not_keep_it(app):
    from tests.sqlite_lock import holding_lock

    if not app.db.is_sqlite:
        return  # SQLite's file lock
    path = app.db.sqlite_path
    assert path

    async def write() -> None:
        async with app.db.write() as s:
            await s.exec(text("SELECT 1"))

    with holding_lock(path):
        waiting = asyncio.create_task(write())
        await asyncio.sleep(0.3)  # in aiosqlite's thread, waiting for the other process
        waiting.cancel()
        await asyncio.sleep(0.05)
        assert not waiting.done()  # it waits for the BEGIN its thread is still running
    with pytest.raises(asyncio.CancelledError):
        await waiting
    # The BEGIN finished in the thread after the cancel; it must not be left holding the
    # lock: another process can write at once.
    con = sqlite3.connect(path, timeout=0)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.rollback()
    finally:
        con.close()
    async with app.db.write() as s:  # and this process can too
        await s.exec(text("SELECT 1"))


async def test_migrations_build_the_schema_the_models_describe(tmp_path):
    """Alembic's own comparison of the migrated database against the SQLModel tables:
    a column, index or constraint added to a model without a migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (registers every table)

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cmp.db'}")
    try:
        await upgrade(db)
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
            )
    finally:
        await db.dispose()
    # SQLite cannot tell a server default or a type's length apart; tables, columns,
    # nullability, indexes and unique constraints are what must match.
    defaults = [d for d in diff if isinstance(d, list) and d and d[0][0] == "modify_default"]
    assert [d for d in diff if d not in defaults] == []
