"""What both WeCom callbacks share: reading the query and body safely, and refusing."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.messages import Reply
from bot.platforms.payload import read_body
from bot.platforms.wecom.crypto import CallbackRejected

log = logging.getLogger(__name__)

NOT_TEXT = "目前只能处理文字消息。发送「帮助」查看可用命令。"
WELCOME = "您好，我是清风。发送「帮助」查看可用命令。"


def query(request: web.Request, *names: str) -> list[str]:
    """The named query parameters, each required and non-empty."""
    values = []
    for name in names:
        value = request.query.get(name, "")
        if not value or len(value) > 4096:
            raise CallbackRejected(400, f"missing {name}")
        values.append(value)
    return values


async def body(request: web.Request) -> bytes:
    """The request body; aiohttp answers 413 itself above server.max_body_bytes, read_body
    408 when it stalls."""
    data = await read_body(request)
    if not data:
        raise CallbackRejected(400, "empty body")
    return data


def refuse(where: str, exc: CallbackRejected, request: web.Request) -> web.Response:
    # The reason is ours, never the payload's content, so it is safe to log.
    log.warning(
        "%s callback refused (%d %s) from %s", where, exc.status, exc.reason, request.remote
    )
    return web.Response(status=exc.status, text="forbidden" if exc.status == 403 else "bad request")


def as_text(reply: Reply) -> str:
    """A reply as chat text: the @mentions first, then the message."""
    if reply.mentions:
        return " ".join(f"@{m.name}" for m in reply.mentions) + "\n" + reply.text
    return reply.text
