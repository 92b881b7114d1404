"""JSON on the per-message path, through orjson.

A DingTalk callback body is ~700 bytes of mostly Chinese text; the stdlib decoder spent
~52 k instructions on one, of a 签到's ~1.2 M (callgrind), and encoding the reply, the
recorded reply and the HTTP response cost as much again. orjson does each in a fraction.
It is also stricter where it differs: it refuses NaN, Infinity and lone surrogates, which
no platform sends and which the bot could not store anyway.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

JSONDecodeError = orjson.JSONDecodeError  # a ValueError
_OPTIONS = orjson.OPT_NON_STR_KEYS


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)


def dumps(data: Any) -> str:
    """Compact, with non-ASCII text as UTF-8 (what `ensure_ascii=False` gives); keys that
    are not strings (an enum, a number) become strings, as the stdlib encoder makes them."""
    return orjson.dumps(data, option=_OPTIONS).decode()


def json_response(data: Any, status: int = 200) -> web.Response:
    """aiohttp's json_response, encoded by orjson."""
    return web.Response(
        body=orjson.dumps(data, option=_OPTIONS),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )
