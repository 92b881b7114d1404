"""DingTalk Stream mode, against a fake Stream gateway on loopback."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import func, select

from qingfeng.bot.app import App
from qingfeng.bot.clock import FakeClock
from qingfeng.storage import groups
from qingfeng.storage.models import CheckIn, InboundMessage
from tests.conftest import BUREAU, SCHOOL
from tests.fakes.dingtalk_streamserver import FakeDingTalkStream
from tests.fakes.waiting import eventually
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


def _overrides(gateway: FakeDingTalkStream, secret: str = CLIENT_SECRET) -> dict[str, object]:
    return {
        "dingtalk": {
            "mode": "long_connection",
            "app_key": CLIENT_ID,
            "app_secret": secret,
            "api_base": gateway.base,
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


async def test_a_redelivered_callback_changes_nothing(
    bot: App, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    payload = gateway.robot_message("dt-1", "liu-dt", "签到", expires_ms=_valid_until(clock))
    await gateway.deliver(payload)
    await gateway.deliver(payload)  # the same message again, in a new frame
    await eventually(lambda: len(gateway.replies) == 2, "two replies")
    assert gateway.replies[0] == gateway.replies[1]
    assert len(gateway.acks) == 2 and not gateway.unacked
    assert await _count(bot, CheckIn) == 1
    assert await _count(bot, InboundMessage) == 1


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


async def test_disconnect_frame_leads_to_a_new_connection(
    bot: App, gateway: FakeDingTalkStream, clock: FakeClock
) -> None:
    await gateway.ask_to_reconnect()
    await gateway.connected(connections=2)
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


async def test_healthz_shows_the_stream_state(bot: App) -> None:
    async with TestClient(TestServer(bot.web_app())) as client:
        body = await (await client.get("/healthz")).json()
    assert body["connections"] == {"dingtalk": "connected"}


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
    assert "HTTP 401" in caplog.text
    assert wrong not in caplog.text


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
