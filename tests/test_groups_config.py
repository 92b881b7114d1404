"""[[groups]] at start-up: a chat_id filled in later takes over the placeholder row; a
group naming an unknown branch stops start-up with the close matches."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.app import App, UnknownBranch
from bot.clock import FakeClock
from handlers.roster import import_roster
from storage import groups, members, outbox
from storage.migrate import upgrade
from storage.models import Outbox, OutboxState
from tests.conftest import BUREAU, SCHOOL, make_settings

NO_CHAT = {"name": "一中群", "branch": SCHOOL, "platform": "wecom"}
WITH_CHAT = {**NO_CHAT, "chat_id": "wr-school"}
BUREAU_GROUP = {"name": "机关群", "branch": BUREAU, "platform": "wecom", "chat_id": "wr-bureau"}


async def _start(tmp_path: Path, clock: FakeClock, *group: dict[str, Any], **kw: Any) -> App:
    """An App initialised (config synced) and shut down again; its database stays."""
    app = App(make_settings(tmp_path, groups=list(group), **kw), clock=clock)
    async with app:
        pass
    return app


@pytest.fixture
async def fresh(tmp_path: Path, clock: FakeClock, roster_file: Path) -> Path:
    app = App(make_settings(tmp_path), clock=clock)
    await upgrade(app.db)
    await import_roster(app.db, roster_file, clock.now())
    await app.db.dispose()
    return tmp_path


async def _queue(app: App, group_id: int, key: str) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    row = {"key": key, "kind": "study_task", "due_at": now, "payload": "{}", "group_id": group_id}
    async with app.db.write() as s:
        await outbox.enqueue(s, [row], now)


async def _rows(app: App) -> tuple[list[Any], list[Outbox]]:
    async with app.db.read() as s:
        return list(await groups.all_groups(s)), list((await s.exec(select(Outbox))).all())


async def test_chat_id_filled_in_later_takes_over_the_placeholder(fresh, clock) -> None:
    app = await _start(fresh, clock, BUREAU_GROUP, NO_CHAT)
    async with app.db.read() as s:
        placeholder = await groups.group_by_chat(s, "wecom", "name:一中群")
    assert placeholder is not None and placeholder.id is not None
    await _queue(app, placeholder.id, f"study-task:1:g{placeholder.id}")
    await app.db.dispose()

    app = await _start(fresh, clock, BUREAU_GROUP, WITH_CHAT)
    rows, queued = await _rows(app)
    school = [g for g in rows if g.name == "一中群"]
    assert [(g.id, g.chat_id) for g in school] == [(placeholder.id, "wr-school")]
    assert [(o.group_id, o.state) for o in queued] == [(placeholder.id, OutboxState.PENDING)]
    async with app.db.read() as s:
        assert len(await groups.groups_of_branch(s, school[0].branch_id)) == 1
    await app.db.dispose()

    app = await _start(fresh, clock, BUREAU_GROUP, WITH_CHAT)  # again: nothing changes
    assert [(g.id, g.chat_id) for g in (await _rows(app))[0] if g.name == "一中群"] == [
        (placeholder.id, "wr-school")
    ]
    await app.db.dispose()


async def test_placeholder_and_real_row_both_there_become_one(fresh, clock) -> None:
    app = await _start(fresh, clock, BUREAU_GROUP, NO_CHAT)
    async with app.db.write() as s:
        placeholder = await groups.group_by_chat(s, "wecom", "name:一中群")
        school = await members.branch_by_name(s, SCHOOL)
        assert placeholder is not None and school is not None
        real = await groups.upsert_group(s, "wecom", "wr-school", "一中群", school.id)
    assert placeholder.id is not None and real.id is not None
    await _queue(app, placeholder.id, f"study-task:1:g{placeholder.id}")
    await _queue(app, real.id, f"study-task:1:g{real.id}")
    await app.db.dispose()

    app = await _start(fresh, clock, BUREAU_GROUP, WITH_CHAT)
    rows, queued = await _rows(app)
    assert [g.id for g in rows if g.name == "一中群"] == [real.id]
    states = sorted((o.group_id, o.state) for o in queued)
    # The history stays, on the one group; the duplicate is not sent a second time.
    assert states == [(real.id, OutboxState.PENDING), (real.id, OutboxState.SKIPPED)]
    await app.db.dispose()


async def test_unknown_branch_stops_start_up_with_close_matches(fresh, clock) -> None:
    typo = {**WITH_CHAT, "branch": "县第一中学支部"}
    with pytest.raises(UnknownBranch) as err:
        await _start(fresh, clock, BUREAU_GROUP, typo)
    assert "县第一中学支部" in str(err.value)
    assert f"您是不是要写：{SCHOOL}？" in str(err.value)
    app = App(make_settings(fresh), clock=clock)
    async with app.db.read() as s:
        assert await members.branch_by_name(s, "县第一中学支部") is None
    await app.db.dispose()


async def test_a_branch_in_branches_may_be_new(fresh, clock) -> None:
    new = {"name": "二中群", "branch": "县第二中学党支部", "platform": "wecom", "chat_id": "wr-2"}
    app = await _start(fresh, clock, BUREAU_GROUP, new, branches=[{"name": "县第二中学党支部"}])
    async with app.db.read() as s:
        assert await members.branch_by_name(s, "县第二中学党支部") is not None
    await app.db.dispose()


def test_serve_stops_with_one_line(fresh: Path) -> None:
    qingfeng = str(Path(sys.executable).parent / "qingfeng")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QINGFENG_")}
    config = fresh / "qingfeng.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{fresh / "qingfeng.db"}"\n'
        '[[groups]]\nname = "一中群"\nbranch = "县第一中学支部"\nplatform = "wecom"\n'
        'chat_id = "wr-school"\n',
        encoding="utf-8",
    )
    r = subprocess.run(
        [qingfeng, "serve", "-c", str(config)],
        cwd=fresh,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert f"您是不是要写：{SCHOOL}？" in r.stderr
