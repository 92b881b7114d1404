"""The 智能机器人 callback end to end: encrypted JSON in, encrypted stream reply out."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import CheckIn, InboundMessage
from tests.fakes.wecom import IN_TIME_BUDGET, WeComSide, aibot_text, count, hold_replies

pytest_plugins = ["tests.fakes.wecom_fixtures"]


async def test_group_sign_in_gets_an_encrypted_stream_reply_and_writes_the_row(bot):
    reply = await bot.aibot_reply(aibot_text("msg-1", "wang", "签到", chatid="wr-0"))
    assert reply["msgtype"] == "stream"
    assert reply["stream"]["finish"] is True
    assert reply["stream"]["content"] == "✅ 上班签到成功 08:10，按时。"
    async with bot.app.db.read() as s:
        rows = (await s.exec(select(CheckIn))).all()
    assert [(r.slot, r.on_time) for r in rows] == [("上班", True)]


async def test_the_same_msgid_three_times_writes_one_row_and_gets_the_same_reply(bot):
    payload = aibot_text("msg-dup", "wang", "签到", chatid="wr-0")
    replies = [await bot.aibot_reply(payload) for _ in range(3)]
    assert {r["stream"]["content"] for r in replies} == {"✅ 上班签到成功 08:10，按时。"}
    assert await count(bot.app, CheckIn) == 1
    assert await count(bot.app, InboundMessage) == 1


async def test_concurrent_retries_of_one_msgid_write_once(bot):
    payload = aibot_text("msg-race", "sun", "签到", chatid="wr-0")
    replies = await asyncio.gather(*(bot.aibot_reply(payload) for _ in range(3)))
    assert {r["stream"]["content"] for r in replies} == {"✅ 上班签到成功 08:10，按时。"}
    assert await count(bot.app, CheckIn) == 1


async def test_direct_chat_uses_the_userid_as_chat(bot):
    reply = await bot.aibot_reply(aibot_text("msg-d", "wang", "签到"))
    assert reply["stream"]["content"] == "✅ 上班签到成功 08:10，按时。"
    async with bot.app.db.read() as s:
        row = (await s.exec(select(InboundMessage))).one()
    assert (row.platform, row.message_id, row.sender) == ("wecom", "msg-d", "wang")


async def test_unknown_user_is_told_how_to_bind(bot):
    reply = await bot.aibot_reply(aibot_text("msg-u", "stranger", "签到", chatid="wr-0"))
    assert "绑定 姓名 手机后四位" in reply["stream"]["content"]
    assert await count(bot.app, CheckIn) == 0


async def test_image_message_gets_a_polite_hint(bot):
    payload = {
        "msgid": "img-1",
        "chattype": "single",
        "from": {"userid": "wang"},
        "msgtype": "image",
        "image": {"url": "https://example.invalid/x.png"},
    }
    reply = await bot.aibot_reply(payload)
    assert reply["stream"]["content"] == "目前只能处理文字消息。发送「帮助」查看可用命令。"


async def test_entering_the_chat_gets_a_welcome_and_other_events_nothing(bot):
    enter = {"msgtype": "event", "from": {"userid": "wang"}, "event": {"eventtype": "enter_chat"}}
    reply = await bot.aibot_reply(enter)
    assert reply == {
        "msgtype": "text",
        "text": {"content": "您好，我是清风。发送「帮助」查看可用命令。"},
    }
    other = {"msgtype": "event", "event": {"eventtype": "feedback_event"}}
    resp = await bot.post_aibot(other)
    assert resp.status == 200 and await resp.text() == ""


async def test_url_verification_answers_the_decrypted_echostr(bot):
    echostr = bot.aibot.encrypt(b"5927782489442352469")
    resp = await bot.http.get(
        "/wecom/aibot", params={**bot.aibot.query(echostr), "echostr": echostr}
    )
    assert resp.status == 200 and await resp.text() == "5927782489442352469"
    bad = {**bot.aibot.query(echostr), "echostr": echostr, "msg_signature": "0" * 40}
    assert (await bot.http.get("/wecom/aibot", params=bad)).status == 403


async def test_slow_work_answers_at_once_and_finishes_through_response_url(bot, fake):
    gate = hold_replies(bot)
    url = f"{fake.base}/cgi-bin/aibot/response?response_code=rc-1"
    payload = aibot_text("msg-slow", "wang", "签到", chatid="wr-0", url=url)
    reply = await bot.aibot_reply(payload)
    assert reply["stream"] == {
        "id": "msg-slow",
        "finish": True,
        "content": "处理中…结果稍后发给您。",
    }
    gate.set()
    await bot.wecom.drain()
    assert fake.responses == [
        ("rc-1", {"msgtype": "markdown", "markdown": {"content": "✅ 上班签到成功 08:10，按时。"}})
    ]
    assert await count(bot.app, CheckIn) == 1


async def test_a_slow_callback_retried_gets_one_late_reply(bot, fake):
    gate = hold_replies(bot)
    url = f"{fake.base}/cgi-bin/aibot/response?response_code=rc-2"
    payload = aibot_text("msg-twice", "wang", "签到", chatid="wr-0", url=url)
    # WeCom retries a callback it did not hear back from in time.
    answers = [await bot.aibot_reply(payload) for _ in range(2)]
    assert [a["stream"]["content"] for a in answers] == ["处理中…结果稍后发给您。"] * 2
    gate.set()
    await bot.wecom.drain()
    signed_in = {"msgtype": "markdown", "markdown": {"content": "✅ 上班签到成功 08:10，按时。"}}
    assert fake.responses == [("rc-2", signed_in)]
    # Another retry, after the reply went out: an empty answer, nothing said twice.
    bot.wecom.in_time.budget = IN_TIME_BUDGET
    resp = await bot.post_aibot(payload)
    assert resp.status == 200 and await resp.text() == ""
    await bot.wecom.drain()
    assert len(fake.responses) == 1
    assert await count(bot.app, CheckIn) == 1
    assert await count(bot.app, InboundMessage) == 1


async def test_late_reply_never_goes_to_a_url_outside_the_wecom_api(bot, fake):
    gate = hold_replies(bot)
    payload = aibot_text("msg-ssrf", "wang", "签到", url="http://169.254.169.254/latest")
    await bot.aibot_reply(payload)
    gate.set()
    await bot.wecom.drain()
    assert fake.responses == []


# --- refusals: 4xx, nothing written, the server stays healthy ----------------------------
async def assert_refused_and_healthy(bot, resp, status: int) -> None:
    assert resp.status == status
    assert await count(bot.app, InboundMessage) == 0
    assert await count(bot.app, CheckIn) == 0
    health = await bot.http.get("/healthz")
    assert health.status == 200 and (await health.json())["status"] == "ok"


@pytest.mark.parametrize("forged", ["f" * 40, "签名"])
async def test_forged_signature_is_403(bot, forged):
    query, body = bot.aibot.aibot_request(aibot_text("f-1", "wang", "签到", chatid="wr-0"))
    query["msg_signature"] = forged
    resp = await bot.http.post("/wecom/aibot", params=query, data=body)
    await assert_refused_and_healthy(bot, resp, 403)


async def test_wrong_key_is_403(bot, clock):
    # Signed with the right token, encrypted with another EncodingAESKey.
    impostor = WeComSide("aibot-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "", clock)
    query, body = impostor.aibot_request(aibot_text("f-2", "wang", "签到", chatid="wr-0"))
    resp = await bot.http.post("/wecom/aibot", params=query, data=body)
    await assert_refused_and_healthy(bot, resp, 403)


async def test_stale_timestamp_is_403(bot):
    payload = aibot_text("f-3", "wang", "签到", chatid="wr-0")
    resp = await bot.post_aibot(payload, age=timedelta(hours=1, seconds=5))
    await assert_refused_and_healthy(bot, resp, 403)


@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        b"[1, 2]",
        b'{"encrypt": 5}',
        b"\xff\xfe\x00",
        b'{"encrypt": ""}',
        b"[" * 100_000,  # json raises RecursionError, not ValueError, this deep
    ],
)
async def test_garbage_is_400(bot, body):
    query = bot.aibot.query("whatever")
    resp = await bot.http.post("/wecom/aibot", params=query, data=body)
    await assert_refused_and_healthy(bot, resp, 400)


@pytest.mark.parametrize("plain", [b"{not json", b'{"a":' * 100_000])
async def test_signed_garbage_inside_the_envelope_is_400(bot, plain):
    encrypted = bot.aibot.encrypt(plain)
    body = json.dumps({"encrypt": encrypted}).encode()
    resp = await bot.http.post("/wecom/aibot", params=bot.aibot.query(encrypted), data=body)
    await assert_refused_and_healthy(bot, resp, 400)


@pytest.mark.parametrize(
    "payload",
    [
        aibot_text("m\ud800", "wang", "签到"),
        aibot_text("m-2", "wang\udc00", "签到"),
        aibot_text("m-3", "wang", "签到 \ud800"),
        aibot_text("m-4", "wang", "签到", chatid="wr\ud800"),
        aibot_text("m-5", "wang", "签到\x00"),
        {**aibot_text("m-6", "wang", "签到"), "\ud800": 1},
    ],
)
async def test_lone_surrogates_and_nul_inside_the_envelope_are_400(bot, payload, caplog):
    # Only a \u escape carries them; they crashed the handler (SQLite cannot encode a lone
    # surrogate) or the reply's UTF-8 encoding (a 500). PostgreSQL cannot store NUL.
    encrypted = bot.aibot.encrypt(json.dumps(payload).encode())
    body = json.dumps({"encrypt": encrypted}).encode()
    resp = await bot.http.post("/wecom/aibot", params=bot.aibot.query(encrypted), data=body)
    await assert_refused_and_healthy(bot, resp, 400)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_missing_query_is_400(bot):
    resp = await bot.http.post("/wecom/aibot", data=b'{"encrypt": "x"}')
    await assert_refused_and_healthy(bot, resp, 400)


async def test_five_megabyte_body_is_413(bot):
    query = bot.aibot.query("x")
    resp = await bot.http.post("/wecom/aibot", params=query, data=b"{" + b" " * (5 * 1024 * 1024))
    await assert_refused_and_healthy(bot, resp, 413)


async def test_voice_and_mixed_messages_are_read_as_text(bot):
    voice = aibot_text("v-1", "wang", "签到")
    voice["msgtype"], voice["voice"] = "voice", {"content": "签到"}
    del voice["text"]
    assert (await bot.aibot_reply(voice))["stream"]["content"] == "✅ 上班签到成功 08:10，按时。"
    mixed = aibot_text("mx-1", "sun", "", chatid="wr-0")
    mixed["msgtype"] = "mixed"
    mixed["mixed"] = {
        "msg_item": [
            {"msgtype": "text", "text": {"content": "@清风 签到"}},
            {"msgtype": "image", "image": {"url": "https://example.invalid/a.png"}},
        ]
    }
    del mixed["text"]
    assert (await bot.aibot_reply(mixed))["stream"]["content"] == "✅ 上班签到成功 08:10，按时。"
    assert await count(bot.app, CheckIn) == 2


async def test_stream_refresh_polls_get_an_empty_answer(bot):
    poll = {"msgid": "p-1", "from": {"userid": "wang"}, "msgtype": "stream", "stream": {"id": "x"}}
    resp = await bot.post_aibot(poll)
    assert resp.status == 200 and await resp.text() == ""
    assert await count(bot.app, InboundMessage) == 0


async def test_a_groups_chatid_is_logged_once_for_the_operator(bot, caplog):
    caplog.set_level(logging.INFO, logger="bot.platforms.wecom.aibot")
    await bot.aibot_reply(aibot_text("msg-a", "wang", "签到", chatid="wr-new"))
    await bot.aibot_reply(aibot_text("msg-b", "sun", "签到", chatid="wr-new"))
    await bot.aibot_reply(aibot_text("msg-c", "sun", "签退", chatid="wr-other"))
    lines = [r.getMessage() for r in caplog.records if "chatid=" in r.getMessage()]
    assert lines == [
        "aibot message msg-a in group chatid=wr-new",
        "aibot message msg-c in group chatid=wr-other",
    ]
