"""WeCom callback crypto, splitting and the per-robot rate window, without the network."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from wechatpy.enterprise.crypto import PrpCrypto

from bot.platforms.wecom.crypto import (
    CallbackRejected,
    WeComCrypto,
    check_timestamp,
    has_entity_declaration,
    signature,
)
from bot.platforms.wecom.splitting import split_text, utf8_len
from bot.ratelimit import SlidingWindow

# A fixed vector computed outside the project with the OpenSSL command line:
#   key = base64decode(EncodingAESKey + "="), iv = key[:16]
#   plain = b"0123456789abcdef" + len(msg) as 4 bytes big-endian + msg + receive id,
#           padded PKCS#7-style to 32 bytes
#   openssl enc -aes-256-cbc -K <key hex> -iv <iv hex> -nopad -in plain | base64
# and the signature with: printf "%s\n" token ts nonce enc | LC_ALL=C sort | tr -d '\n' | sha1sum
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
RANDOM16 = b"0123456789abcdef"
MSG = '{"msgid":"vec-1","msgtype":"text","text":{"content":"@清风 签到"}}'.encode()
VECTOR_EMPTY_ID = (
    "sKqRbbiSUnDhFHOvPjtUMUsaM3PzMfG288kZ9vwMXsmU8jSwsKj+yzWhCPHKoy4DmflZSHSh9AXosJYq2hAKJCkd08O5"
    "LDG6vcjylJMEy0Y5jSUY3k4Sch2GWDFwHA1v"
)
VECTOR_CORP_ID = (
    "sKqRbbiSUnDhFHOvPjtUMUsaM3PzMfG288kZ9vwMXsmU8jSwsKj+yzWhCPHKoy4DmflZSHSh9AXosJYq2hAKJCkd08O5"
    "LDG6vcjylJMEy0b/fwsAdbQN+eEX1J6ScI44TGueuE2wLTSdXmhmw+4ka9FFdrS+ryOsxE1u5OOgpP0="
)
VECTOR_SIGNATURE = "e058abdb9db4e0c2762e6969a340b4ee3766d5e2"


def test_fixed_vector_encrypts_and_decrypts_for_the_aibot_empty_receive_id():
    crypto = WeComCrypto("QDG6eK", KEY, "")
    assert crypto.encrypt(MSG, random16=RANDOM16) == VECTOR_EMPTY_ID
    assert crypto.decrypt(VECTOR_EMPTY_ID) == MSG


def test_fixed_vector_with_a_corp_id_as_receive_id():
    crypto = WeComCrypto("QDG6eK", KEY, "wwcorp-vector")
    assert crypto.encrypt(MSG, random16=RANDOM16) == VECTOR_CORP_ID
    assert crypto.decrypt(VECTOR_CORP_ID) == MSG


def test_fixed_signature_vector():
    assert signature("QDG6eK", "1409659813", "1372623149", VECTOR_EMPTY_ID) == VECTOR_SIGNATURE
    crypto = WeComCrypto("QDG6eK", KEY, "")
    crypto.verify(VECTOR_SIGNATURE, "1409659813", "1372623149", VECTOR_EMPTY_ID)
    with pytest.raises(CallbackRejected) as err:
        crypto.verify(VECTOR_SIGNATURE, "1409659814", "1372623149", VECTOR_EMPTY_ID)
    assert err.value.status == 403


def test_wechatpy_reads_what_we_encrypt_and_we_read_what_it_encrypts():
    ours = WeComCrypto("t", KEY, "wwcorp")
    theirs = PrpCrypto(base64.b64decode(KEY + "="))
    assert theirs.decrypt(ours.encrypt("你好".encode()), "wwcorp") == "你好"
    assert ours.decrypt(theirs.encrypt("再见", "wwcorp").decode()) == "再见".encode()


def test_wrong_key_or_receive_id_is_refused_with_403():
    enc = WeComCrypto("t", KEY, "").encrypt(b"hello")
    other_key = WeComCrypto("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "")
    other_id = WeComCrypto("t", KEY, "wwcorp")
    for crypto in (other_key, other_id):
        with pytest.raises(CallbackRejected) as err:
            crypto.decrypt(enc)
        assert err.value.status == 403


def test_garbage_ciphertext_is_400():
    crypto = WeComCrypto("t", KEY, "")
    for junk in ("not base64!!", "", base64.b64encode(b"short").decode()):
        with pytest.raises(CallbackRejected) as err:
            crypto.decrypt(junk)
        assert err.value.status == 400


def test_bad_encoding_aes_key_is_rejected_at_setup():
    with pytest.raises(ValueError):
        WeComCrypto("t", "too-short", "")


def test_timestamps_older_or_newer_than_an_hour_are_refused():
    check_timestamp("1000000", 1000000 + 3600)
    for ts, now in (("1000000", 1000000 + 3601), ("1003601", 1000000)):
        with pytest.raises(CallbackRejected) as err:
            check_timestamp(ts, now)
        assert err.value.status == 403
    with pytest.raises(CallbackRejected) as err:
        check_timestamp("12ab", 0)
    assert err.value.status == 400


def test_entity_declarations_are_spotted():
    assert has_entity_declaration(b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "a">]>')
    assert has_entity_declaration(b"<! entity x SYSTEM 'file:///etc/passwd'>")
    assert not has_entity_declaration(b"<xml><Encrypt><![CDATA[abc]]></Encrypt></xml>")


def test_split_keeps_paragraphs_whole_and_every_piece_under_the_byte_limit():
    paragraphs = [f"第{i}段：" + "廉洁自律" * 60 for i in range(12)]  # ~735 bytes each
    text = "\n\n".join(paragraphs)
    pieces = split_text(text, 2048)
    assert all(utf8_len(p) <= 2048 for p in pieces)
    assert len(pieces) == 6  # two paragraphs (plus the blank line) per piece
    assert "\n\n".join(pieces) == text


def test_split_falls_back_to_lines_then_characters():
    lines = "\n".join("一二三四五六七八九十" * 10 for _ in range(5))  # 300 bytes a line
    assert all(utf8_len(p) <= 700 for p in split_text(lines, 700))
    assert "".join(split_text(lines, 700)).replace("\n", "") == lines.replace("\n", "")
    one_long = "党" * 1000  # 3000 bytes, no break at all
    pieces = split_text(one_long, 2048)
    assert [utf8_len(p) for p in pieces] == [2046, 954]
    assert "".join(pieces) == one_long


def test_short_text_is_one_piece():
    assert split_text("签到成功", 2048) == ["签到成功"]


def test_sliding_window_allows_twenty_a_minute_per_robot(clock):
    window = SlidingWindow(20, timedelta(minutes=1), clock)
    assert all(window.try_acquire("a") == 0 for _ in range(20))
    assert window.try_acquire("a") == pytest.approx(60)
    assert window.try_acquire("b") == 0  # another robot has its own minute
    clock.advance(timedelta(seconds=30))
    assert window.try_acquire("a") == pytest.approx(30)
    clock.advance(timedelta(seconds=30))
    assert window.try_acquire("a") == 0


@pytest.mark.parametrize("ts", ["²", "17645²", "١٧٦٤٥٤٨٢٠٠", "１７６４５４８２００"])
def test_non_ascii_digits_are_400_not_a_crash(ts):
    # str.isdigit() accepts these; int() refuses "²" and would have made a 500.
    with pytest.raises(CallbackRejected) as err:
        check_timestamp(ts, 1764548200)
    assert err.value.status == 400
