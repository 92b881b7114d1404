"""The same platform message id takes effect once and always gets the first reply."""

from __future__ import annotations

import asyncio

from sqlmodel import func, select

from storage.models import CheckIn, InboundMessage
from tests.conftest import at


async def count(app, model) -> int:
    async with app.db.read() as s:
        return (await s.exec(select(func.count()).select_from(model))).one()


async def test_retry_gets_the_first_reply_and_writes_once(app, chat, clock):
    first = await chat.text("wang", "签到", message_id="retry-1")
    clock.set(at("2026-12-01 08:50"))  # a retry arriving later must not turn into "late"
    for _ in range(2):
        assert await chat.text("wang", "签到", message_id="retry-1") == first
    assert first == "✅ 上班签到成功 08:10，按时。"
    assert await count(app, CheckIn) == 1
    assert await count(app, InboundMessage) == 1


async def test_concurrent_duplicates_write_once(app, chat):
    replies = await asyncio.gather(
        *(chat.text("wang", "签到", message_id="same") for _ in range(5))
    )
    assert set(replies) == {"✅ 上班签到成功 08:10，按时。"}
    assert await count(app, CheckIn) == 1


async def test_same_id_on_another_platform_is_another_message(app, chat):
    await chat.text("wang", "签到", message_id="x1")
    reply = await chat.text("liu-dt", "签到", message_id="x1", platform="dingtalk")
    assert reply == "现在没有正在签到的活动，本支部也未开启每日上下班签到。"
    assert await count(app, InboundMessage) == 2


async def test_failed_handler_records_nothing_so_a_retry_can_work(app, chat, monkeypatch):
    from handlers import checkin

    async def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(checkin.checkins, "record_if_new", broken)
    reply = await chat.text("wang", "签到", message_id="flaky")
    assert reply == "抱歉，处理时出错了，已记录，请稍后再试或联系管理员。"
    assert await count(app, InboundMessage) == 0
    monkeypatch.undo()
    assert await chat.text("wang", "签到", message_id="flaky") == "✅ 上班签到成功 08:10，按时。"


async def test_a_reply_sent_apart_is_claimed_once_across_replicas(app, chat, clock):
    from bot.app import App
    from bot.messages import IncomingMessage

    msg = IncomingMessage("dingtalk", "apart-1", "direct", "liu-dt", "liu-dt", "签到")
    first = await app.dispatcher.handle(msg)
    assert not first.repeated
    other = App(app.settings, clock=clock)  # a second replica on the same database
    try:
        again = await other.dispatcher.handle(msg)
        assert again.repeated and again.text == first.text
        claims = await asyncio.gather(
            app.dispatcher.claim_delivery(msg), other.dispatcher.claim_delivery(msg)
        )
        assert sorted(claims) == [False, True]
        assert await other.dispatcher.delivered(msg)
        await app.dispatcher.release_delivery(msg)  # the send failed: it may go out again
        assert not await app.dispatcher.delivered(msg)
        assert await other.dispatcher.claim_delivery(msg)
    finally:
        await other.shutdown()


async def test_a_long_connection_message_is_claimed_by_its_first_handler(app):
    from bot.messages import IncomingMessage

    msg = IncomingMessage("wecom", "ws-1", "direct", "wang", "wang", "签到", reply_apart=True)
    assert not (await app.dispatcher.handle(msg)).repeated  # its handler sends the reply
    assert (await app.dispatcher.handle(msg)).repeated
    assert not await app.dispatcher.claim_delivery(msg)  # so a re-delivery sends nothing
    never_recorded = msg._replace(message_id="ws-unknown")
    assert await app.dispatcher.claim_delivery(never_recorded)  # nothing to guard
