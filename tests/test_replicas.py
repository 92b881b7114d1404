"""Two `qingfeng serve` replicas, both with the scheduler on, on one PostgreSQL database.

DingTalk retries a callback it did not hear back from, and behind a load balancer the
retry may land on the other replica: each is sent to both, at the same time. A holiday
reminder falls due while both run: each group gets it once.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import AsyncIterator
from datetime import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot.clock import FakeClock, SystemClock
from storage import outbox
from storage.engine import Database
from storage.models import CheckIn, InboundMessage, OutboxState
from tests.conftest import PG_ENV, SCHOOL, _pg_admin
from tests.fakes.dingtalk import (
    FakeDingTalk,
    callback_headers,
    callback_payload,
)
from tests.fakes.waiting import eventually
from tests.pg_check import main as pg_check
from tests.serve_process import HOLIDAY_TEXT, Server, holiday_due_now, server, upgrade
from tests.test_cli import run

GROUPS = 20
CHAT = "cidReplicaGroup=="  # the group the members talk in (group 0)
MEMBERS = [(f"dt-{i}", f"党员{i}") for i in range(6)]


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test (the suite's own is left alone)."""
    server_url = os.environ.get(PG_ENV)
    if not server_url:
        pytest.skip(f"replicas need PostgreSQL: {PG_ENV} is not set (./run.sh test sets it)")
    if await pg_check(server_url):
        pytest.skip(f"replicas need PostgreSQL: {make_url(server_url).host} is unreachable")
    name = f"qingfeng_replicas_{os.getpid()}"
    await _pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}"')
    await _pg_admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def fake() -> AsyncIterator[FakeDingTalk]:
    dingtalk = FakeDingTalk(FakeClock(SystemClock().now()))
    await dingtalk.start()
    try:
        yield dingtalk
    finally:
        await dingtalk.close()


def replica_config(url: str, fake: FakeDingTalk) -> dict[str, Any]:
    return {
        "database": {"url": url},
        "dingtalk": fake.app_config(),
        # Check-in open all day, so the test does not depend on when it runs.
        "branches": [
            {
                "name": SCHOOL,
                "daily_checkin": True,
                "morning": {"start": time(0, 0), "end": time(23, 59, 59)},
            }
        ],
        "reminders": {"grace_hours": 48, "graduation_dates": []},
        "calendar": {"overrides": [holiday_due_now()]},
        "groups": [
            {
                "name": f"钉钉群{i:02d}",
                "branch": SCHOOL,
                "platform": "dingtalk",
                "chat_id": CHAT if i == 0 else f"cid-{i:02d}==",
                "webhook": fake.add_custom_robot(f"robot-{i:02d}", f"SEC-{i:02d}"),
                "secret": f"SEC-{i:02d}",
            }
            for i in range(GROUPS)
        ],
    }


def roster(path: Path) -> Path:
    lines = ["姓名,支部,身份,角色,手机,企业微信账号,钉钉账号"]
    lines += [
        f"{nick},{SCHOOL},党员,成员,1390000{i:04d},,{staff}"
        for i, (staff, nick) in enumerate(MEMBERS)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
async def replicas(
    tmp_path: Path, database: str, fake: FakeDingTalk
) -> AsyncIterator[tuple[Server, Server]]:
    config = replica_config(database, fake)
    a, b = server(tmp_path, "a", config), server(tmp_path, "b", config)
    await upgrade(a.config)
    r = await asyncio.to_thread(
        run,
        "roster",
        "import",
        str(roster(tmp_path / "roster.csv")),
        "--yes",
        "--config",
        str(a.config),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    try:
        await asyncio.gather(a.start(), b.start())  # their start-up passes race
        yield a, b
    finally:
        await asyncio.gather(a.close(), b.close())


async def post(http: aiohttp.ClientSession, srv: Server, payload: dict[str, Any]) -> dict:
    now_ms = int(SystemClock().now().timestamp() * 1000)
    async with http.post(
        f"{srv.url}/dingtalk/robot",
        data=json.dumps(payload, ensure_ascii=False).encode(),
        headers=callback_headers(now_ms),
    ) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_two_replicas_one_row_per_message_one_push_per_group(
    replicas: tuple[Server, Server], fake: FakeDingTalk, database: str
) -> None:
    a, b = replicas
    now_ms = int(SystemClock().now().timestamp() * 1000)
    payloads = [
        callback_payload(
            "签到",
            msg_id=f"msg-{staff}==",
            staff_id=staff,
            nick=nick,
            now_ms=now_ms,
            session_webhook=fake.session_webhook(f"s-{staff}"),
            conversation_id=CHAT,
        )
        for staff, nick in MEMBERS
    ]
    async with aiohttp.ClientSession() as http:
        # Each message three times: to both replicas at once, then once more to A.
        answers = await asyncio.gather(*(post(http, srv, p) for p in payloads for srv in (a, b)))
        again = await asyncio.gather(*(post(http, a, p) for p in payloads))

    for i in range(len(MEMBERS)):
        first, second = answers[2 * i], answers[2 * i + 1]
        assert first == second == again[i]  # the same reply, whichever replica answered
        assert "签到成功" in json.dumps(first, ensure_ascii=False), first

    # Both ran the scheduler; the holiday reminder goes out once per group.
    def per_robot() -> Counter[str]:
        return Counter(d.target for d in fake.delivered if HOLIDAY_TEXT in d.text)

    await eventually(lambda: len(per_robot()) == GROUPS, "every group reached")
    for srv in (a, b):
        await srv.terminate()
    assert [await a.wait(), await b.wait()] == [0, 0]  # both gone: nothing more can be sent
    assert per_robot() == Counter({f"robot-{i:02d}": 1 for i in range(GROUPS)})

    db = Database(database)
    try:
        async with db.read() as s:
            checkins = list((await s.exec(select(CheckIn))).all())
            inbound = list((await s.exec(select(InboundMessage))).all())
            rows = await outbox.rows_by_kind(s, "holiday")
    finally:
        await db.dispose()
    assert len(checkins) == len(MEMBERS)
    assert len({c.member_id for c in checkins}) == len(MEMBERS)
    assert sorted(m.message_id for m in inbound) == sorted(f"msg-{s}==" for s, _ in MEMBERS)
    assert Counter(r.state for r in rows) == {OutboxState.SENT: GROUPS}


async def test_replicas_creating_the_same_branch_and_group_at_once_both_succeed(
    database: str,
) -> None:
    from storage import groups, members
    from storage.migrate import upgrade as migrate
    from storage.models import Branch, Group

    a, b = Database(database), Database(database)
    await migrate(a)
    first_in = asyncio.Event()
    commit = asyncio.Event()

    async def sync(db: Database, hold: bool) -> int | None:
        async with db.write() as s:
            branch = await members.get_or_create_branch(s, SCHOOL)
            group = await groups.upsert_group(s, "dingtalk", CHAT, "钉钉群", branch.id)
            if hold:  # still uncommitted while the other replica inserts the same rows
                first_in.set()
                await commit.wait()
            return group.id

    try:
        first = asyncio.create_task(sync(a, hold=True))
        await first_in.wait()
        second = asyncio.create_task(sync(b, hold=False))
        await asyncio.sleep(0.2)  # the second is now waiting on the first's row lock
        commit.set()
        ids = await asyncio.gather(first, second)
        assert ids[0] == ids[1]
        async with a.read() as s:
            assert len((await s.exec(select(Branch))).all()) == 1
            assert len((await s.exec(select(Group))).all()) == 1
    finally:
        await a.dispose()
        await b.dispose()
