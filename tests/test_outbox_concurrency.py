"""Exactly once across restarts and replicas: the claim in the database decides."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.messages import Reply
from bot.sending import GroupTarget
from schedules.worker import BATCH, CONCURRENCY, LEASE
from storage import groups, outbox
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import OutboxState
from tests.conftest import make_settings
from tests.recording_transport import RecordingTransport

GROUPS = 45  # a fan-out bigger than the worker's concurrency

PG_URL = os.environ.get("QINGFENG_TEST_POSTGRES", "postgresql+asyncpg://root@127.0.0.1:5432/test")


async def add_groups(app: App, n: int = GROUPS) -> None:
    async with app.db.write() as s:
        for i in range(n):
            await groups.upsert_group(s, "wecom", f"wr-extra-{i:02d}", f"群{i}", None)


async def fan_out(app: App, key: str = "notice:fan") -> int:
    async with app.db.write() as s:
        return await app.services.pusher.to_branch_groups(s, None, "notice", key, Reply("通知"))


async def states(db: Database) -> dict[str, int]:
    async with db.read() as s:
        out: dict[str, int] = {}
        for r in await outbox.rows_by_kind(s, "notice"):
            out[r.state] = out.get(r.state, 0) + 1
        return out


async def test_restart_in_the_middle_of_a_fan_out_sends_nothing_twice(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    await add_groups(app)
    total = await fan_out(app)
    first = RecordingTransport(hang_after=25)
    app.transports["wecom"] = first
    run = asyncio.create_task(app.reminders.worker.run_due())
    await asyncio.wait_for(first.hung.wait(), timeout=20)
    run.cancel()  # the process goes away with sends in flight
    with pytest.raises(asyncio.CancelledError):
        await run
    assert len(first.sent) == 25

    # A new process on the same database file.
    second = RecordingTransport()
    restarted = App(app.settings, clock=clock)
    restarted.transports["wecom"] = second
    await restarted.initialize()
    await restarted.start()
    try:
        await restarted.reminders.worker.run_due()
        # Sends that were in flight when it died may have reached the platform: their rows
        # wait out the lease (10 min, well within the grace period), then go out once.
        after = await states(restarted.db)
        in_flight = after[OutboxState.SENDING]
        assert in_flight >= 1
        assert after == {OutboxState.SENT: total - in_flight, OutboxState.SENDING: in_flight}
        clock.advance(LEASE + timedelta(seconds=1))
        await restarted.reminders.worker.run_due()
        delivered = first.counts() + second.counts()
        assert sum(delivered.values()) == total
        assert set(delivered.values()) == {1}
        assert await states(restarted.db) == {OutboxState.SENT: total}
    finally:
        await restarted.stop()
        await restarted.shutdown()


class HeldWrites:
    """A worker's database whose writes can be held at the door: a commit not made yet."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.holding = False
        self.waiting = 0  # writes held at the door
        self.inside = 0  # writes under way
        self.changed = asyncio.Event()  # set when a count here or in the transport moves
        self._open = asyncio.Event()

    def read(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self.db.read()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[object]:
        if self.holding:
            self.waiting += 1
            self.changed.set()
            await self._open.wait()
            self.waiting -= 1
        self.inside += 1
        try:
            async with self.db.write() as s:
                yield s
        finally:
            self.inside -= 1
            self.changed.set()

    def release(self) -> None:
        self.holding = False
        self._open.set()


class AnswersFirst:
    """Answers the first push (it reached its group) and from then holds the worker's
    writes, so its result is not recorded yet; every later push stays in flight."""

    platform = "wecom"

    def __init__(self, writes: HeldWrites) -> None:
        self.writes = writes
        self.sent: list[str] = []
        self.in_flight = 0
        self._never = asyncio.Event()

    async def send_group(self, target: GroupTarget, message: Reply) -> None:
        if not self.sent:
            self.sent.append(target.chat_id)
            self.writes.holding = True
            self.writes.changed.set()
            return
        self.in_flight += 1
        self.writes.changed.set()
        await self._never.wait()

    async def send_direct(self, user_id: str, message: Reply) -> None:
        raise AssertionError("no direct pushes here")


async def until(check: Callable[[], object], changed: asyncio.Event) -> None:
    while not check():
        changed.clear()
        await changed.wait()


async def test_a_cancelled_worker_records_the_pushes_that_went_out_before_it_ends(
    app: App, clock: FakeClock
) -> None:
    """Cancelled between a send returning and its result's commit, the worker waits for
    that commit: left `sending`, the push would go out again once its lease ran out."""
    from schedules.worker import OutboxWorker

    total = await fan_out(app)  # the two configured groups
    writes = HeldWrites(app.db)
    first = AnswersFirst(writes)
    worker = OutboxWorker(
        cast(Database, writes),
        clock,
        app.settings,
        {"wecom": first},
        app.reminders.planner.render,
        worker_id="first",
    )
    run = asyncio.create_task(worker.run_due())
    # One push answered with its result held before the commit, one in flight, and no
    # write under way (the cancel must not land in the middle of one).
    await asyncio.wait_for(
        until(
            lambda: first.sent and first.in_flight and writes.waiting and not writes.inside,
            writes.changed,
        ),
        timeout=20,
    )
    run.cancel()  # the process is told to go away
    for _ in range(20):  # a cancelled pass that does not wait ends within a few turns
        await asyncio.sleep(0)
    assert not run.done(), "the worker ended with a push that went out not recorded as sent"
    writes.release()
    with pytest.raises(asyncio.CancelledError):
        await run
    [answered] = first.sent
    async with app.db.read() as s:
        chat_of = {g.id: g.chat_id for g in await groups.all_groups(s)}
        by_chat = {chat_of[r.group_id]: r.state for r in await outbox.rows_by_kind(s, "notice")}
    assert by_chat[answered] == OutboxState.SENT
    assert await states(app.db) == {OutboxState.SENT: 1, OutboxState.SENDING: 1}

    # A restart: the answered push is never sent again; the one in flight goes out once
    # its lease has run out.
    second = RecordingTransport()
    again = OutboxWorker(
        app.db, clock, app.settings, {"wecom": second}, app.reminders.planner.render
    )
    assert (await again.run_due()).sent == 0
    clock.advance(LEASE + timedelta(seconds=1))
    assert (await again.run_due()).sent == total - 1
    assert answered not in second.counts()
    assert sum(second.counts().values()) == total - 1 and set(second.counts().values()) == {1}
    assert await states(app.db) == {OutboxState.SENT: total}


async def test_a_crashed_claim_expires_and_is_sent_once(app: App, clock: FakeClock) -> None:
    await add_groups(app, 5)
    total = await fan_out(app)
    now = clock.now()
    async with app.db.write() as s:  # a worker that claims and then dies without a trace
        dead = await outbox.claim_due(s, now, "dead:1", now + LEASE, 4)
    assert len(dead) == 4
    sent = RecordingTransport()
    app.transports["wecom"] = sent
    assert (await app.reminders.worker.run_due()).sent == total - 4
    clock.advance(LEASE + timedelta(seconds=1))
    assert (await app.reminders.worker.run_due()).sent == 4
    assert sum(sent.counts().values()) == total and set(sent.counts().values()) == {1}


async def _two_workers(db_a: Database, db_b: Database, app: App, clock: FakeClock) -> None:
    """Two workers, each with its own engine, race for the same rows."""
    from schedules.worker import OutboxWorker

    # Sends that take as long as a real post, so neither worker finishes a round alone.
    t_a, t_b = RecordingTransport(delay=0.002), RecordingTransport(delay=0.002)
    render = app.reminders.planner.render
    w_a = OutboxWorker(db_a, clock, app.settings, {"wecom": t_a}, render, worker_id="a")
    w_b = OutboxWorker(db_b, clock, app.settings, {"wecom": t_b}, render, worker_id="b")
    total = 0
    async with db_a.write() as s:
        for i in range(3 * BATCH):  # several claims' worth, so the two really contend
            await groups.upsert_group(s, "wecom", f"wr-race-{i:03d}", f"群{i}", None)
    for round_ in range(3):
        async with db_a.write() as s:
            total += await app.services.pusher.to_branch_groups(
                s, None, "notice", f"race:{round_}", Reply(f"第{round_}轮")
            )
        await asyncio.gather(w_a.run_due(), w_b.run_due(), w_a.run_due(), w_b.run_due())
    delivered = [(x.to, x.text) for x in t_a.sent + t_b.sent]
    assert len(delivered) == total
    assert len(set(delivered)) == total  # no row went out twice
    assert t_a.sent and t_b.sent  # both really took part
    assert await states(db_a) == {OutboxState.SENT: total}


async def test_two_workers_on_one_sqlite_file_never_send_a_row_twice(
    app: App, clock: FakeClock
) -> None:
    other = Database(app.db.url)
    try:
        await _two_workers(app.db, other, app, clock)
    finally:
        await other.dispose()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh database on the local PostgreSQL, dropped afterwards; skipped if none."""
    import asyncpg

    base = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        admin = await asyncpg.connect(base, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}")
    name = f"qf_outbox_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_two_workers_on_one_postgresql_database_never_send_a_row_twice(
    pg_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    app = App(make_settings(tmp_path, database={"url": pg_url}), clock=clock)
    other = Database(pg_url)
    try:
        await upgrade(app.db)
        await app.initialize()
        await _two_workers(app.db, other, app, clock)
    finally:
        await other.dispose()
        await app.shutdown()


async def test_a_worker_whose_lease_ran_out_cannot_record_over_the_new_owner(
    app: App, clock: FakeClock
) -> None:
    await fan_out(app)
    now = clock.now()
    async with app.db.write() as s:
        slow = await outbox.claim_due(s, now, "slow:1", now + LEASE, 10)
    ids = [r.id for r in slow if r.id is not None]
    later = now + LEASE + timedelta(seconds=1)
    async with app.db.write() as s:  # another worker takes the expired claim of one row
        [taken] = await outbox.claim_due(s, later, "fast:1", later + LEASE, 1)
        assert await outbox.mark_sent(s, taken.id, "fast:1", later)
    async with app.db.write() as s:
        recorded = {i for i in ids if await outbox.mark_sent(s, i, "slow:1", now)}
    assert recorded == set(ids) - {taken.id}
    async with app.db.read() as s:
        rows = {r.id: r for r in await outbox.rows_by_kind(s, "notice")}
    assert rows[taken.id].claimed_by == "fast:1" and rows[taken.id].attempts == 1


async def test_claim_timeout_setting_shortens_the_wait_for_a_dead_claim(
    app: App, clock: FakeClock
) -> None:
    settings = app.settings.model_copy(
        update={"reminders": app.settings.reminders.model_copy(update={"claim_timeout_seconds": 5})}
    )
    from schedules.worker import OutboxWorker

    sent = RecordingTransport()
    worker = OutboxWorker(
        app.db, clock, settings, {"wecom": sent}, app.reminders.planner.render, worker_id="w"
    )
    assert worker.lease == timedelta(seconds=5)
    await add_groups(app, 3)
    total = await fan_out(app)
    now = clock.now()
    async with app.db.write() as s:  # a process killed with its claim in the database
        await outbox.claim_due(s, now, "dead:1", now + worker.lease, 2)
    assert (await worker.run_due()).sent == total - 2
    clock.advance(timedelta(seconds=6))
    assert (await worker.run_due()).sent == 2
    assert sum(sent.counts().values()) == total and set(sent.counts().values()) == {1}


async def test_stopping_mid_fan_out_finishes_sends_in_flight_and_hands_back_the_rest(
    app: App, clock: FakeClock
) -> None:
    await add_groups(app, CONCURRENCY + 30)  # more than can be in flight at once
    total = await fan_out(app)
    first = RecordingTransport(hang_after=10)
    app.transports["wecom"] = first
    run = asyncio.create_task(app.reminders.worker.run_due())
    await asyncio.wait_for(first.hung.wait(), timeout=20)
    app.reminders.worker.drain()
    first.hang_after = None
    first._never.set()  # the platform answers the sends in flight
    report = await asyncio.wait_for(run, timeout=20)
    # In flight at the stop: finished and recorded; none was begun after it.
    assert report.sent == len(first.sent)
    assert 10 < report.sent <= 10 + CONCURRENCY < total
    after = await states(app.db)
    assert after == {OutboxState.SENT: report.sent, OutboxState.PENDING: total - report.sent}
    app.reminders.worker.resume()
    assert (await app.reminders.worker.run_due()).sent == total - report.sent
    assert set(first.counts().values()) == {1} and sum(first.counts().values()) == total


async def test_a_fan_outs_results_are_committed_together(app: App, clock: FakeClock) -> None:
    """The results of sends that finish together share a commit: 40 pushes, not 40 commits
    (plus the claim and the missed-rows sweep), each still recorded as sent once."""
    from sqlalchemy import event

    await add_groups(app, 40)
    total = await fan_out(app)
    sent = RecordingTransport()
    app.transports["wecom"] = sent
    commits: list[object] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    event.listen(app.db.engine.sync_engine, "commit", committed)
    try:
        report = await app.reminders.worker.run_due()
    finally:
        event.remove(app.db.engine.sync_engine, "commit", committed)
    assert report.sent == total and sorted(sent.counts().values()) == [1] * total
    assert await states(app.db) == {OutboxState.SENT: total}
    assert len(commits) <= 6
