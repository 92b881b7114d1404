"""A locked database or a full disk: users get a short apology, the cause is logged, and the bot
recovers without a restart. Nothing already recorded is lost."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from sqlalchemy import event
from sqlmodel import func, select

from bot.app import App
from bot.dispatcher import BUSY_REPLY
from handlers.roster import import_roster
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import CheckIn, InboundMessage
from tests.conftest import Chat, make_settings
from tests.sqlite_lock import holding_lock


@pytest.fixture
async def quick_app(tmp_path, clock, roster_file):
    """An app whose SQLite writers give up after 0.2 s instead of 3 s."""
    settings = make_settings(tmp_path)
    application = App(settings, clock=clock, db=Database(settings.database.url, busy_timeout=0.2))
    await upgrade(application.db)
    await import_roster(application.db, roster_file, clock.now())
    await application.initialize()
    yield application
    await application.shutdown()


async def count(app, model) -> int:
    async with app.db.read() as s:
        return (await s.exec(select(func.count()).select_from(model))).one()


async def test_locked_database_gets_an_apology_then_recovers(quick_app, clock, caplog):
    chat = Chat(quick_app, clock)
    path = quick_app.db.sqlite_path
    assert path
    caplog.set_level(logging.ERROR)
    with holding_lock(path, "BEGIN EXCLUSIVE"):
        assert await chat.text("wang", "签到", message_id="during-lock") == BUSY_REPLY
    assert "database is locked" in caplog.text
    assert await count(quick_app, CheckIn) == 0
    # The platform retries the same message once the lock is gone: it now takes effect.
    reply = await chat.text("wang", "签到", message_id="during-lock")
    assert reply == "✅ 上班签到成功 08:10，按时。"
    assert await count(quick_app, CheckIn) == 1


async def test_full_disk_gets_an_apology_then_recovers(quick_app, clock, caplog):
    chat = Chat(quick_app, clock)
    await chat.text("wang", "签到")  # recorded before the disk fills

    # SQLITE_FULL, exactly as a full disk reports it, on whichever connection a session
    # checks out of the pool (max_page_count is a setting of the connection).
    cap = [1073741823]

    @event.listens_for(quick_app.db.engine.sync_engine, "checkout")
    def _capped(dbapi_conn: object, _record: object, _proxy: object) -> None:
        cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
        cur.execute(f"PRAGMA max_page_count={cap[0]}")
        cur.close()

    def cap_pages(pages: int) -> None:
        cap[0] = pages

    con = sqlite3.connect(quick_app.db.sqlite_path)
    cap_pages(con.execute("PRAGMA page_count").fetchone()[0])
    con.close()
    caplog.set_level(logging.ERROR)
    replies = [await chat.text("sun", "帮助", message_id=f"fill-{i}") for i in range(200)]
    # Then short replies: a page a long 帮助 reply no longer fits may still take a short one.
    replies += [await chat.text("sun", "学习", message_id=f"fill-short-{i}") for i in range(50)]
    assert BUSY_REPLY in replies
    assert "database or disk is full" in caplog.text
    before = await count(quick_app, InboundMessage)
    assert await chat.text("sun", "签到", message_id="when-full") == BUSY_REPLY
    assert await count(quick_app, InboundMessage) == before
    assert await count(quick_app, CheckIn) == 1  # nothing recorded earlier was lost
    cap_pages(1073741823)  # the operator frees space
    assert await chat.text("sun", "签到", message_id="when-full") == "✅ 上班签到成功 08:10，按时。"
    assert await count(quick_app, CheckIn) == 2
