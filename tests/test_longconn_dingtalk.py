"""DingTalk Stream mode, against a fake Stream gateway on loopback."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import func, select

from bot.app import App
from bot.clock import FakeClock
from storage import groups
from storage.models import CheckIn, InboundMessage
from tests.conftest import BUREAU, SCHOOL
from tests.fakes.dingtalk_streamserver import FakeDingTalkStream
from tests.fakes.waiting import eventually, eventually_async
from tests.longconn_support import CompressedSleep, Replicas, serve

pytest_plugins = ["tests.longconn_fixtures"]

CLIENT_ID, CLIENT_SECRET = "ding-app-key", "ding-app-secret-value"


@pytest.fixture
async def gateway() -> AsyncIterator[FakeDingTalkStream]:
    fake = FakeDingTalkStream(CLIENT_ID, CLIENT_SECRET)
    server = await serve(fake.app)
    fake.base = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()
    assert fake.malformed == []  # every answer the bot gave was one the gateway accepts


def _overrides(
    gateway: FakeDingTalkStream, secret: str = CLIENT_SECRET, api_base: str = ""
) -> dict[str, object]:
    return {
        "dingtalk": {
            "mode": "long_connection",
            "app_key": CLIENT_ID,
            "app_secret": secret,
            "api_base": api_base or gateway.base,
        },
        # The school's members are the roster's DingTalk users; give them the daily check-in.
        "branches": [
            {"name": BUREAU, "daily_checkin": True},
            {"name": SCHOOL, "daily_checkin": True},
        ],
    }


@pytest.fixture
async def bot(replicas: Replicas, gateway: FakeDingTalkStream) -> App:
    app = await replicas.start(**_overrides(gateway))
    await gateway.connected()
    return app


def _valid_until(clock: FakeClock, minutes: int = 90) -> int:
    return int(clock.now().timestamp() * 1000) + minutes * 60_000


async def _undelivered(app: App) -> bool:
    async with app.db.read() as s:
        row = (await s.exec(select(InboundMessage))).one()
    return row.delivered_at is None


async def _count(app: App, model: type) -> int:
    async with app.db.read() as s:
        return (await s.exec(select(func.count()).select_from(model))).one()


async def test_checkin_callback_is_acked_answered_and_recorded(
    bot: App, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    payload = gateway.robot_message("dt-1", "liu-dt", "签到", expires_ms=_valid_until(clock))
    mid = await gateway.deliver(payload)
    await eventually(lambda: gateway.replies, "a reply")
    assert [a["headers"]["messageId"] for a in gateway.acks] == [mid]
    assert gateway.acks[0]["code"] == 200 and gateway.acks[0]["message"] == "OK"
    assert gateway.replies == [
        {
            "msgtype": "text",
            "text": {"content": "@liu-dt\n✅ 上班签到成功 08:10，按时。"},
            "at": {"atUserIds": ["liu-dt"], "isAtAll": False},
        }
    ]
    assert await _count(bot, CheckIn) == 1


async def test_the_gateway_is_asked_for_json_and_the_bot_connects(
    bot: App, gateway: FakeDingTalkStream
) -> None:
    assert gateway.opens == 1 and gateway.xml_answers == 0
    assert bot.long_connections[0].state == "connected"
    # As the real gateway does, the fake answers XML to a request without the header.
    async with aiohttp.ClientSession() as http:
        body = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "subscriptions": []}
        async with http.post(f"{gateway.base}/v1.0/gateway/connections/open", json=body) as r:
            assert r.content_type == "application/xml"


async def test_a_gateway_answering_xml_is_one_clear_log_line(
    replicas: Replicas, gateway: FakeDingTalkStream, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.always_xml = True  # as a proxy that drops the Accept header would make it
    app = await replicas.start(**_overrides(gateway))
    await eventually(lambda: gateway.xml_answers >= 4, "four answers in XML")
    lines = [r.getMessage() for r in caplog.records if "不是 JSON" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("钉钉网关返回的不是 JSON（Content-Type: application/xml）")
    assert app.long_connections[0].problem == (
        "钉钉网关返回的不是 JSON（Content-Type: application/xml）"
    )
    assert gateway.connections == 0


async def _stopped(app: App) -> None:
    """Stop the stream: replies still on their way are sent first, so all are counted."""
    await app.long_connections[0].stop()


async def test_a_callback_pushed_three_times_is_acked_three_times_and_answered_once(
    bot: App, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    payload = gateway.robot_message("dt-1", "liu-dt", "签到", expires_ms=_valid_until(clock))
    mid = await gateway.deliver(payload)
    # The gateway missed the ack, twice: the same frame again.
    await gateway.push_again(mid)
    await gateway.push_again(mid)
    await eventually(lambda: len(gateway.acks) == 3, "three acks")
    await _stopped(bot)
    assert [a["headers"]["messageId"] for a in gateway.acks] == [mid, mid, mid]
    assert gateway.replies == [
        {
            "msgtype": "text",
            "text": {"content": "@liu-dt\n✅ 上班签到成功 08:10，按时。"},
            "at": {"atUserIds": ["liu-dt"], "isAtAll": False},
        }
    ]
    assert await _count(bot, CheckIn) == 1
    assert await _count(bot, InboundMessage) == 1


async def test_the_same_message_in_new_frames_is_acked_and_answered_once(
    bot: App, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    payload = gateway.robot_message("dt-1", "liu-dt", "签到", expires_ms=_valid_until(clock))
    await gateway.deliver(payload)
    await gateway.deliver(payload)  # the same message again, in a new frame
    await eventually(lambda: len(gateway.acks) == 2, "two acks")
    await _stopped(bot)
    assert len(gateway.replies) == 1 and not gateway.unacked
    assert await _count(bot, CheckIn) == 1
    assert await _count(bot, InboundMessage) == 1


async def test_a_message_whose_reply_failed_is_answered_when_pushed_again(
    bot: App, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    payload = gateway.robot_message("dt-1", "liu-dt", "签到", expires_ms=_valid_until(clock))
    payload["sessionWebhook"] = f"{gateway.base}/robot/sendBySession"  # refused: no session
    first = await gateway.deliver(payload)
    await eventually(lambda: gateway.acks, "an ack")
    valid = gateway.robot_message("dt-1", "liu-dt", "签到", expires_ms=_valid_until(clock))
    # Its reply went nowhere (the OpenAPI fallback is not served here), so it was given back.
    await eventually_async(lambda: _undelivered(bot), "the delivery given back")
    await gateway.deliver(valid)
    await eventually(lambda: gateway.replies, "a reply")
    assert "上班签到成功" in gateway.replies[0]["text"]["content"]
    assert gateway.acks[0]["headers"]["messageId"] == first
    assert await _count(bot, CheckIn) == 1


async def test_pings_are_answered_with_their_opaque(bot: App, gateway: FakeDingTalkStream) -> None:
    opaque = await gateway.ping()
    await eventually(lambda: gateway.pongs, "a pong")
    assert gateway.pongs[0]["code"] == 200
    assert json.loads(gateway.pongs[0]["data"]) == {"opaque": opaque}


async def test_a_dropped_connection_is_redialled_and_no_message_is_lost_or_doubled(
    bot: App, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    await gateway.drop()
    # Sent while the bot is away; the gateway delivers it on the next connection.
    await gateway.deliver(
        gateway.robot_message("dt-1", "liu-dt", "签到", expires_ms=_valid_until(clock))
    )
    await gateway.connected(connections=2)
    await eventually(lambda: gateway.replies, "a reply")
    assert gateway.opens == 2  # a fresh ticket for the new connection
    assert not gateway.unacked
    assert len(gateway.replies) == 1
    assert await _count(bot, CheckIn) == 1


async def test_disconnect_frame_is_acked_then_leads_to_a_new_connection(
    bot: App, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    await gateway.ask_to_reconnect()
    await gateway.connected(connections=2)
    assert len(gateway.disconnect_acks) == 1
    assert gateway.events.index("disconnect acked 1") < gateway.events.index("closed 1")
    payload = gateway.robot_message("dt-2", "chen-dt", "签到", expires_ms=_valid_until(clock))
    await gateway.deliver(payload)
    await eventually(lambda: gateway.replies, "a reply")
    assert "上班签到成功" in gateway.replies[0]["text"]["content"]
    assert bot.long_connections[0].state == "connected"


async def test_an_expired_session_webhook_is_not_used_and_the_message_still_counts(
    bot: App, gateway: FakeDingTalkStream, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    payload = gateway.robot_message("dt-3", "liu-dt", "签到", expires_ms=_valid_until(clock, -1))
    await gateway.deliver(payload)
    await eventually(lambda: gateway.acks, "an ack")
    # Callback mode's fallback, the robot OpenAPI, is not served by this gateway fake.
    await eventually(lambda: "reply to dt-3 not delivered" in caplog.text, "the fallback tried")
    assert gateway.replies == []
    assert await _count(bot, CheckIn) == 1
    async with bot.db.read() as s:
        learned = await groups.group_by_chat(s, "dingtalk", "cid-school")
    assert learned is not None and learned.name == "一中群"  # for 绑定本群 and pushes


async def _health(app: App) -> tuple[int, dict[str, object]]:
    async with TestClient(TestServer(app.web_app())) as client:
        resp = await client.get("/healthz")
        return resp.status, await resp.json()


async def test_healthz_shows_the_stream_state(bot: App) -> None:
    status, body = await _health(bot)
    assert status == 200 and body["status"] == "ok" and "reason" not in body
    assert body["connections"] == {"dingtalk": "connected"}


AUTH_FAILED = "钉钉长连接鉴权失败（401），请核对 app_key / app_secret"


async def test_wrong_credentials_back_off_and_the_secret_is_never_logged(
    replicas: Replicas, gateway: FakeDingTalkStream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-secret-value"
    app = await replicas.start(**_overrides(gateway, wrong))
    await eventually(lambda: gateway.refused >= 4, "four refusals")
    assert gateway.connections == 0
    assert app.long_connections[0].state != "connected"
    await replicas.close_all()
    assert AUTH_FAILED in caplog.text
    assert wrong not in caplog.text


async def test_wrong_credentials_make_healthz_503_after_the_grace_and_200_once_fixed(
    replicas: Replicas,
    gateway: FakeDingTalkStream,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = await replicas.start(**_overrides(gateway, "not-the-secret-value"))
    await eventually(lambda: gateway.refused >= 3, "three refusals")
    status, body = await _health(app)
    assert (status, body["status"]) == (200, "ok")  # within the grace: it may be a blip
    assert body["connections"] in ({"dingtalk": "connecting"}, {"dingtalk": "reconnecting"})
    clock.advance(timedelta(seconds=120))
    assert (await _health(app))[0] == 200  # the grace is 120 s
    clock.advance(timedelta(seconds=1))
    status, body = await _health(app)
    assert (status, body["status"], body["reason"]) == (503, "degraded", AUTH_FAILED)
    # Logged once, in Chinese, however many times it was retried.
    assert gateway.refused >= 3
    assert [r.levelname for r in caplog.records if AUTH_FAILED in r.getMessage()] == ["ERROR"]

    gateway.client_secret = "not-the-secret-value"  # the operator fixed the other side
    await gateway.connected()
    await eventually(lambda: app.long_connections[0].state == "connected", "connected")
    status, body = await _health(app)
    assert (status, body["status"]) == (200, "ok") and "reason" not in body


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_gateway_makes_healthz_503_with_the_reason(
    replicas: Replicas, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    port = _closed_port()
    app = await replicas.start(**_overrides(gateway, api_base=f"http://127.0.0.1:{port}"))
    conn = app.long_connections[0]
    await eventually(lambda: conn.problem, "a failed attempt")
    assert (await _health(app))[0] == 200
    clock.advance(timedelta(seconds=121))
    status, body = await _health(app)
    assert status == 503 and body["status"] == "degraded"
    assert str(body["reason"]).startswith(f"无法连接钉钉网关：127.0.0.1:{port}（")
    assert body["connections"] in ({"dingtalk": "connecting"}, {"dingtalk": "reconnecting"})


async def test_the_grace_is_configurable(
    replicas: Replicas, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    overrides = _overrides(gateway, "not-the-secret-value")
    app = await replicas.start(**overrides, server={"health_grace_seconds": 10})
    await eventually(lambda: gateway.refused >= 1, "a refusal")
    clock.advance(timedelta(seconds=11))
    status, body = await _health(app)
    assert status == 503 and body["reason"] == AUTH_FAILED


async def test_tickets_never_reach_the_log(
    bot: App, gateway: FakeDingTalkStream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await gateway.drop()
    await gateway.connected(connections=2)
    assert "dingtalk stream endpoint" in caplog.text
    assert "ticket" not in caplog.text and CLIENT_SECRET not in caplog.text


async def test_a_second_replica_takes_over_the_stream_when_the_first_dies(
    replicas: Replicas,
    gateway: FakeDingTalkStream,
    clock: FakeClock,
    sleep: CompressedSleep,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await replicas.start(**_overrides(gateway))
    await gateway.connected()
    second = await replicas.start(**_overrides(gateway))
    standby = second.long_connections[0]
    await eventually(lambda: standby.state == "standby", "standby")

    async def killed() -> None:
        """A killed process releases nothing."""

    monkeypatch.setattr(first.long_connections[0].lease, "release", killed)
    await first.stop()
    # Sent while nobody is connected: held by the gateway until someone is.
    await gateway.deliver(
        gateway.robot_message("dt-9", "liu-dt", "签到", expires_ms=_valid_until(clock))
    )
    for _ in range(5):
        await sleep(10)
    assert gateway.connections == 1  # the dead replica's lease has not run out yet
    clock.advance(timedelta(seconds=31))
    await gateway.connected(connections=2)
    await eventually(lambda: gateway.replies, "a reply")
    assert standby.state == "connected" and not gateway.unacked
    assert await _count(second, CheckIn) == 1
