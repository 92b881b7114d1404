"""The 自建应用 callback end to end: encrypted XML in, encrypted passive XML reply out."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import select

from bot.config import ConfigError
from storage.models import CheckIn, InboundMessage
from tests.conftest import make_settings
from tests.fakes.wecom import CORP_ID, WeComSide, app_text, count, hold_replies

pytest_plugins = ["tests.fakes.wecom_fixtures"]


async def test_direct_sign_in_gets_an_encrypted_xml_reply_and_writes_the_row(bot):
    resp = await bot.post_app(app_text(7001, "wang", "签到"))
    assert resp.status == 200
    reply = bot.wecom_app.open_xml_reply(await resp.text())
    assert reply.findtext("MsgType") == "text"
    assert reply.findtext("ToUserName") == "wang"
    assert reply.findtext("Content") == "✅ 上班签到成功 08:10，按时。"
    assert await count(bot.app, CheckIn) == 1


async def test_a_retried_msgid_writes_once_and_repeats_the_reply(bot):
    xml = app_text(7002, "sun", "签到")
    texts = []
    for _ in range(3):
        resp = await bot.post_app(xml)
        texts.append(bot.wecom_app.open_xml_reply(await resp.text()).findtext("Content"))
    assert set(texts) == {"✅ 上班签到成功 08:10，按时。"}
    assert await count(bot.app, CheckIn) == 1
    async with bot.app.db.read() as s:
        assert (await s.exec(select(InboundMessage.message_id))).all() == ["app:7002"]


async def test_non_text_message_gets_a_hint_and_events_nothing(bot):
    image = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[wang]]></FromUserName><CreateTime>1764547800</CreateTime>"
        "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[https://x.invalid/a]]></PicUrl>"
        "<MediaId><![CDATA[m]]></MediaId><MsgId>7003</MsgId><AgentID>1000002</AgentID></xml>"
    )
    resp = await bot.post_app(image)
    reply = bot.wecom_app.open_xml_reply(await resp.text())
    assert reply.findtext("Content") == "目前只能处理文字消息。发送「帮助」查看可用命令。"
    event = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[wang]]></FromUserName><CreateTime>1764547800</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event>"
        "<AgentID>1000002</AgentID></xml>"
    )
    resp = await bot.post_app(event)
    assert resp.status == 200 and await resp.text() == ""
    # Only the picture was recorded (a secretary's may be for a 纪要: test_minutes).
    assert await count(bot.app, InboundMessage) == 1


async def test_url_verification(bot):
    echostr = bot.wecom_app.encrypt(b"echo-12345")
    query = {**bot.wecom_app.query(echostr), "echostr": echostr}
    resp = await bot.http.get("/wecom/app", params=query)
    assert resp.status == 200 and await resp.text() == "echo-12345"


async def test_slow_reply_says_working_and_arrives_by_message_send(bot, fake):
    gate = hold_replies(bot)
    resp = await bot.post_app(app_text(7004, "wang", "签到"))
    assert bot.wecom_app.open_xml_reply(await resp.text()).findtext("Content") == (
        "处理中…结果稍后发给您。"
    )
    gate.set()
    await bot.wecom.drain()
    assert [(m["touser"], m["text"]["content"]) for m in fake.messages] == [
        ("wang", "✅ 上班签到成功 08:10，按时。")
    ]


# --- refusals ---------------------------------------------------------------------------
async def assert_refused_and_healthy(bot, resp, status: int) -> None:
    assert resp.status == status
    assert await count(bot.app, InboundMessage) == 0
    assert await count(bot.app, CheckIn) == 0
    assert (await bot.http.get("/healthz")).status == 200


@pytest.mark.parametrize("forged", ["0" * 40, "签名", "é" * 40])
async def test_forged_signature_is_403(bot, forged):
    # hmac.compare_digest raises TypeError on non-ASCII text: that was a 500.
    query, body = bot.wecom_app.app_request(app_text(7101, "wang", "签到"))
    query["msg_signature"] = forged
    await assert_refused_and_healthy(
        bot, await bot.http.post("/wecom/app", params=query, data=body), 403
    )


async def test_message_for_another_corp_is_403(bot, clock):
    other = WeComSide("app-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww-other", clock)
    query, body = other.app_request(app_text(7102, "wang", "签到"))
    await assert_refused_and_healthy(
        bot, await bot.http.post("/wecom/app", params=query, data=body), 403
    )


async def test_xml_bomb_is_400_and_never_parsed(bot):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b"<xml><Encrypt>&lol3;</Encrypt></xml>"
    )
    query = bot.wecom_app.query("&lol3;")
    await assert_refused_and_healthy(
        bot, await bot.http.post("/wecom/app", params=query, data=bomb), 400
    )


async def test_external_entity_inside_the_encrypted_message_is_400(bot):
    xxe = '<!DOCTYPE x [<!ENTITY f SYSTEM "file:///etc/passwd">]><xml><Content>&f;</Content></xml>'
    resp = await bot.post_app(xxe)
    await assert_refused_and_healthy(bot, resp, 400)


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><Encrypt>",
        b"not xml at all",
        b"<xml></xml>",
        # expat raises LookupError, not ParseError, for an encoding it does not know.
        b'<?xml version="1.0" encoding="no-such-codec"?><xml><Encrypt>x</Encrypt></xml>',
    ],
)
async def test_malformed_xml_is_400(bot, body):
    query = bot.wecom_app.query("x")
    await assert_refused_and_healthy(
        bot, await bot.http.post("/wecom/app", params=query, data=body), 400
    )


SIGN_IN = app_text(7201, "wang", "签到")


@pytest.mark.parametrize(
    "xml",
    [
        pytest.param(SIGN_IN.replace("<MsgId>7201</MsgId>", "<MsgId>abc</MsgId>"), id="msgid"),
        pytest.param(SIGN_IN.replace("<MsgId>7201</MsgId>", ""), id="no-msgid"),
        pytest.param(SIGN_IN.replace("</AgentID>", "</AgentID><AgentID>2</AgentID>"), id="twice"),
        pytest.param(SIGN_IN.replace("1000002</AgentID>", "x</AgentID>"), id="agent"),
        pytest.param(
            SIGN_IN.replace("<![CDATA[wang]]>", "<a>wang</a><b>li</b>"), id="nested-sender"
        ),
    ],
)
async def test_signed_message_with_odd_fields_is_400(bot, xml):
    # wechatpy converts fields lazily: int("abc") or a repeated element used to be a 500.
    await assert_refused_and_healthy(bot, await bot.post_app(xml), 400)


async def test_five_megabyte_body_is_413(bot):
    query = bot.wecom_app.query("x")
    body = b"<xml><Encrypt>" + b"A" * (5 * 1024 * 1024) + b"</Encrypt></xml>"
    await assert_refused_and_healthy(
        bot, await bot.http.post("/wecom/app", params=query, data=body), 413
    )


# --- configuration ----------------------------------------------------------------------
def test_bad_encoding_aes_key_or_missing_corp_id_stop_at_startup(tmp_path):
    with pytest.raises(ConfigError, match=r"wecom\.aibot\.encoding_aes_key"):
        make_settings(tmp_path, wecom={"aibot": {"token": "t", "encoding_aes_key": "short"}})
    with pytest.raises(ConfigError, match=r"wecom\.corp_id: 使用自建应用回调时必填"):
        make_settings(
            tmp_path, wecom={"app": {"token": "t", "encoding_aes_key": "a" * 43, "secret": "s"}}
        )


async def test_without_callback_tokens_there_are_no_wecom_routes(app):
    assert app.transports["wecom"] is not None  # the config's groups can still be pushed to
    async with TestClient(TestServer(app.web_app())) as http:
        assert (await http.post("/wecom/aibot", data=b"{}")).status == 404
        assert (await http.get("/healthz")).status == 200
