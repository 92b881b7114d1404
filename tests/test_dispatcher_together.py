"""Messages that arrive together: on SQLite they share one write transaction (group commit),
on PostgreSQL each is its own. Either way each gets their own reply, a retry gets the first
reply, and one message that fails costs the others nothing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlmodel import func, select

from bot.context import Context
from bot.dispatcher import BUSY_REPLY, ERROR_REPLY
from bot.messages import IncomingMessage, Reply
from bot.router import Command, Router
from storage.models import CheckIn, InboundMessage
from tests.conftest import at
from tests.sqlite_lock import holding_lock

SIGNED_IN = "✅ 上班签到成功 08:10，按时。"


def message(sender: str, text: str, message_id: str) -> IncomingMessage:
    return IncomingMessage(
        platform="wecom",
        message_id=message_id,
        chat_type="group",
        chat_id="wr-bureau",
        sender_id=sender,
        text=f"@清风 {text}",
    )


async def count(app, model) -> int:
    async with app.db.read() as s:
        return (await s.exec(select(func.count()).select_from(model))).one()


async def test_messages_arriving_together_each_get_their_own_reply(app):
    senders = ["zhou", "li", "wang", "sun"]
    replies = await asyncio.gather(
        *(app.dispatcher.handle(message(s, "签到", f"together-{s}")) for s in senders),
        app.dispatcher.handle(message("qian", "我的", "together-qian")),
        app.dispatcher.handle(message("stranger", "签到", "together-stranger")),
    )
    assert [r.text for r in replies[:4]] == [SIGNED_IN] * 4
    assert replies[4].text.startswith("📋 钱群众 · 本月")
    assert "绑定" in replies[5].text  # not on the roster: told how to bind, nothing written
    assert await count(app, CheckIn) == 4
    assert await count(app, InboundMessage) == 6


async def test_a_retry_arriving_at_once_gets_the_same_reply_and_writes_once(app):
    twice = message("wang", "签到", "retried-at-once")
    first, again = await asyncio.gather(app.dispatcher.handle(twice), app.dispatcher.handle(twice))
    assert first.text == again.text == SIGNED_IN
    assert await count(app, CheckIn) == 1
    assert await count(app, InboundMessage) == 1


async def test_one_failing_message_does_not_cost_the_others_their_check_in(app, caplog):
    async def boom(ctx: Context, _: str) -> Reply:
        raise RuntimeError("handler bug")

    broken = Command(name="故障", summary="测试用", usage="故障", run=boom)
    app.dispatcher.router = Router([*app.dispatcher.router.commands, broken])
    replies = await asyncio.gather(
        app.dispatcher.handle(message("wang", "签到", "ok-1")),
        app.dispatcher.handle(message("li", "故障", "bad")),
        app.dispatcher.handle(message("sun", "签到", "ok-2")),
        app.dispatcher.handle(message("zhou", "签到", "ok-3")),
    )
    assert [r.text for r in replies] == [SIGNED_IN, ERROR_REPLY, SIGNED_IN, SIGNED_IN]
    assert await count(app, CheckIn) == 3
    assert "handler bug" in caplog.text  # the culprit's traceback is logged once it runs alone
    # The failed message was not recorded, so the platform's retry is handled afresh.
    async with app.db.read() as s:
        ids = (await s.exec(select(InboundMessage.message_id))).all()
    assert sorted(ids) == ["ok-1", "ok-2", "ok-3"]


async def test_a_writer_in_another_process_is_waited_for_without_stalling_the_loop(app, clock):
    """When another connection holds SQLite's lock, BEGIN IMMEDIATE waits for it in the
    driver's thread while the loop runs on."""
    if not app.db.is_sqlite:
        pytest.skip("SQLite's write lock")
    path = app.db.sqlite_path
    assert path
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    beating = asyncio.create_task(ticker())
    with holding_lock(path):
        pending = asyncio.create_task(
            app.dispatcher.handle(message("wang", "签到", "while-locked"))
        )
        await asyncio.sleep(0.3)
        assert not pending.done()  # waiting for the lock...
        assert ticks >= 10  # ...while the loop keeps running
    reply = await asyncio.wait_for(pending, 5)
    beating.cancel()
    assert reply.text == SIGNED_IN
    assert clock.now() == at("2026-12-01 08:10")
    assert await count(app, CheckIn) == 1


async def test_a_message_submitted_as_another_finishes_is_not_left_waiting(app):
    # Submitted from the first reply's own callbacks.
    dispatcher = app.dispatcher
    second: asyncio.Future[asyncio.Future[Reply]] = asyncio.get_running_loop().create_future()
    first = dispatcher.submit(message("wang", "签到", "m-first"))
    first.add_done_callback(
        lambda _: second.set_result(dispatcher.submit(message("sun", "签到", "m-second")))
    )
    assert (await first).text == SIGNED_IN
    reply = await asyncio.wait_for(await second, timeout=5)
    assert reply.text == SIGNED_IN


async def test_a_message_that_fails_outside_any_handler_still_gets_an_answer(app, monkeypatch):
    # Say the database fails again while the dispatcher looks up an earlier reply: the
    # callers (the adapters await these futures directly) must get an answer, not hang.
    async def broken(_msg):
        raise RuntimeError("the read of the earlier reply failed too")

    monkeypatch.setattr(app.dispatcher, "_alone", broken)
    pending = app.dispatcher.submit(message("wang", "签到", "m-broken"))
    reply = await asyncio.wait_for(pending, timeout=5)
    assert reply.text == ERROR_REPLY


async def test_on_sqlite_messages_arriving_together_share_one_commit(app):
    if not app.db.is_sqlite:
        pytest.skip("group commit is for SQLite's single writer")
    commits = []

    def committed(conn) -> None:
        commits.append(conn)

    event.listen(app.db.engine.sync_engine, "commit", committed)
    try:
        senders = ["zhou", "li", "wang", "sun"]
        replies = await asyncio.gather(
            *(app.dispatcher.handle(message(s, "签到", f"batch-{s}")) for s in senders)
        )
    finally:
        event.remove(app.db.engine.sync_engine, "commit", committed)
    assert [r.text for r in replies] == [SIGNED_IN] * 4
    assert len(commits) == 1
    assert await count(app, CheckIn) == 4


async def test_a_twin_in_the_same_batch_is_answered_once_with_the_others(app):
    twice = message("wang", "签到", "twin-in-batch")
    replies = await asyncio.gather(
        app.dispatcher.handle(message("sun", "签到", "beside-twin")),
        app.dispatcher.handle(twice),
        app.dispatcher.handle(twice),
    )
    assert [r.text for r in replies] == [SIGNED_IN] * 3
    # One of the twins is handled, the other answered with its reply (on PostgreSQL they
    # run side by side, so either may be first).
    assert not replies[0].repeated and sorted(r.repeated for r in replies[1:]) == [False, True]
    assert await count(app, CheckIn) == 2
    assert await count(app, InboundMessage) == 2


async def test_messages_waiting_when_the_loop_closes_get_an_answer(app):
    if not app.db.is_sqlite:
        pytest.skip("only SQLite queues messages for a batch")
    pending = [app.dispatcher.submit(message(s, "签到", f"closing-{s}")) for s in ("li", "sun")]
    drainer = app.dispatcher.batches.drainer
    assert drainer is not None
    drainer.cancel()
    replies = await asyncio.wait_for(asyncio.gather(*pending), timeout=5)
    assert [r.text for r in replies] == [BUSY_REPLY, BUSY_REPLY]
    assert await count(app, CheckIn) == 0
