"""The DingTalk pieces on their own: signatures, payload parsing, phone markdown, wiring."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.platforms.dingtalk.callback import BadPayload, parse
from bot.platforms.dingtalk.client import Throttled, TokenRejected, check_answer
from bot.platforms.dingtalk.markdown import title_of, to_phone_markdown
from bot.platforms.dingtalk.signing import sign, signed_webhook_url, verify_callback
from bot.platforms.dingtalk.transport import DingTalkTransport
from bot.sending import SendError
from tests.conftest import make_settings
from tests.fakes.dingtalk import APP_SECRET, callback_headers, callback_payload

NOW_MS = 1_796_000_000_000


def test_callback_signature_matches_what_dingtalk_sends():
    headers = callback_headers(NOW_MS)
    assert sign(APP_SECRET, NOW_MS) == headers["sign"]
    assert verify_callback(headers["timestamp"], headers["sign"], APP_SECRET, NOW_MS)
    assert not verify_callback(headers["timestamp"], headers["sign"], "other", NOW_MS)
    assert not verify_callback(
        headers["timestamp"], headers["sign"], APP_SECRET, NOW_MS + 3_600_001
    )
    assert not verify_callback(headers["timestamp"], "签名", APP_SECRET, NOW_MS)
    assert not verify_callback("１２３", headers["sign"], APP_SECRET, NOW_MS)  # full-width digits
    assert not verify_callback(headers["timestamp"], headers["sign"], "", NOW_MS)


def test_webhook_url_carries_a_url_encoded_signature():
    url = signed_webhook_url("https://oapi.example/robot/send?access_token=abc", "SECx", NOW_MS)
    raw_query = urlsplit(url).query
    assert "+" not in raw_query.split("sign=")[1] and "=" not in raw_query.split("sign=")[1]
    query = parse_qs(raw_query)
    assert query["access_token"] == ["abc"]
    assert query["timestamp"] == [str(NOW_MS)]
    assert query["sign"] == [sign("SECx", NOW_MS)]
    assert signed_webhook_url("https://x/robot?access_token=a", "", NOW_MS).endswith("token=a")


def body(**kw) -> bytes:
    defaults = dict(
        msg_id="m1",
        staff_id="chen-dt",
        nick="陈书记",
        now_ms=NOW_MS,
        session_webhook="https://oapi.dingtalk.com/robot/sendBySession?session=x",
    )
    return json.dumps(callback_payload("签到", **{**defaults, **kw})).encode()


def test_parse_group_message():
    msg = parse(body(at_staff_ids=("liu-dt",)))
    assert (msg.msg_id, msg.conversation_id, msg.is_group) == ("m1", "cidSchoolGroup==", True)
    assert (msg.sender_id, msg.sender_is_staff, msg.sender_nick) == ("chen-dt", True, "陈书记")
    assert msg.text == " 签到"
    assert msg.at_staff_ids == ("liu-dt",)  # the robot itself is dropped
    assert msg.session_webhook_expires_ms == NOW_MS + 90 * 60 * 1000
    incoming = msg.incoming()
    assert (incoming.chat_type, incoming.chat_id, incoming.chat_title) == (
        "group",
        "cidSchoolGroup==",
        "一中党员群",
    )


def test_parse_direct_message_uses_the_sender_as_chat():
    incoming = parse(body(group=False)).incoming()
    assert (incoming.chat_type, incoming.chat_id, incoming.sender_id) == (
        "direct",
        "chen-dt",
        "chen-dt",
    )


@pytest.mark.parametrize("raw", [b"null", b"1", b'{"msgId": "m"}', b"\x00"])
def test_parse_refuses_what_is_not_a_robot_message(raw):
    with pytest.raises(BadPayload):
        parse(raw)


def test_phone_markdown_breaks_lines_and_flattens_tables():
    text = "**汇总**\n第一行\n第二行\n\n| 姓名 | 出席 |\n| :-- | --: |\n| 王 | 3 |"
    assert to_phone_markdown(text) == "**汇总**  \n第一行  \n第二行\n\n姓名 · 出席  \n王 · 3"
    assert "|" not in to_phone_markdown(text)
    assert title_of("\n## 【提醒】主题党日\n内容") == "【提醒】主题党日"
    assert title_of("") == "清风"


async def test_app_without_dingtalk_secret_has_no_callback_but_can_push(tmp_path, clock):
    # Nothing DingTalk configured: no transport, so the outbox never picks DingTalk.
    assert "dingtalk" not in App(make_settings(tmp_path), clock=clock).transports
    group = {"name": "钉钉群", "platform": "dingtalk", "chat_id": "cid1", "webhook": "http://x/"}
    app = App(make_settings(tmp_path, groups=[group]), clock=clock)
    assert isinstance(app.transports["dingtalk"], DingTalkTransport)
    client = TestClient(TestServer(app.web_app(), host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.post("/dingtalk/robot", data=body(), headers=callback_headers(NOW_MS))
        assert resp.status == 404
    finally:
        await client.close()
        await app.db.dispose()


def test_answers_are_checked_even_when_http_200():
    assert check_answer(200, {"errcode": 0, "errmsg": "ok"}) == {"errcode": 0, "errmsg": "ok"}
    assert check_answer(200, {"processQueryKey": "q"}) == {"processQueryKey": "q"}
    with pytest.raises(Throttled) as err:
        check_answer(200, {"errcode": 130101, "errmsg": "send too fast"})
    assert err.value.retry_after == 600.0 and not err.value.permanent
    for code in (310000, 300001, 12345):
        with pytest.raises(SendError) as err:
            check_answer(200, {"errcode": code, "errmsg": "x"})
        assert err.value.permanent and str(code) in err.value.reason
    with pytest.raises(TokenRejected):
        check_answer(401, {"code": "InvalidAuthentication"})
    with pytest.raises(SendError) as err:
        check_answer(200, None)  # an HTML page from a proxy is not a delivery
    assert not err.value.permanent
    with pytest.raises(SendError) as err:
        check_answer(502, None)
    assert not err.value.permanent
