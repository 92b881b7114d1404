"""Every command word, with arguments of any kind, from a member, a secretary and the admin:
no handler raises. The dispatcher turns a crashed handler into its generic apology and logs
it at ERROR, so neither may ever appear.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dispatcher import BUSY_REPLY, ERROR_REPLY
from handlers.registry import all_commands
from tests.badinput_support import ErrorLog, fuzz
from tests.conftest import Chat

# A command first, then one of its words: each command is tried as often as any other.
command_words = st.sampled_from(all_commands()).flatmap(lambda cmd: st.sampled_from(cmd.words))
SENDERS = ["wang", "li", "zhou", "nobody"]  # member, secretary, admin, not bound yet

# What a digit can look like: superscript, subscript, other scripts, full-width, ASCII
# (the odd ones first: Hypothesis draws the first elements of a list more often).
DIGITS = "¹²³⁴⁰₉٣١٤۵߁१০੧௧๑０１２３４５６７８９0123456789"
SEPARATORS = "-－:：~～至#＃ "
SPECIAL = [
    "¹",
    "#¹",
    "１",
    "0" * 5000,  # int() refuses more than 4300 digits
    "9" * 5000,
    "0000-01",
    "9999-12",
    "0001-01",
    "2026-00",
    "2026-02-30",
    "9999-12-31~9999-12-31",
    "0001-01-01~0001-01-02",
    "2026-12-31~2026-01-01",
    "2000-01-01~2099-12-31",
    "23:59",
    "24:00",
    "9:5",
    "党课",
    "主题党日",
    "截止",
    "截止9999-12-31",
    "http://",
    "https://[::1",
    "http://a.cn:99999/x",
    "HTTPS://例子.中国/学习",
    "新同志",
    "0019",
    "县教育局机关党支部",
    "本月",
    "上季度",
    "-1",
    "1e9",
    "\x00",
    "\x1f",
    "\u202e",
    "\ufeff",
    "😀",
    "👨‍👩‍👧",
]

digit = st.sampled_from(DIGITS)


def digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(digit, min_size=low, max_size=high)


# One argument of the shapes the readers look for, in digits of every kind.
piece = st.one_of(
    st.sampled_from(SPECIAL),
    digits(1, 12),
    st.builds("{}-{}-{}".format, digits(4, 4), digits(1, 2), digits(1, 2)),
    st.builds("{}-{}".format, digits(4, 4), digits(1, 2)),
    st.builds("{}:{}".format, digits(1, 2), digits(2, 2)),
    st.text(st.sampled_from(DIGITS + SEPARATORS), min_size=1, max_size=12),
    st.integers(-(10**40), 10**40).map(str),
    st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"),
    st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}"),
    st.text(max_size=12),  # any code point but a lone surrogate, control characters included
)
arguments = st.one_of(
    piece,
    st.lists(piece, min_size=2, max_size=4).map(" ".join),
    st.text(max_size=60),
    st.text(max_size=300).filter(lambda t: len(t) > 200),
)


@pytest.fixture
def errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@fuzz(400)
@given(
    word=command_words,
    rest=arguments,
    sender=st.sampled_from(SENDERS),
    direct=st.booleans(),
)
async def test_no_command_raises_on_any_argument(
    chat: Chat, errors: ErrorLog, word: str, rest: str, sender: str, direct: bool
) -> None:
    errors.records.clear()  # the log handler outlives each example; judge this one alone
    reply = await chat.text(sender, f"{word} {rest}", direct=direct)
    assert reply not in (ERROR_REPLY, BUSY_REPLY), (word, rest, sender)
    assert not errors.records, errors.lines()
