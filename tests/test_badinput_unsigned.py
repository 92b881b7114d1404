"""Generated requests nobody signed, against all three callback routes: always 4xx, never a
500, and nothing written.

The strategies aim past the first check where they can: timestamps near the bot's clock
(also in non-ASCII digits), real-looking envelopes and headers, so the body parsers, the
signature checks and the decryption all see hostile input, not only the query check.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.badinput_support import AIBOT, APP, ROBOT, ROUTES, Callbacks, callbacks_bot, fuzz
from tests.conftest import at

FUZZ = fuzz(600)

NOW_S = int(at("2026-12-01 08:10").timestamp())  # the clock fixture's time

# Digits Python's str.isdigit() accepts but int() may not: superscripts, other scripts.
odd_digits = st.text(st.sampled_from("0123456789²³¹٣٤۵߁१০੧௧๑０９⁰₉"), min_size=1, max_size=14)
near_now_s = st.integers(NOW_S - 7200, NOW_S + 7200).map(str)
near_now_ms = st.integers((NOW_S - 7200) * 1000, (NOW_S + 7200) * 1000).map(str)
short_text = st.text(max_size=40)
ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
base64ish = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
    max_size=200,
)

wecom_query = st.fixed_dictionaries(
    {},
    optional={
        "msg_signature": st.one_of(
            st.text(st.sampled_from("0123456789abcdef"), min_size=40, max_size=40), short_text
        ),
        "timestamp": st.one_of(near_now_s, odd_digits, short_text),
        "nonce": st.one_of(st.integers(0, 10**9).map(str), short_text),
        "echostr": st.one_of(base64ish, short_text),
    },
).flatmap(
    lambda q: st.dictionaries(short_text, short_text, max_size=2).map(lambda extra: extra | q)
)

dingtalk_headers = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": st.one_of(near_now_ms, ascii_text),
        "sign": st.one_of(base64ish, ascii_text),
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain", "application/xml", "multipart/form-data", "x/y"]
        ),
        "X-Request-Id": ascii_text,
    },
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | short_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(short_text, inner, max_size=4),
    max_leaves=12,
)


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _xml(encrypted: str, extra: str) -> bytes:
    return f"<xml><ToUserName>x</ToUserName><Encrypt>{encrypted}</Encrypt>{extra}</xml>".encode(
        "utf-8", "surrogatepass"
    )


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(_json_bytes),
    st.one_of(base64ish, short_text, json_values).map(lambda e: _json_bytes({"encrypt": e})),
    st.tuples(base64ish, ascii_text).map(lambda t: _xml(*t)),
    st.sampled_from(
        [
            b"",
            b"<xml><Encrypt>",
            b'<?xml version="1.0" encoding="bogus"?><xml><Encrypt>x</Encrypt></xml>',
            b'<?xml version="1.0" encoding="utf-16"?><xml/>',
            b"[" * 5000,
            b"\xff\xfe\x00",
        ]
    ),
)


@pytest.fixture
async def bot(tmp_path, clock, roster_file, postgres_url) -> AsyncIterator[Callbacks]:
    async with callbacks_bot(tmp_path, clock, roster_file, postgres_url) as harness:
        before = await harness.counts()
        yield harness
        # Whatever was sent, no request of this module may have written a row.
        assert await harness.counts() == before
        harness.assert_healthy()


@FUZZ
@given(
    path=st.sampled_from([AIBOT, APP]),
    method=st.sampled_from(["POST", "GET"]),
    query=wecom_query,
    body=bodies,
)
async def test_unsigned_wecom_requests_are_4xx(bot: Callbacks, path, method, query, body):
    if method == "GET":  # the console's URL check
        status = await bot.get(path, query)
    else:
        status, _ = await bot.post(path, body, params=query)
    assert 400 <= status < 500, (status, query, body[:100])


@FUZZ
@given(
    headers=dingtalk_headers, body=bodies, query=st.dictionaries(short_text, short_text, max_size=2)
)
async def test_unsigned_dingtalk_requests_are_4xx(bot: Callbacks, headers, body, query):
    status, _ = await bot.post(ROBOT, body, params=query, headers=headers)
    assert 400 <= status < 500, (status, headers, body[:100])


@fuzz(300)
@given(path=st.sampled_from(ROUTES), body=bodies, content_type=st.text(max_size=30))
async def test_no_route_answers_anything_but_4xx_to_bare_bodies(
    bot: Callbacks, path, body, content_type
):
    headers = (
        {"Content-Type": content_type}
        if content_type.isascii() and content_type.isprintable()
        else {}
    )
    status, _ = await bot.post(path, body, headers=headers)
    assert 400 <= status < 500, (status, body[:100])
