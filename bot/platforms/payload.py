"""Reading a platform's body and JSON strictly: what the bot cannot store or answer is
refused up front."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from bot import jsoncodec

# How long a callback's body may take to arrive (server.body_timeout_seconds); set by
# App.web_app(), the default serves applications built without it.
BODY_TIMEOUT = web.AppKey("body_timeout", float)
DEFAULT_BODY_TIMEOUT = 5.0


class ClientGone(web.HTTPClientError):
    """The client hung up before its body arrived. Nobody reads the answer; the request's
    log line says 499 (nginx's "client closed request") rather than a 500."""

    status_code = 499


async def read_body(request: web.Request) -> bytes:
    """The request body, whole, within the app's body timeout.

    Raises 408 when it has not all arrived by then: a stalled client, or a malformed chunked
    body, which leaves aiohttp's reader waiting until the client leaves. 400 when aiohttp
    cannot decode it (a bad Content-Encoding), ClientGone when the client hangs up. aiohttp
    itself raises 413 above client_max_size.
    """
    timeout = request.config_dict.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT)
    try:
        if request.content.is_eof():  # all of it is here (the usual case): no timer to arm
            return await request.read()
        async with asyncio.timeout(timeout):  # not wait_for: no extra task per request
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="request body not received in time") from None
    except web.RequestPayloadError:
        raise web.HTTPBadRequest(text="unreadable request body") from None
    except ConnectionError:
        raise ClientGone() from None


# A lone UTF-16 surrogate (only a JSON \u escape can produce one) cannot be encoded as UTF-8,
# so it would fail deep inside SQLite, the reply or the log (orjson refuses one itself; the
# walk below is the second line); PostgreSQL cannot store NUL.
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")
# In UTF-8 bytes either can only come from a \u escape (json refuses a raw NUL in a string,
# and bytes that would decode to a lone surrogate are not UTF-8), so a body with no such
# escape needs no walk. A match may be a false alarm (an escaped backslash before "u");
# then the walk decides. A NUL byte means UTF-16 or UTF-32, where the pattern cannot see.
_ESCAPE = "\\\\u(?:0000|[dD][89abcdefABCDEF])"
_ESCAPE_TEXT = re.compile(_ESCAPE)
_ESCAPE_BYTES = re.compile(_ESCAPE.encode())


def _may_hold_unstorable(raw: bytes | str) -> bool:
    if isinstance(raw, str):
        return bool(_UNSTORABLE.search(raw) or _ESCAPE_TEXT.search(raw))
    return b"\x00" in raw or bool(_ESCAPE_BYTES.search(raw))


def json_object(raw: bytes | str) -> dict[str, Any]:
    """The JSON object in `raw`; ValueError when it is not one, is nested over 1,024 deep, or
    holds a lone surrogate or a NUL in any string (keys included). Platforms send neither."""
    try:
        data = jsoncodec.loads(raw)
    except ValueError:  # the decoder's own message quotes the payload; ours never does
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if not _may_hold_unstorable(raw):
        return data
    # Iterative, not recursive: the document may be nested almost as deep as json allows.
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and _UNSTORABLE.search(node):
            raise ValueError("lone surrogate or NUL in a string")
    return data
