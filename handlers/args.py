"""Reading what people type after a command word: numbers, dates, times, names, links.

Every reader raises ArgError (or its subclass PeriodError) with a one-line reason, which the
router or the handler shows above the command's usage line. Only ASCII digits and their
full-width forms (a Chinese phone keyboard gives those) count as digits: str.isdigit() and
the re module's \\d also accept superscripts and other scripts' digits, which int() or a
date cannot always use.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time
from urllib.parse import urlsplit

from bot.router import ArgError

# Full-width digits and the punctuation typed between them on a Chinese keyboard.
_HALF_WIDTH = str.maketrans("０１２３４５６７８９－：～", "0123456789-:~")
# The years the bot can reckon with: its calendars, export links and datetime arithmetic
# (a period's end is the next day's midnight) all work well inside these.
MIN_YEAR, MAX_YEAR = 2000, 2099
# Task ids are integer columns; nine digits stay below PostgreSQL's 2**31 - 1.
MAX_NUMBER_DIGITS = 9
ECHO_CHARS = 20  # how much of a refused argument a reply repeats

_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_HHMM = re.compile(r"([0-9]{1,2}):([0-9]{2})")


class PeriodError(ArgError):
    """A 期间 or date that cannot be used."""


def half_width(text: str) -> str:
    """`text` with full-width digits, '－', '：' and '～' as their ASCII forms."""
    return text.translate(_HALF_WIDTH)


def shown(text: str) -> str:
    """A refused argument as a reply repeats it: trimmed, at most ECHO_CHARS characters."""
    t = text.strip()
    return t if len(t) <= ECHO_CHARS else t[:ECHO_CHARS] + "…"


def is_digits(text: str) -> bool:
    """ASCII digits only (after half_width), at least one."""
    return bool(text) and text.isascii() and text.isdigit()


def parse_task_number(rest: str) -> int | None:
    """`[编号]`, optionally written #12; None when left out."""
    t = half_width(rest.strip()).lstrip("#＃").strip()
    if not t:
        return None
    if not is_digits(t):
        raise ArgError(f"编号应是数字：{shown(rest)}")
    # Leading zeros dropped first: int() refuses strings of more than 4300 digits.
    significant = t.lstrip("0")
    if len(significant) > MAX_NUMBER_DIGITS:
        raise ArgError(f"编号太大：{shown(rest)}")
    return int(significant or "0")


def check_year(year: int, text: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"年份应在 {MIN_YEAR}–{MAX_YEAR} 之间：{shown(text)}")


def parse_date(text: str) -> date:
    """YYYY-MM-DD (full-width digits too), in the years the bot can reckon with."""
    m = _DATE.fullmatch(half_width(text.strip()))
    if not m:
        raise PeriodError(f"日期格式应为 YYYY-MM-DD：{shown(text)}")
    check_year(int(m[1]), text)
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise PeriodError(f"没有这一天：{shown(text)}") from None


def parse_optional_date(rest: str) -> date | None:
    """`[YYYY-MM-DD]`; None when left out."""
    return parse_date(rest) if rest.strip() else None


def parse_hhmm(text: str) -> time:
    """HH:MM (a full-width colon and digits too), 00:00 to 23:59."""
    m = _HHMM.fullmatch(half_width(text.strip()))
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ArgError(f"时间格式应为 HH:MM：{shown(text)}")
    return time(int(m[1]), int(m[2]))


def plain_text(text: str, what: str, limit: int) -> str:
    """Free text to store or look up: at most `limit` characters and no control characters
    (they do not display in a reply, and PostgreSQL refuses a NUL in a query outright)."""
    t = text.strip()
    if len(t) > limit:
        raise ArgError(f"{what}请控制在 {limit} 字以内。")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in t):
        raise ArgError(f"{what}里有无法显示的字符。")
    return t


def is_link(word: str) -> bool:
    """Whether `word` is meant as a link (it starts with http:// or https://)."""
    return word[:8].lower().startswith(("http://", "https://"))


def parse_link(word: str, limit: int = 500) -> str:
    """An http(s) link with a host; refused rather than stored half-usable."""
    link = plain_text(word, "链接", limit)
    try:
        parts = urlsplit(link)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed [IPv6] host
        ok = False
    if not ok:
        raise ArgError(f"链接不对：{shown(word)}")
    return link


DUE_WORDS = ("截止", "截至")


def parse_published(
    rest: str, what: str, flags: tuple[str, ...] = ()
) -> tuple[str, str, date | None, bool]:
    """`标题 [链接] [截止 YYYY-MM-DD]` as 发布学习 and 发布承诺 take it: the link, the 截止
    date and any of `flags` anywhere among the title words. (title, link, due, whether a
    flag was given); `what` names the thing in the refusal of an empty title."""
    words = rest.split()
    link, due, title_words, flagged = "", None, [], False
    i = 0
    while i < len(words):
        w = words[i]
        if is_link(w):
            if link:
                raise ArgError("只能写一个链接。")
            link = parse_link(w)
        elif w in DUE_WORDS or (w.startswith(DUE_WORDS) and len(w) > 2):
            if due is not None:
                raise ArgError("只能写一个截止日期。")
            if w in DUE_WORDS:
                if i + 1 == len(words):
                    raise ArgError("截止后请写日期 YYYY-MM-DD。")
                i += 1
                due = parse_date(words[i])
            else:
                due = parse_date(w[2:])
        elif w in flags:
            flagged = True
        else:
            title_words.append(w)
        i += 1
    title = plain_text(" ".join(title_words), "标题", 100)
    if not title:
        raise ArgError(f"请写{what}的标题。")
    return title, link, due, flagged
