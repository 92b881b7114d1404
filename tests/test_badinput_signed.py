"""Correctly signed (and encrypted) requests whose content is arbitrary: odd types for msgid,
text, from and the rest, real commands from real and unknown senders, raw bytes. Each gets a
2xx or a 4xx, never a 500; the dispatcher never logs a crashed handler; and a request that
was refused wrote nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.badinput_support import AIBOT, APP, ROBOT, Callbacks, callbacks_bot, fuzz
from tests.fakes import dingtalk as dt
from tests.fakes.wecom import aibot_text

FUZZ = fuzz(500)

COMMANDS = ["签到", "签退", "帮助", "学习", "请假", "绑定 王党员 13800000003", "本月", "今日"]
SENDERS = ["wang", "zhou", "li", "chen", "nobody", "chen-dt", "liu-dt"]

# Any code point, lone surrogates and NUL included: JSON can carry them as \u escapes.
NASTY = ["\ud800", "a\udc00b", "\x00", "\u202e", "\ufeff", "\u2005", "𝕏", "]]>", "\r\n", "%s"]
wild_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=3), min_size=1, max_size=4).map("".join),
)
# A string with one nasty piece in the middle, so it still looks like the real value.
spoiled = st.tuples(st.sampled_from(SENDERS + COMMANDS), st.sampled_from(NASTY)).map(
    lambda t: t[0][:2] + t[1] + t[0][2:]
)
short_text = st.one_of(st.text(max_size=30), wild_text)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | short_text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3),
    max_leaves=8,
)
# Words a member might send, and anything at all (incl. lone surrogates, NUL, RTL marks).
words = st.one_of(
    st.sampled_from(COMMANDS),
    st.sampled_from(COMMANDS).map(lambda c: f"@清风\u2005{c}"),
    st.text(max_size=80),
    st.sampled_from(COMMANDS).flatmap(lambda c: wild_text.map(lambda t: f"{c} {t}")),
    st.text(max_size=5000).filter(lambda t: len(t) > 4000),
)
ids = st.one_of(st.text(min_size=1, max_size=20), wild_text, st.integers(), json_values)
senders = st.one_of(st.sampled_from(SENDERS), wild_text, json_values)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """The strategy's values, or any JSON value in their place."""
    return st.one_of(strategy, strategy, json_values)


def _json_bytes(value: object) -> bytes:
    # surrogatepass: lone surrogates go out as WeCom/DingTalk could send them, \\u-escaped.
    return json.dumps(value).encode("utf-8", "surrogatepass")


msgids = st.integers(0, 10**9).map(lambda n: f"msg-{n}")
aibot_payloads = st.fixed_dictionaries(
    {},
    optional={
        "msgid": maybe(msgids) | ids,
        "aibotid": maybe(st.just("aib-test")),
        "chattype": maybe(st.sampled_from(["single", "group"])),
        "chatid": maybe(st.sampled_from(["wr-bureau", "wr-unknown", ""])),
        "from": maybe(st.fixed_dictionaries({"userid": senders})),
        "response_url": maybe(st.sampled_from(["https://example.invalid/x", "ftp://x", ""])),
        "msgtype": maybe(st.sampled_from(["text", "voice", "mixed", "event", "stream", "image"])),
        "text": maybe(st.fixed_dictionaries({"content": maybe(words)})),
        "voice": maybe(st.fixed_dictionaries({"content": maybe(words)})),
        "mixed": maybe(
            st.fixed_dictionaries(
                {
                    "msg_item": maybe(
                        st.lists(
                            maybe(
                                st.fixed_dictionaries(
                                    {
                                        "text": maybe(
                                            st.fixed_dictionaries({"content": maybe(words)})
                                        )
                                    }
                                )
                            ),
                            max_size=3,
                        )
                    )
                }
            )
        ),
        "event": maybe(st.fixed_dictionaries({"eventtype": maybe(st.just("enter_chat"))})),
    },
)

xml_safe = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\ufffe\uffff"),
    max_size=60,
)


def _xml_chars(text: str) -> str:
    """`text` without what XML 1.0 cannot carry at all (surrogates, NUL and most controls)."""
    return "".join(c for c in text if c in "\t\n\r" or (" " <= c and not "\ud800" <= c <= "\udfff"))


@st.composite
def app_xml(draw: st.DrawFn) -> bytes:
    """A 自建应用 message with any subset of fields, each plausible or odd."""
    fields = {
        "ToUserName": st.just("ww-test-corp"),
        "FromUserName": st.one_of(st.sampled_from(SENDERS), xml_safe),
        "CreateTime": st.one_of(st.just("1764548200"), xml_safe),
        "MsgType": st.one_of(st.sampled_from(["text", "event", "image", "voice"]), xml_safe),
        "Content": st.one_of(st.sampled_from(COMMANDS), xml_safe),
        "MsgId": st.one_of(st.integers(0, 2**63).map(str), xml_safe),
        "AgentID": st.one_of(st.just("1000002"), xml_safe),
        "Event": st.one_of(st.sampled_from(["subscribe", "enter_agent"]), xml_safe),
    }
    # Mostly all fields (so most messages reach the dispatcher), now and then one missing.
    chosen = [name for name in fields if draw(st.integers(0, 7)) > 0]
    parts = []
    for name in chosen:
        value = draw(st.one_of(fields[name], fields[name], spoiled.map(_xml_chars)))
        wrap = draw(st.booleans())
        value = f"<![CDATA[{value.replace(']]>', '')}]]>" if wrap else escape(value)
        parts.append(f"<{name}>{value}</{name}>")
        if draw(st.integers(0, 9)) == 0:
            parts.append(f"<{name}>{escape(value)}</{name}>")  # the same element twice
    return ("<xml>" + "".join(parts) + "</xml>").encode()


@st.composite
def dingtalk_bodies(draw: st.DrawFn, now_ms: int) -> bytes:
    payload = dt.callback_payload(
        draw(st.sampled_from(COMMANDS)),
        msg_id=draw(msgids),
        staff_id=draw(st.sampled_from([*SENDERS, None])),
        nick=draw(st.sampled_from(["陈书记", "", "x" * 70])),
        now_ms=now_ms,
        session_webhook="",  # late replies never leave loopback
        group=draw(st.booleans()),
    )
    odd = {
        "msgId": ids,
        "conversationType": maybe(st.sampled_from(["1", "2", "3"])),
        "conversationId": maybe(st.sampled_from(["cidSchoolGroup==", "cidNew=="])) | ids,
        "conversationTitle": maybe(short_text),
        "senderStaffId": senders,
        "senderId": senders,
        "senderNick": maybe(short_text),
        "msgtype": maybe(st.sampled_from(["text", "picture", "richText", "audio"])),
        "text": maybe(st.fixed_dictionaries({"content": maybe(words)})),
        "sessionWebhookExpiredTime": json_values,
        "sessionWebhook": maybe(st.sampled_from(["", "file:///etc/passwd", "gopher://x"])),
        "atUsers": maybe(
            st.lists(
                maybe(
                    st.fixed_dictionaries(
                        {"dingtalkId": maybe(short_text), "staffId": maybe(short_text)}
                    )
                ),
                max_size=3,
            )
        ),
        "chatbotUserId": maybe(short_text),
        "robotCode": maybe(short_text),
    }
    for key in draw(st.lists(st.sampled_from(sorted(odd)), unique=True, max_size=4)):
        if draw(st.integers(0, 5)) == 0:
            payload.pop(key, None)
        else:
            payload[key] = draw(odd[key])
    return _json_bytes(payload)


leaf_values = st.one_of(spoiled, spoiled, wild_text, json_values, st.just(DELETE := object()))


def _leaves(node: object, path: tuple = ()) -> list[tuple]:
    """Every path into a JSON document: object keys and list indexes."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _leaves(value, (*path, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy) -> bytes:
    """A valid payload with one to three of its fields (at any depth) replaced or removed."""
    doc = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _leaves(doc)
        if not paths:
            break
        *parent_path, last = draw(st.sampled_from(paths))
        parent = doc
        for step in parent_path:
            parent = parent[step]
        value = draw(leaf_values)
        if value is DELETE:
            del parent[last]
        else:
            parent[last] = value
    return _json_bytes(doc)


valid_aibot = st.builds(
    aibot_text,
    msgids,
    st.sampled_from(SENDERS),
    st.sampled_from(COMMANDS),
    chatid=st.sampled_from(["", "wr-bureau", "wr-unknown"]),
)


@st.composite
def valid_dingtalk(draw: st.DrawFn, now_ms: int) -> dict:
    return dt.callback_payload(
        draw(st.sampled_from(COMMANDS)),
        msg_id=draw(msgids),
        staff_id=draw(st.sampled_from([*SENDERS, None])),
        nick=draw(st.sampled_from(["陈书记", "刘老师"])),
        now_ms=now_ms,
        session_webhook="",  # late replies never leave loopback
        group=draw(st.booleans()),
        at_staff_ids=draw(st.sampled_from([(), ("liu-dt",)])),
    )


@pytest.fixture
async def bot(tmp_path, clock, roster_file, postgres_url) -> AsyncIterator[Callbacks]:
    async with callbacks_bot(tmp_path, clock, roster_file, postgres_url) as harness:
        yield harness
        harness.assert_healthy()


async def answered_or_refused_cleanly(bot: Callbacks, path: str, body: bytes, **kw) -> int:
    before = await bot.counts()
    status, answer = await bot.post(path, body, **kw)
    assert status < 500, answer[:300]
    if status >= 400:
        assert await bot.counts() == before, "a refused request wrote a row"
    # Nothing crashed on the way, whether the answer was a 2xx or a 4xx.
    assert not bot.errors.records, bot.errors.lines()
    return status


@FUZZ
@given(
    payload=st.one_of(
        mutated(valid_aibot), mutated(valid_aibot), aibot_payloads.map(_json_bytes), st.binary()
    )
)
async def test_signed_aibot_content_of_any_shape(bot: Callbacks, payload):
    params, body = bot.aibot_signed(payload)
    await answered_or_refused_cleanly(bot, AIBOT, body, params=params)


@FUZZ
@given(xml=st.one_of(app_xml(), st.binary(max_size=200)))
async def test_signed_app_content_of_any_shape(bot: Callbacks, xml):
    params, body = bot.app_signed(xml)
    await answered_or_refused_cleanly(bot, APP, body, params=params)


@FUZZ
@given(data=st.data())
async def test_signed_dingtalk_content_of_any_shape(bot: Callbacks, data):
    mutant = mutated(valid_dingtalk(bot.now_ms()))
    body = data.draw(st.one_of(mutant, mutant, dingtalk_bodies(bot.now_ms()), st.binary()))
    await answered_or_refused_cleanly(bot, ROBOT, body, headers=bot.dingtalk_headers())


@fuzz(300)
@given(
    path=st.sampled_from([AIBOT, APP]),
    plain=st.one_of(st.text(max_size=60).map(str.encode), st.binary(max_size=60)),
    forged=st.one_of(st.none(), st.text(max_size=60)),
)
async def test_signed_url_check_echoes_what_was_encrypted(bot: Callbacks, path, plain, forged):
    """The console's URL check: a signed echostr is decrypted and echoed; a signed echostr
    that is not our ciphertext is a 4xx."""
    side = bot.aibot if path == AIBOT else bot.wecom_app
    echostr = side.encrypt(plain) if forged is None else forged
    params = side.query(echostr) | {"echostr": echostr}
    resp = await bot.http.get(path, params=params)
    answer = await resp.read()
    bot.statuses.append(resp.status)
    try:
        expected = plain.decode()
    except UnicodeDecodeError:
        expected = None
    if forged is None and expected is not None and echostr:
        assert (resp.status, answer.decode()) == (200, expected)
    else:
        assert resp.status < 500, answer[:200]
    assert not bot.errors.records, bot.errors.lines()
