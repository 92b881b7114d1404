"""POST /dingtalk/robot: signed callbacks get their reply; forged or broken ones change nothing."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.platforms.dingtalk import DingTalkPlatform
from bot.platforms.dingtalk.adapter import DingTalkAdapter
from bot.router import BIND_HINT
from tests.conftest import SCHOOL, branch_id
from tests.dingtalk_harness import REPLY_WAIT, DingTalkHarness, dingtalk_bot
from tests.fakes.dingtalk import APP_SECRET, callback_headers

SIGNED_IN = "✅ 上班签到成功 08:10，按时。"


@pytest.fixture
async def dt(tmp_path, clock, roster_file, postgres_url) -> AsyncIterator[DingTalkHarness]:
    async with dingtalk_bot(tmp_path, clock, roster_file, postgres_url) as harness:
        yield harness


def adapter_in(app: App) -> DingTalkAdapter:
    adapter = app.platform(DingTalkPlatform).adapter
    assert adapter is not None
    return adapter


def adapter_of(dt: DingTalkHarness) -> DingTalkAdapter:
    return adapter_in(dt.app)


async def test_group_sign_in_is_answered_in_the_response_and_ats_the_sender(dt):
    answer = await dt.say("签到")
    assert answer == {
        "msgtype": "text",
        "text": {"content": f"@chen-dt\n{SIGNED_IN}"},
        "at": {"atUserIds": ["chen-dt"], "isAtAll": False},
    }
    rows = await dt.checkins()
    assert [(r.day.isoformat(), r.slot, r.on_time) for r in rows] == [("2026-12-01", "上班", True)]
    assert dt.fake.delivered == []  # answered in the HTTP response, nothing sent separately


async def test_same_msg_id_three_times_writes_one_row_and_repeats_the_reply(dt):
    answers = [await dt.say("签到", msg_id="msgRetry==") for _ in range(3)]
    assert {a["text"]["content"] for a in answers} == {f"@chen-dt\n{SIGNED_IN}"}
    assert len(await dt.checkins()) == 1
    assert len(await dt.inbound()) == 1


async def test_same_msg_id_concurrently_writes_one_row(dt):
    payload = dt.payload("签到", msg_id="msgBurst==")
    responses = await asyncio.gather(*(dt.post(payload) for _ in range(3)))
    assert [r.status for r in responses] == [200, 200, 200]
    assert len(await dt.checkins()) == 1
    assert len(await dt.inbound()) == 1


async def test_direct_chat_reply_has_no_at(dt):
    answer = await dt.say("签到", group=False)
    assert answer["text"]["content"] == SIGNED_IN
    assert answer["at"]["atUserIds"] == []
    assert len(await dt.checkins()) == 1


async def test_unknown_staff_is_told_how_to_bind(dt):
    answer = await dt.say("签到", sender="stranger01", nick="路人")
    assert answer["text"]["content"] == f"@stranger01\n{BIND_HINT}"
    assert await dt.checkins() == []


async def test_sender_without_staff_id_falls_back_to_sender_id(dt):
    answer = await dt.say("帮助", sender=None, nick="外部")
    # No staffId: DingTalk cannot @ this sender, so the reply is plain.
    assert answer["at"]["atUserIds"] == []
    assert "绑定 姓名 手机后四位" in answer["text"]["content"]
    (row,) = await dt.inbound()
    assert row.sender == "$:LWCP_v1:$外部"


async def test_binding_by_dingtalk_account_then_sign_in(dt):
    answer = await dt.say("绑定 新同志 0019", sender="newbie-dt", nick="新同志")
    assert "✅ 绑定成功：新同志" in answer["text"]["content"]
    answer = await dt.say("签到", sender="newbie-dt", nick="新同志")
    assert answer["text"]["content"] == f"@newbie-dt\n{SIGNED_IN}"


async def test_non_text_message_gets_a_hint(dt):
    answer = await dt.say("", msgtype="file")  # a picture may be for a 纪要: test_minutes
    assert answer["text"]["content"] == "我只看得懂文字消息。发送「帮助」查看可用命令。"
    assert await dt.inbound() == []


async def test_unknown_group_is_learned_and_can_be_bound(dt):
    await dt.say("帮助", conversation_id="cidNewGroup==", title="一中二支部群")
    (group,) = [g for g in await dt.groups() if g.platform == "dingtalk"]
    assert (group.chat_id, group.name, group.branch_id) == ("cidNewGroup==", "一中二支部群", None)

    answer = await dt.say(
        f"绑定本群 {SCHOOL}", conversation_id="cidNewGroup==", title="一中二支部群"
    )
    assert f"本群已绑定到「{SCHOOL}」" in answer["text"]["content"]
    (group,) = [g for g in await dt.groups() if g.platform == "dingtalk"]
    assert group.branch_id == await branch_id(dt.app, SCHOOL)

    # Talking again does not undo the binding.
    await dt.say("帮助", conversation_id="cidNewGroup==", title="一中二支部群")
    (group,) = [g for g in await dt.groups() if g.platform == "dingtalk"]
    assert group.branch_id == await branch_id(dt.app, SCHOOL)


# -- late replies -----------------------------------------------------------------------


def hold(app: App, gate: asyncio.Event, monkeypatch: pytest.MonkeyPatch) -> DingTalkAdapter:
    """Hold every dispatch of `app` until `gate` is set, and wait only 10 ms for it."""
    submit = app.dispatcher.submit

    async def slow_handle(msg):
        await gate.wait()
        return await submit(msg)

    monkeypatch.setattr(app.dispatcher, "submit", lambda m: asyncio.ensure_future(slow_handle(m)))
    adapter = adapter_in(app)
    adapter.reply_wait = 0.01
    return adapter


@pytest.fixture
def slow(dt, monkeypatch) -> asyncio.Event:
    """Hold every dispatch until the returned event is set, and wait only 10 ms for it."""
    gate = asyncio.Event()
    hold(dt.app, gate, monkeypatch)
    return gate


async def test_slow_reply_goes_through_the_session_webhook(dt, slow):
    answer = await dt.say("签到", session_webhook=dt.fake.session_webhook("sess-a"))
    assert answer == {}  # acknowledged; the reply follows
    slow.set()
    await adapter_of(dt).drain()
    (sent,) = dt.fake.delivered
    assert (sent.via, sent.target, sent.text) == ("session", "sess-a", f"@chen-dt\n{SIGNED_IN}")
    assert sent.at_user_ids == ("chen-dt",)
    assert len(await dt.checkins()) == 1


async def test_a_slow_callback_retried_gets_one_late_reply(dt, slow):
    payload = dt.payload("签到", msg_id="msgTwice==", session_webhook=dt.fake.session_webhook("t"))
    first = await dt.post(payload)
    again = await dt.post(payload)  # DingTalk's retry: it did not hear back in time
    assert [await first.json(), await again.json()] == [{}, {}]
    slow.set()
    await adapter_of(dt).drain()
    (sent,) = dt.fake.delivered
    assert (sent.via, sent.text) == ("session", f"@chen-dt\n{SIGNED_IN}")
    # Another retry, after the reply went out: the acknowledgement and nothing else.
    adapter_of(dt).reply_wait = REPLY_WAIT
    assert await (await dt.post(payload)).json() == {}
    await adapter_of(dt).drain()
    assert len(dt.fake.delivered) == 1
    assert len(await dt.inbound()) == 1
    assert len(await dt.checkins()) == 1


async def test_replicas_sharing_the_database_send_one_late_reply(dt, slow, clock, monkeypatch):
    # A second replica on the same database.
    async with App(dt.app.settings, clock=clock) as other:
        await other.start()
        other_adapter = hold(other, slow, monkeypatch)
        async with TestClient(TestServer(other.web_app(), host="127.0.0.1")) as client:
            payload = dt.payload("签到", msg_id="msgBoth==")
            data = json.dumps(payload, ensure_ascii=False).encode()
            headers = callback_headers(dt.now_ms())
            answers = await asyncio.gather(
                dt.post(payload), client.post("/dingtalk/robot", data=data, headers=headers)
            )
            assert [await a.json() for a in answers] == [{}, {}]
            slow.set()
            await asyncio.gather(adapter_of(dt).drain(), other_adapter.drain())
    (sent,) = dt.fake.delivered
    assert sent.text == f"@chen-dt\n{SIGNED_IN}"
    assert len(await dt.checkins()) == 1


async def test_slow_reply_with_expired_session_webhook_uses_the_openapi(dt, slow):
    payload = dt.payload("签到", session_webhook=dt.fake.session_webhook("sess-b"))
    # Within the safety margin of its expiry: not worth the risk.
    payload["sessionWebhookExpiredTime"] = dt.now_ms() + 30_000
    assert await (await dt.post(payload)).json() == {}
    slow.set()
    await adapter_of(dt).drain()
    (sent,) = dt.fake.delivered
    assert (sent.via, sent.target) == ("group", "cidSchoolGroup==")
    assert sent.text == f"@陈书记\n{SIGNED_IN}"  # the OpenAPI cannot @; the name is written


async def test_slow_reply_falls_back_when_the_session_webhook_fails(dt, slow):
    dt.fake.fail("session", "5xx", "5xx", "5xx", "5xx")
    await dt.say("签到", group=False)
    slow.set()
    await adapter_of(dt).drain()
    (sent,) = dt.fake.delivered
    assert (sent.via, sent.target, sent.text) == ("person", "chen-dt", SIGNED_IN)
    assert dt.backoffs == [0.5, 2.0, 5.0]


# -- refusals ---------------------------------------------------------------------------


async def assert_nothing_written_and_healthy(dt):
    assert await dt.inbound() == []
    assert await dt.checkins() == []
    health = await dt.client.get("/healthz")
    assert health.status == 200


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda now: callback_headers(now, secret="forged-secret"), id="forged"),
        pytest.param(lambda now: callback_headers(now - 3_600_001), id="stale"),
        pytest.param(lambda now: callback_headers(now + 3_600_001), id="future"),
        pytest.param(lambda now: {"Content-Type": "application/json"}, id="unsigned"),
        pytest.param(lambda now: {**callback_headers(now), "sign": ""}, id="empty-sign"),
        pytest.param(lambda now: {**callback_headers(now), "timestamp": "abc"}, id="bad-ts"),
        pytest.param(
            lambda now: {**callback_headers(now), "timestamp": str(now + 1)}, id="sign-of-other-ts"
        ),
    ],
)
async def test_bad_signatures_are_refused_with_403(dt, make_headers):
    resp = await dt.post(dt.payload("签到"), make_headers(dt.now_ms()))
    assert resp.status == 403
    await assert_nothing_written_and_healthy(dt)


async def test_signature_an_hour_old_is_still_accepted(dt):
    resp = await dt.post(dt.payload("签到"), callback_headers(dt.now_ms() - 3_590_000))
    assert resp.status == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"\xff\xfe\x00", id="not-utf8"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100k-deep"),
        pytest.param(b"", id="empty"),
        pytest.param(
            json.dumps({"msgtype": "text", "text": {"content": "签到"}}).encode(), id="no-ids"
        ),
    ],
)
async def test_malformed_bodies_are_refused_with_400(dt, body):
    resp = await dt.post(body)
    assert resp.status == 400
    await assert_nothing_written_and_healthy(dt)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("conversationType", "3"),
        ("msgId", ""),
        ("msgId", 12345),
        ("text", "签到"),
        ("sessionWebhookExpiredTime", "soon"),
        ("sessionWebhook", "file:///etc/passwd"),
        ("atUsers", "everyone"),
    ],
)
async def test_wrong_field_types_are_refused_with_400(dt, field, value):
    payload = dt.payload("签到")
    payload[field] = value
    resp = await dt.post(payload)
    assert resp.status == 400
    await assert_nothing_written_and_healthy(dt)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("msgId", "m\ud800"),
        ("senderStaffId", "chen\udfff"),
        ("conversationId", "cid\ud800=="),
        ("conversationId", "cid\x00=="),
        ("text", {"content": "签到 \ud800"}),
        ("robotCode", "\x00"),
    ],
)
async def test_lone_surrogates_and_nul_are_refused_with_400(dt, field, value, caplog):
    # JSON can carry both as \u escapes; SQLite cannot encode a lone surrogate (it was a 500,
    # or a crashed handler) and PostgreSQL cannot store NUL. DingTalk sends neither.
    payload = dt.payload("签到")
    payload[field] = value
    resp = await dt.post(json.dumps(payload).encode())
    assert resp.status == 400
    await assert_nothing_written_and_healthy(dt)
    assert [g for g in await dt.groups() if g.platform == "dingtalk"] == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_oversized_body_is_refused_with_413(dt):
    payload = dt.payload("签到")
    payload["padding"] = "x" * (dt.app.settings.server.max_body_bytes + 10)
    resp = await dt.post(payload)
    assert resp.status == 413
    await assert_nothing_written_and_healthy(dt)


async def test_secrets_never_reach_the_log(dt, slow, caplog):
    caplog.set_level(logging.DEBUG)
    await dt.post(dt.payload("签到"), callback_headers(dt.now_ms(), secret="forged"))
    dt.fake.fail("session", "5xx", "5xx", "5xx", "5xx")
    dt.fake.fail("group", "token")
    await dt.say("签到")
    slow.set()
    await adapter_of(dt).drain()
    assert dt.fake.texts() == [f"@陈书记\n{SIGNED_IN}"]
    # (aiohttp.access is the fake server's own request log, not the bot's.)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "dingtalk" in logged  # the failures were logged...
    for secret in (APP_SECRET, "tok1", "tok2", "/session/"):
        assert secret not in logged  # ...without any credential


async def test_clock_moves_keep_the_window_relative(dt, clock):
    clock.advance(timedelta(hours=9))  # 17:10, the evening slot
    answer = await dt.say("签退")
    assert answer["text"]["content"] == "@chen-dt\n✅ 下班签到成功 17:10，按时。"
