"""Known-hostile requests against the three callback routes: XML bombs and external entities
(outside and inside the encryption), deep JSON, invalid UTF-8, 5 MB bodies, wrong content
types, replays and stale requests. Each is refused with a 4xx and writes nothing, or (for an
authentic replay) gets the first answer again and writes nothing more; nothing is a 500.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tests.badinput_support import AIBOT, APP, ROBOT, Callbacks, callbacks_bot
from tests.fakes.wecom import aibot_text, app_text

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]><xml><ToUserName>x</ToUserName><Encrypt>&lol9;</Encrypt>"
    "<MsgType>text</MsgType><Content>&lol9;</Content><FromUserName>wang</FromUserName></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY f SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>x</ToUserName><Encrypt>&f;</Encrypt><MsgType>text</MsgType>"
    "<Content>&f;</Content><FromUserName>wang</FromUserName><MsgId>1</MsgId></xml>"
)
# Lower-case keywords: expat accepts neither, and the check must not depend on case.
SNEAKY_DOCTYPE = '<!doctype x [<!entity a "b">]><xml><Encrypt>&a;</Encrypt></xml>'
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
FIVE_MB = 5 * 1024 * 1024
INVALID_UTF8 = b'{"msgid": "\xff\xfe", "text": {"content": "\xc3\x28"}}'


@pytest.fixture
async def bot(tmp_path, clock, roster_file, postgres_url) -> AsyncIterator[Callbacks]:
    async with callbacks_bot(tmp_path, clock, roster_file, postgres_url) as harness:
        yield harness
        harness.assert_healthy()


async def refused(bot: Callbacks, status: int, path: str, body: bytes, **kw: Any) -> None:
    """The request gets `status` and writes no row."""
    before = await bot.counts()
    got, answer = await bot.post(path, body, **kw)
    assert got == status, answer[:200]
    assert await bot.counts() == before


def aibot_envelope_query(bot: Callbacks) -> dict[str, str]:
    """A query whose timestamp is fresh (so the body is read) but whose signature is not."""
    return bot.aibot.query("not-the-body")


# --- XML bombs and external entities ------------------------------------------------------
@pytest.mark.parametrize("xml", [BILLION_LAUGHS, XXE, SNEAKY_DOCTYPE])
async def test_xml_entities_outside_the_encryption_are_400(bot, xml):
    await refused(bot, 400, APP, xml.encode(), params=bot.wecom_app.query("&lol9;"))
    # The same bytes at the JSON routes are simply not JSON (DingTalk's signed, too).
    await refused(bot, 400, AIBOT, xml.encode(), params=aibot_envelope_query(bot))
    await refused(bot, 400, ROBOT, xml.encode(), headers=bot.dingtalk_headers())


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, XXE, SNEAKY_DOCTYPE])
async def test_xml_entities_inside_the_encryption_are_400(bot, xml):
    params, body = bot.app_signed(xml.encode())
    await refused(bot, 400, APP, body, params=params)
    params, body = bot.aibot_signed(xml.encode())
    await refused(bot, 400, AIBOT, body, params=params)


# --- deep JSON ----------------------------------------------------------------------------
@pytest.mark.parametrize("deep", [DEEP_JSON, DEEP_OBJECT], ids=["array", "object"])
async def test_json_nested_100k_deep_is_400_outside_and_inside_the_encryption(bot, deep):
    await refused(bot, 400, AIBOT, deep, params=aibot_envelope_query(bot))
    params, body = bot.aibot_signed(deep)
    await refused(bot, 400, AIBOT, body, params=params)
    await refused(bot, 400, ROBOT, deep, headers=bot.dingtalk_headers())
    await refused(bot, 403, ROBOT, deep, headers={"timestamp": "1", "sign": "x"})


async def test_xml_nested_100k_deep_is_refused(bot):
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    await refused(bot, 400, APP, deep, params=bot.wecom_app.query("x"))
    params, body = bot.app_signed(deep)
    await refused(bot, 400, APP, body, params=params)


# --- invalid UTF-8 ------------------------------------------------------------------------
async def test_invalid_utf8_is_refused_everywhere(bot):
    await refused(bot, 400, AIBOT, INVALID_UTF8, params=aibot_envelope_query(bot))
    params, body = bot.aibot_signed(INVALID_UTF8)
    await refused(bot, 400, AIBOT, body, params=params)
    await refused(bot, 400, ROBOT, INVALID_UTF8, headers=bot.dingtalk_headers())
    outer = b"<xml><Encrypt>\xff\xfe</Encrypt></xml>"
    await refused(bot, 400, APP, outer, params=bot.wecom_app.query("x"))
    inner = app_text(1, "wang", "签到").encode().replace("签到".encode(), b"\xe7\xad")
    params, body = bot.app_signed(inner)
    before = await bot.counts()
    got, _ = await bot.post(APP, body, params=params)
    assert 400 <= got < 500
    assert await bot.counts() == before


async def test_invalid_utf8_in_the_query_and_headers_is_refused(bot):
    got, _ = await bot.post(AIBOT + "?msg_signature=%ff&timestamp=%c3%28&nonce=1", b"{}")
    assert got == 400
    raw_headers = {"timestamp": "\xff\xfe", "sign": "\xc3("}  # latin-1 bytes on the wire
    await refused(bot, 403, ROBOT, b"{}", headers=raw_headers)


# --- 5 MB bodies --------------------------------------------------------------------------
async def test_five_megabyte_bodies_are_413_on_every_route(bot):
    big = b"A" * FIVE_MB
    await refused(bot, 413, AIBOT, b'{"encrypt":"' + big + b'"}', params=aibot_envelope_query(bot))
    await refused(
        bot,
        413,
        APP,
        b"<xml><Encrypt>" + big + b"</Encrypt></xml>",
        params=bot.wecom_app.query("x"),
    )
    await refused(bot, 413, ROBOT, b'{"text":"' + big + b'"}', headers=bot.dingtalk_headers())


async def test_five_megabytes_inside_a_signed_envelope_is_413(bot):
    params, body = bot.aibot_signed(b"x" * FIVE_MB)
    await refused(bot, 413, AIBOT, body, params=params)


# --- content types ------------------------------------------------------------------------
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "text/plain; charset=gbk",
    "application/octet-stream",
    "image/png",
]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_wrong_content_type_without_a_signature_is_refused(bot, content_type):
    headers = {"Content-Type": content_type}
    params, body = bot.aibot_signed(json.dumps(aibot_text("m1", "wang", "签到")).encode())
    params["msg_signature"] = "0" * 40
    await refused(bot, 403, AIBOT, body, params=params, headers=headers)
    await refused(bot, 403, ROBOT, b"a=1&b=2", headers=headers)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_signed_request_with_an_odd_content_type_is_read_by_its_bytes(bot, content_type):
    # The signature covers the bytes; the header is the sender's claim and changes nothing.
    params, body = bot.aibot_signed(json.dumps(aibot_text("ct1", "wang", "签到")).encode())
    got, answer = await bot.post(AIBOT, body, params=params, headers={"Content-Type": content_type})
    assert got == 200
    reply = bot.aibot.open_json_reply(json.loads(answer))
    assert "签到成功" in reply["stream"]["content"]


# --- replayed and stale requests ----------------------------------------------------------
async def sent_twice(bot: Callbacks, path: str, body: bytes, **kw: Any) -> tuple[bytes, bytes]:
    """Both answers to the same signed 签到 sent twice; the second wrote nothing."""
    got, first = await bot.post(path, body, **kw)
    assert got == 200
    after_first = await bot.counts()
    assert after_first["checkins"] == 1
    got, again = await bot.post(path, body, **kw)
    assert got == 200
    assert await bot.counts() == after_first
    return first, again


async def test_replayed_aibot_request_gets_the_same_answer_and_writes_nothing_more(bot):
    params, body = bot.aibot_signed(json.dumps(aibot_text("r1", "wang", "签到")).encode())
    answers = await sent_twice(bot, AIBOT, body, params=params)
    first, again = (bot.aibot.open_json_reply(json.loads(a)) for a in answers)
    assert first == again
    assert "签到成功" in first["stream"]["content"]


async def test_replayed_app_request_gets_the_same_answer_and_writes_nothing_more(bot):
    params, body = bot.app_signed(app_text(777, "wang", "签到").encode())
    answers = await sent_twice(bot, APP, body, params=params)
    first, again = (bot.wecom_app.open_xml_reply(a.decode()).findtext("Content") for a in answers)
    assert first == again
    assert "签到成功" in (first or "")


async def test_replayed_dingtalk_request_gets_the_same_answer_and_writes_nothing_more(bot):
    body, headers = bot.dingtalk_sign_in("dup=="), bot.dingtalk_headers()
    first, again = await sent_twice(bot, ROBOT, body, headers=headers)
    assert first == again
    assert "签到成功" in json.loads(first)["text"]["content"]


@pytest.mark.parametrize(
    "age", [timedelta(hours=1, seconds=2), -timedelta(hours=1, seconds=2), timedelta(days=400)]
)
async def test_stale_or_future_signed_requests_are_403(bot, age):
    params, body = bot.aibot_signed(json.dumps(aibot_text("s1", "wang", "签到")).encode(), age=age)
    await refused(bot, 403, AIBOT, body, params=params)
    params, body = bot.app_signed(app_text(5, "wang", "签到").encode(), age=age)
    await refused(bot, 403, APP, body, params=params)
    body = bot.dingtalk_sign_in("old==")
    await refused(bot, 403, ROBOT, body, headers=bot.dingtalk_headers(age=age))


async def test_a_replay_after_the_hour_is_refused_though_the_first_was_answered(bot):
    params, body = bot.aibot_signed(json.dumps(aibot_text("late1", "wang", "签到")).encode())
    got, _ = await bot.post(AIBOT, body, params=params)
    assert got == 200
    bot.clock.advance(timedelta(hours=1, seconds=5))
    await refused(bot, 403, AIBOT, body, params=params)


# --- odd timestamps -----------------------------------------------------------------------
@pytest.mark.parametrize("ts", ["²", "١٧٦٤٥٤٨٢٠٠", "１７６４５４８２００", "-1", "1e9", " 1"])
async def test_timestamps_in_other_digits_are_400_not_500(bot, ts):
    params = bot.aibot.query("x")
    params["timestamp"] = ts
    await refused(bot, 400, AIBOT, b'{"encrypt":"x"}', params=params)
    await refused(bot, 400, APP, b"<xml><Encrypt>x</Encrypt></xml>", params=params)
    assert await bot.get(AIBOT, params | {"echostr": "x"}) == 400
    assert await bot.get(APP, params | {"echostr": "x"}) == 400
    await refused(bot, 403, ROBOT, b"{}", headers={"timestamp": ts, "sign": "x"})


async def test_an_unknown_xml_encoding_is_400(bot):
    body = b'<?xml version="1.0" encoding="no-such-codec"?><xml><Encrypt>x</Encrypt></xml>'
    await refused(bot, 400, APP, body, params=bot.wecom_app.query("x"))
