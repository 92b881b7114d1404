"""A real `qingfeng serve` killed, or stopped, in the middle of a fan-out to 200 groups.

The holiday reminder is due now through the config alone (a [[calendar.overrides]] entry),
so the process runs on the wall clock and sends it in its start-up catch-up pass. The fake
WeCom answers the first pushes and then holds its answers: those pushes reached the groups,
but the sender has not heard so. That is where the kill lands.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FakeClock, SystemClock
from schedules.worker import BATCH, CONCURRENCY
from storage import outbox
from storage.engine import Database
from storage.models import OutboxState
from tests.fakes.waiting import eventually
from tests.fakes.wecom import FakeWeCom
from tests.serve_process import HOLIDAY_TEXT, Server, holiday_due_now, server, upgrade

GROUPS = 200
ANSWERED = BATCH + 30  # answered at once; the next pushes are held (the second batch)
CLAIM_TIMEOUT = 1  # seconds; production keeps 600


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom(FakeClock(SystemClock().now())) as server:
        yield server


def fanout_config(tmp_path: Path, fake: FakeWeCom) -> dict[str, Any]:
    return {
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'qingfeng.db'}"},
        "reminders": {
            "grace_hours": 48,  # the reminder may have fallen due yesterday at 15:00
            "claim_timeout_seconds": CLAIM_TIMEOUT,
            "graduation_dates": [],
        },
        "calendar": {"overrides": [holiday_due_now()]},
        "groups": [
            {
                "name": f"群{i:03d}",
                "platform": "wecom",
                "chat_id": f"wr-{i:03d}",
                "webhook": fake.robot(f"k{i:03d}"),
            }
            for i in range(GROUPS)
        ],
    }


def received(fake: FakeWeCom) -> Counter[str]:
    """How many times each group's robot posted the holiday reminder."""
    return Counter(
        {
            key: n
            for key, pushes in fake.pushes.items()
            if (n := sum(HOLIDAY_TEXT in p.get("text", {}).get("content", "") for p in pushes))
        }
    )


async def holiday_states(url: str) -> Counter[str]:
    db = Database(url)
    try:
        async with db.read() as s:
            return Counter(r.state for r in await outbox.rows_by_kind(s, "holiday"))
    finally:
        await db.dispose()


@pytest.fixture
async def first(tmp_path: Path, fake: FakeWeCom) -> AsyncIterator[tuple[Server, dict[str, Any]]]:
    config = fanout_config(tmp_path, fake)
    srv = server(tmp_path, "first", config)
    await upgrade(srv.config)
    fake.fail("webhook", *["ok"] * ANSWERED, *["hold"] * GROUPS)
    try:
        yield srv, config
    finally:
        await srv.close()


async def test_sigkill_mid_fan_out_then_restart_reaches_every_group(
    tmp_path: Path, fake: FakeWeCom, first: tuple[Server, dict[str, Any]], capsys: Any
) -> None:
    srv, config = first
    await srv.start()
    await eventually(lambda: fake.held == CONCURRENCY, "a full window of sends in flight")
    in_flight = fake.held
    await srv.kill()
    before = received(fake)
    assert sum(before.values()) == ANSWERED + in_flight < GROUPS
    fake.release()

    # The dead process's claims (the sends in flight and the rest of its batch) are
    # someone else's once CLAIM_TIMEOUT has passed: real time, as the process runs on it.
    await asyncio.sleep(CLAIM_TIMEOUT)
    again = server(tmp_path, "again", config)
    try:
        await again.start()
        await eventually(lambda: len(received(fake)) == GROUPS, "every group reached")
        await eventually(lambda: sum(received(fake).values()) == GROUPS + in_flight, "retries")
        await again.terminate()  # its last results are recorded before it exits
        assert await again.wait() == 0
    finally:
        await again.close()

    per_group = received(fake)
    duplicates = sum(n - 1 for n in per_group.values())
    with capsys.disabled():
        print(
            f"\n[fault] SIGKILL mid fan-out: {GROUPS} groups, {in_flight} sends in flight, "
            f"{duplicates} duplicate(s)"
        )
    assert len(per_group) == GROUPS
    assert duplicates <= in_flight <= CONCURRENCY
    assert await holiday_states(config["database"]["url"]) == {OutboxState.SENT: GROUPS}


async def test_sigterm_mid_fan_out_finishes_sends_in_flight_and_exits_0(
    tmp_path: Path, fake: FakeWeCom, first: tuple[Server, dict[str, Any]]
) -> None:
    srv, config = first
    await srv.start()
    await eventually(lambda: fake.held == CONCURRENCY, "a full window of sends in flight")
    await srv.terminate()
    # The process waits for its sends in flight rather than cutting them off.
    with pytest.raises(TimeoutError):
        await srv.wait(within=0.5)
    fake.release()
    assert await srv.wait() == 0, srv.logs()

    reached = received(fake)
    assert sum(reached.values()) == len(reached) == ANSWERED + CONCURRENCY
    # Every push that went out is recorded as sent; the rest wait, none is half-claimed.
    assert await holiday_states(config["database"]["url"]) == {
        OutboxState.SENT: len(reached),
        OutboxState.PENDING: GROUPS - len(reached),
    }

    again = server(tmp_path, "again", config)
    try:
        await again.start()
        await eventually(lambda: len(received(fake)) == GROUPS, "every group reached")
    finally:
        await again.terminate()
        assert await again.wait() == 0
    assert set(received(fake).values()) == {1}  # a graceful stop sends nothing twice
