"""WeCom 智能机器人 over the long connection, against a fake WeCom server on loopback."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import func, select

from bot.app import App
from bot.clock import FakeClock
from bot.messages import Mention, Reply
from bot.sending import GroupTarget, SendError
from storage.models import CheckIn, InboundMessage
from tests.fakes.waiting import eventually
from tests.fakes.wecom_longconn import FakeWeComWS, text_message
from tests.longconn_support import CompressedSleep, Replicas, serve

pytest_plugins = ["tests.longconn_fixtures"]

BOT_ID, SECRET = "bot-1", "aibot-secret-value"


@pytest.fixture
async def wecom() -> AsyncIterator[tuple[FakeWeComWS, TestServer]]:
    fake = FakeWeComWS(BOT_ID, SECRET)
    server = await serve(fake.app)
    yield fake, server
    await server.close()
    assert fake.malformed == []  # every frame the bot sent was one WeCom accepts


def _overrides(server: TestServer, secret: str = SECRET, url: str = "") -> dict[str, object]:
    url = url or str(server.make_url("/")).replace("http://", "ws://")
    return {
        "wecom": {
            "mode": "long_connection",
            "aibot": {"bot_id": BOT_ID, "secret": secret, "ws_url": url},
        }
    }


@pytest.fixture
async def bot(replicas: Replicas, wecom: tuple[FakeWeComWS, TestServer]) -> App:
    fake, server = wecom
    app = await replicas.start(**_overrides(server))
    await fake.connected()
    return app


async def _count(app: App, model: type, **where: object) -> int:
    async with app.db.read() as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return (await s.exec(stmt)).one()


async def test_checkin_frame_gets_its_reply_frame_and_its_row(
    bot: App, wecom: tuple[FakeWeComWS, TestServer]
) -> None:
    fake, _ = wecom
    req_id = await fake.deliver(text_message("msg-1", "wang", "签到"))
    reply = await fake.reply_to(req_id)
    stream = reply["body"]["stream"]
    assert reply["body"]["msgtype"] == "stream"
    assert stream["finish"] is True
    assert stream["content"] == "✅ 上班签到成功 08:10，按时。"
    assert await _count(bot, CheckIn) == 1


async def test_a_message_delivered_three_times_is_answered_once(
    bot: App, wecom: tuple[FakeWeComWS, TestServer]
) -> None:
    fake, _ = wecom
    first = await fake.deliver(text_message("msg-1", "wang", "签到"))
    await fake.push_again(first)  # the same frame again
    await fake.deliver(text_message("msg-1", "wang", "签到"))  # the same message, a new frame
    # Frames are handled in order: once the next message is answered, those were too.
    await fake.reply_to(await fake.deliver(text_message("msg-2", "sun", "签到")))
    replies = fake.frames("aibot_respond_msg")
    assert [r["body"]["stream"]["id"] for r in replies] == ["msg-1", "msg-2"]
    assert replies[0]["body"]["stream"]["content"] == "✅ 上班签到成功 08:10，按时。"
    assert await _count(bot, CheckIn) == 2
    assert await _count(bot, InboundMessage, message_id="msg-1") == 1


async def test_a_reply_wecom_refused_is_sent_when_wecom_delivers_the_message_again(
    bot: App, wecom: tuple[FakeWeComWS, TestServer]
) -> None:
    fake, _ = wecom
    fake.respond_errcode = 600_001  # the reply does not get through
    req_id = await fake.deliver(text_message("msg-1", "wang", "签到"))
    await fake.reply_to(req_id)
    fake.respond_errcode = 0
    await fake.drop()
    await fake.connected(subscribes=2)  # the fake pushes what went unanswered again
    again = await fake.reply_to(req_id, nth=2)
    assert again["body"]["stream"]["content"] == "✅ 上班签到成功 08:10，按时。"
    assert not fake.unanswered
    assert await _count(bot, CheckIn) == 1
    assert await _count(bot, InboundMessage, message_id="msg-1") == 1


async def test_a_dropped_connection_is_redialled_and_no_message_is_lost_or_doubled(
    bot: App, wecom: tuple[FakeWeComWS, TestServer], sleep: CompressedSleep
) -> None:
    fake, _ = wecom
    await fake.reply_to(await fake.deliver(text_message("m-wang", "wang", "签到")))
    await fake.drop()
    # Sent while the bot is away: WeCom holds it until the bot is back.
    pending = await fake.deliver(text_message("m-sun", "sun", "签到"))
    await fake.connected(subscribes=2)
    assert (await fake.reply_to(pending))["body"]["stream"]["content"].startswith("✅")
    assert len(fake.frames("aibot_respond_msg")) == 2
    assert await _count(bot, CheckIn) == 2
    assert any(0.5 <= d <= 1.0 for d in sleep.delays)  # the first back-off step, jittered
    assert bot.long_connections[0].state == "connected"


async def test_pushes_go_out_over_the_connection_exactly_once(
    bot: App, wecom: tuple[FakeWeComWS, TestServer]
) -> None:
    fake, _ = wecom
    transport = bot.transports["wecom"]
    target = GroupTarget("wecom", "wr-bureau", "机关群")  # no webhook key
    await transport.send_group(target, Reply("请按时参加主题党日。", (Mention("wang", "王党员"),)))
    await transport.send_direct("li", Reply("本月汇总已生成。"))
    sent = fake.frames("aibot_send_msg")
    assert [f["body"]["chatid"] for f in sent] == ["wr-bureau", "li"]
    # The official SDK's fields, no more: WeCom tells a group from a person by the id.
    assert [set(f["body"]) for f in sent] == [{"chatid", "msgtype", "markdown"}] * 2
    assert sent[0]["body"]["msgtype"] == "markdown"
    assert sent[0]["body"]["markdown"]["content"] == "@王党员\n请按时参加主题党日。"


async def test_a_push_refused_or_without_connection_raises_and_is_not_sent_twice(
    bot: App, wecom: tuple[FakeWeComWS, TestServer]
) -> None:
    fake, _ = wecom
    transport = bot.transports["wecom"]
    fake.send_errcode = 93000
    with pytest.raises(SendError) as refused:
        await transport.send_group(GroupTarget("wecom", "wr-gone", "旧群"), Reply("通知"))
    assert refused.value.permanent
    assert len(fake.frames("aibot_send_msg")) == 1
    await bot.long_connections[0].stop()
    with pytest.raises(SendError) as offline:
        await transport.send_group(GroupTarget("wecom", "wr-bureau", "机关群"), Reply("通知"))
    assert not offline.value.permanent
    assert len(fake.frames("aibot_send_msg")) == 1


async def _health(app: App) -> tuple[int, dict[str, object]]:
    async with TestClient(TestServer(app.web_app())) as client:
        resp = await client.get("/healthz")
        return resp.status, await resp.json()


async def test_healthz_shows_the_connection_state(bot: App) -> None:
    status, body = await _health(bot)
    assert status == 200 and body["status"] == "ok" and "reason" not in body
    assert body["connections"] == {"wecom": "connected"}


REFUSED = "企业微信长连接订阅被拒绝（errcode=40058 bad），请核对 bot_id / secret"


async def test_a_refused_subscription_makes_healthz_503_after_the_grace_and_200_once_fixed(
    replicas: Replicas,
    wecom: tuple[FakeWeComWS, TestServer],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, server = wecom
    app = await replicas.start(**_overrides(server, "wrong-secret-value"))
    await eventually(lambda: fake.refused >= 3, "three refusals")
    status, body = await _health(app)
    assert (status, body["status"]) == (200, "ok")  # within the grace
    clock.advance(timedelta(seconds=120))
    assert (await _health(app))[0] == 200
    clock.advance(timedelta(seconds=1))
    status, body = await _health(app)
    assert (status, body["status"], body["reason"]) == (503, "degraded", REFUSED)
    assert body["connections"] in ({"wecom": "connecting"}, {"wecom": "reconnecting"})
    assert [r.levelname for r in caplog.records if REFUSED in r.getMessage()] == ["ERROR"]

    fake.secret = "wrong-secret-value"  # the console and the config agree again
    await fake.connected()
    await eventually(lambda: app.long_connections[0].state == "connected", "connected")
    status, body = await _health(app)
    assert (status, body["status"]) == (200, "ok") and "reason" not in body


async def test_an_unreachable_server_makes_healthz_503_with_the_reason(
    replicas: Replicas, wecom: tuple[FakeWeComWS, TestServer], clock: FakeClock
) -> None:
    _, server = wecom
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = await replicas.start(**_overrides(server, url=f"ws://127.0.0.1:{port}/"))
    conn = app.long_connections[0]
    await eventually(lambda: conn.problem, "a failed attempt")
    assert (await _health(app))[0] == 200
    clock.advance(timedelta(seconds=121))
    status, body = await _health(app)
    assert status == 503
    assert str(body["reason"]).startswith(f"无法连接企业微信长连接服务器：127.0.0.1:{port}（")


async def test_a_standby_replica_is_healthy_however_long_it_waits(
    replicas: Replicas, wecom: tuple[FakeWeComWS, TestServer], clock: FakeClock
) -> None:
    fake, server = wecom
    await replicas.start(**_overrides(server))
    await fake.connected()
    second = await replicas.start(**_overrides(server), server={"health_grace_seconds": 0})
    await eventually(lambda: second.long_connections[0].state == "standby", "standby")
    clock.advance(timedelta(seconds=20))  # past any grace, within the holder's lease
    status, body = await _health(second)
    assert (status, body["connections"]) == (200, {"wecom": "standby"})


async def test_a_wrong_secret_is_retried_with_growing_capped_backoff_and_never_logged(
    replicas: Replicas,
    wecom: tuple[FakeWeComWS, TestServer],
    sleep: CompressedSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, server = wecom
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-value"
    app = await replicas.start(**_overrides(server, wrong))
    conn = app.long_connections[0]
    await eventually(lambda: fake.refused >= 9, "nine refusals")
    assert fake.subscribes == 0
    assert conn.state in ("connecting", "reconnecting")
    backoffs = [d for d in sleep.delays if d != conn.lease.renew_every]
    assert max(backoffs) <= 60 and max(backoffs) >= 30  # it grew, up to the cap
    await replicas.close_all()
    assert "errcode=40058" in caplog.text
    assert wrong not in caplog.text and SECRET not in caplog.text


async def test_a_second_replica_takes_over_when_the_first_dies(
    replicas: Replicas,
    clock: FakeClock,
    wecom: tuple[FakeWeComWS, TestServer],
    sleep: CompressedSleep,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, server = wecom
    first = await replicas.start(**_overrides(server))
    await fake.connected()
    second = await replicas.start(**_overrides(server))
    standby = second.long_connections[0]
    await eventually(lambda: standby.state == "standby", "standby")
    for _ in range(20):  # the standby keeps polling; the holder keeps its lease
        await sleep(10)
    assert fake.subscribes == 1 and standby.state == "standby"

    # The first replica dies: its socket goes, its lease is never released.
    monkeypatch.setattr(first.long_connections[0].lease, "release", _no_release)
    await first.stop()
    await sleep(10)
    assert standby.state == "standby"  # the dead replica's lease still runs
    clock.advance(timedelta(seconds=31))
    await fake.connected(subscribes=2)
    req_id = await fake.deliver(text_message("after-takeover", "wang", "签到"))
    assert (await fake.reply_to(req_id))["body"]["stream"]["content"].startswith("✅")
    assert standby.state == "connected"


async def _no_release() -> None:
    """A killed process releases nothing."""


async def test_a_clean_stop_hands_the_connection_over_at_once(
    replicas: Replicas, wecom: tuple[FakeWeComWS, TestServer]
) -> None:
    fake, server = wecom
    first = await replicas.start(**_overrides(server))
    await fake.connected()
    second = await replicas.start(**_overrides(server))
    await first.stop()  # releases the lease; the clock does not move
    await fake.connected(subscribes=2)
    # The fake has the subscribe; the client counts as connected once the answer reaches it.
    await eventually(lambda: second.long_connections[0].state == "connected", "second connected")


async def test_a_replica_that_loses_its_lease_closes_its_connection(
    bot: App, wecom: tuple[FakeWeComWS, TestServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, _ = wecom
    conn = bot.long_connections[0]

    async def taken_by_another() -> bool:
        conn.lease.held = False
        return False

    monkeypatch.setattr(conn.lease, "acquire", taken_by_another)
    await eventually(lambda: fake.current is None, "connection closed")
    await eventually(lambda: conn.state == "standby", "standby")
    assert fake.subscribes == 1


async def test_long_pushes_are_split_and_the_robot_limit_is_kept_without_repeats(
    bot: App, wecom: tuple[FakeWeComWS, TestServer], clock: FakeClock
) -> None:
    fake, _ = wecom
    transport = bot.transports["wecom"]
    target = GroupTarget("wecom", "wr-bureau", "机关群")
    paragraph = "党员须知：" + "按时参加组织生活。" * 60  # about 1.6 KB each
    long_text = "\n\n".join([paragraph] * 5)
    for _ in range(4):
        await transport.send_group(target, Reply("提醒"))
    # 16 slots left this minute; the long text needs 3 pieces, so the 6th push runs out.
    for _ in range(5):
        await transport.send_group(target, Reply(long_text))
    with pytest.raises(SendError) as limited:
        await transport.send_group(target, Reply(long_text))
    assert not limited.value.permanent and limited.value.retry_after
    assert len(fake.frames("aibot_send_msg")) == 20
    clock.advance(timedelta(minutes=1))
    await transport.send_group(target, Reply(long_text))  # the outbox's retry
    sent = fake.frames("aibot_send_msg")
    assert len(sent) == 22  # only the piece that had not gone out
    assert all(len(f["body"]["markdown"]["content"].encode()) <= 4096 for f in sent)
    assert "\n\n".join(f["body"]["markdown"]["content"] for f in sent[4:7]) == long_text


async def test_non_text_messages_and_events_get_a_hint_or_nothing(
    bot: App, wecom: tuple[FakeWeComWS, TestServer]
) -> None:
    fake, _ = wecom
    image = {
        "msgid": "img-1",
        "chattype": "single",
        "from": {"userid": "wang"},
        "msgtype": "image",
        "image": {"url": "https://example.invalid/x", "aeskey": "k"},
    }
    reply = await fake.reply_to(await fake.deliver(image))
    assert reply["body"]["stream"]["content"].startswith("目前只能处理文字消息")
    assert fake.current is not None
    event = {"cmd": "aibot_event_callback", "headers": {"req_id": "ev-1"}}
    event["body"] = {"msgtype": "event", "event": {"eventtype": "enter_chat"}}
    await fake.current.send_json(event)
    await fake.current.send_str("not json")
    ok = await fake.reply_to(await fake.deliver(text_message("msg-2", "wang", "签到")))
    assert ok["body"]["stream"]["content"].startswith("✅")
    # The picture was answered by the dispatcher (a secretary's may be for a 纪要).
    assert await _count(bot, InboundMessage) == 2
    assert fake.subscribes == 1  # none of it broke the connection
