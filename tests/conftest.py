"""Shared fixtures: a real SQLite file per test, a movable clock, and a way to talk to the bot."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.clock import SHANGHAI, FakeClock
from bot.config import Settings, load_settings
from bot.messages import IncomingMessage, Reply
from handlers.roster import import_roster
from storage import members
from storage.engine import Database
from storage.migrate import upgrade

# Set to a server URL (e.g. postgresql+asyncpg://root@127.0.0.1:5432/test) to run the suite on
# PostgreSQL: a fresh database is created for the run and dropped at the end.
PG_ENV = "QINGFENG_TEST_POSTGRES"

# 机关: a committee (李书记, 王党员) and two 党小组; 一中: neither (one 党小组会 for all).
ROSTER = """姓名,支部,身份,角色,手机,企业微信账号,钉钉账号,党小组,支委
周管理,县教育局机关党支部,党员,管理员,13800000001,zhou,,第一党小组,
李书记,县教育局机关党支部,党员,书记,13800000002,li,,第一党小组,书记
王党员,县教育局机关党支部,党员,成员,13800000003,wang,,第二党小组,组织委员
孙预备,县教育局机关党支部,预备党员,成员,13800000005,sun,,第二党小组,
钱群众,县教育局机关党支部,群众,成员,13800000006,qian,,,
陈书记,县第一中学党支部,党员,书记,13900000011,chen,chen-dt,,
刘老师,县第一中学党支部,党员,成员,13900000012,liu,liu-dt,,
新同志,县第一中学党支部,党员,成员,13900000019,,,,
"""

BUREAU = "县教育局机关党支部"
SCHOOL = "县第一中学党支部"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'qingfeng.db'}"},
        "branches": [{"name": BUREAU, "daily_checkin": True}],
        "groups": [
            {"name": "机关群", "branch": BUREAU, "platform": "wecom", "chat_id": "wr-bureau"},
            {"name": "一中群", "branch": SCHOOL, "platform": "wecom", "chat_id": "wr-school"},
        ],
    }
    data.update(overrides)
    return load_settings(None, env={}, **data)


def at(text: str) -> datetime:
    """A Shanghai wall-clock time, e.g. at('2026-12-01 08:10')."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)


class Chat:
    """Talks to the bot as roster members do, through the real dispatcher."""

    def __init__(self, app: App, clock: FakeClock) -> None:
        self.app = app
        self.clock = clock
        self._ids = itertools.count(1)

    async def say(
        self,
        sender: str,
        text: str,
        *,
        chat: str = "wr-bureau",
        direct: bool = False,
        platform: str = "wecom",
        message_id: str | None = None,
        image: str = "",
    ) -> Reply:
        msg = IncomingMessage(
            platform=platform,
            message_id=message_id or f"m{next(self._ids)}",
            chat_type="direct" if direct else "group",
            chat_id=sender if direct else chat,
            sender_id=sender,
            text=f"@清风 {text}",
            image=image,
        )
        return await self.app.dispatcher.handle(msg)

    async def text(self, sender: str, text: str, **kw: Any) -> str:
        return (await self.say(sender, text, **kw)).text


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at("2026-12-01 08:10"))  # a Tuesday, a working day


@pytest.fixture
def roster_file(tmp_path: Path) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    return path


async def _pg_admin(server_url: str, sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(server_url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A fresh, migrated PostgreSQL database for this run, or None to use SQLite."""
    server = os.environ.get(PG_ENV)
    if not server:
        yield None
        return
    from sqlalchemy.engine import make_url

    name = f"qingfeng_test_{os.getpid()}"
    asyncio.run(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(_pg_admin(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)

    async def migrate() -> None:
        db = Database(url)
        await upgrade(db)
        await db.dispose()

    asyncio.run(migrate())
    yield url
    asyncio.run(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _empty_tables(db: Database) -> None:
    from sqlalchemy import text
    from sqlmodel import SQLModel

    names = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


SQLITE = "sqlite+aiosqlite:///"


def _fresh_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL that does not exist yet; None otherwise."""
    if not url.startswith(SQLITE):
        return None
    path = Path(url[len(SQLITE) :])
    return None if path.exists() else path


class _MigratedTemplate:
    """One SQLite file migrated to head per test run; each test's database starts as a copy
    of it. Running the eleven migrations for every test was most of a test's set-up (the
    migrations themselves are tested from an empty file in test_storage)."""

    def __init__(self) -> None:
        self.path: Path | None = None

    async def copy_to(self, url: str) -> bool:
        """Copy the template to `url`'s file; False when it is not a fresh SQLite file."""
        target = _fresh_sqlite_file(url)
        if target is None:
            return False
        if self.path is None:  # tests run one at a time: no lock needed
            path = Path(tempfile.mkdtemp(prefix="qingfeng-template-")) / "migrated.db"
            db = Database(f"{SQLITE}{path}")
            try:
                await upgrade(db)
            finally:
                await db.dispose()  # closes the WAL into the main file
            self.path = path
        _copy(self.path, target)
        return True


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)


TEMPLATE = _MigratedTemplate()


@asynccontextmanager
async def started_app(
    settings: Settings, clock: FakeClock, roster_file: Path, on_postgres: bool
) -> AsyncIterator[App]:
    """An App on a fresh schema (emptied, on PostgreSQL) with the test roster, started;
    stopped and shut down on leaving."""
    copied = not on_postgres and await TEMPLATE.copy_to(settings.database.url)
    application = App(settings, clock=clock)
    if on_postgres:
        await _empty_tables(application.db)
    elif not copied:
        await upgrade(application.db)
    await import_roster(application.db, roster_file, clock.now())
    async with application:
        await application.start()
        yield application


@pytest.fixture
async def app(
    tmp_path: Path, clock: FakeClock, roster_file: Path, postgres_url: str | None
) -> AsyncIterator[App]:
    overrides: dict[str, Any] = {}
    if postgres_url:
        overrides["database"] = {"url": postgres_url}
    settings = make_settings(tmp_path, **overrides)
    async with started_app(settings, clock, roster_file, bool(postgres_url)) as application:
        yield application


@pytest.fixture
def chat(app: App, clock: FakeClock) -> Chat:
    return Chat(app, clock)


async def branch_id(app: App, name: str) -> int:
    async with app.db.read() as s:
        branch = await members.branch_by_name(s, name)
    assert branch is not None and branch.id is not None
    return branch.id


async def member_id(app: App, name: str) -> int:
    async with app.db.read() as s:
        found = await members.members_named(s, name)
    assert len(found) == 1 and found[0].id is not None
    return found[0].id
