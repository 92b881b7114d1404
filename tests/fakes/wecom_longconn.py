"""A fake WeCom 智能机器人 long-connection server on loopback.

It checks what the real one checks: the first frame must be `aibot_subscribe` with the
right bot id and secret; each command gets an answer with its req_id and an errcode; a
reply must carry the req_id of a callback this server delivered; only one connection per
bot is kept (a newer one kicks the older with a `disconnected_event`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.waiting import eventually

SEND_MAX_BYTES = 20480


class FakeWeComWS:
    def __init__(self, bot_id: str, secret: str) -> None:
        self.bot_id = bot_id
        self.secret = secret
        self.received: list[dict[str, Any]] = []  # every command after subscribing
        self.subscribes = 0  # successful ones
        self.refused = 0
        self.send_errcode = 0  # what aibot_send_msg answers; set to make pushes fail
        self.delivered: set[str] = set()  # req_ids of callbacks sent
        self.current: web.WebSocketResponse | None = None
        self.app = web.Application()
        self.app.on_shutdown.append(self._hang_up)
        self.app.router.add_get("/", self._socket)

    def frames(self, cmd: str) -> list[dict[str, Any]]:
        return [f for f in self.received if f.get("cmd") == cmd]

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            first = await ws.receive_json(timeout=5)
        except (TypeError, ValueError, TimeoutError):
            await ws.close()
            return ws
        req_id = first.get("headers", {}).get("req_id", "")
        body = first.get("body") or {}
        if (
            first.get("cmd") != "aibot_subscribe"
            or body.get("bot_id") != self.bot_id
            or body.get("secret") != self.secret
        ):
            self.refused += 1
            await ws.send_json({"headers": {"req_id": req_id}, "errcode": 40058, "errmsg": "bad"})
            await ws.close()
            return ws
        if self.current is not None and not self.current.closed:
            old = self.current
            kick = {"cmd": "aibot_event_callback", "headers": {"req_id": uuid.uuid4().hex}}
            kick["body"] = {"msgtype": "event", "event": {"eventtype": "disconnected_event"}}
            await old.send_json(kick)
            await old.close()
        self.current = ws
        self.subscribes += 1
        await ws.send_json({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"})
        try:
            async for msg in ws:
                await self._command(ws, json.loads(msg.data))
        finally:
            if self.current is ws:
                self.current = None
        return ws

    async def _command(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        self.received.append(frame)
        cmd, req_id = frame.get("cmd"), frame.get("headers", {}).get("req_id", "")
        errcode = 0
        if cmd == "aibot_respond_msg" and req_id not in self.delivered:
            errcode = 846605  # no such callback
        if cmd == "aibot_send_msg":
            body = frame.get("body", {})
            content = body.get("markdown", {}).get("content", "")
            if not body.get("chatid") or body.get("chat_type") not in (1, 2):
                errcode = 40058
            elif len(content.encode()) > SEND_MAX_BYTES:
                errcode = 40058
            else:
                errcode = self.send_errcode
        await ws.send_json({"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": "x"})

    async def connected(self, subscribes: int = 1) -> None:
        """Wait until the bot has subscribed `subscribes` times in all and is connected."""
        await eventually(
            lambda: self.subscribes >= subscribes and self.current is not None, "subscribed"
        )

    async def deliver(self, body: dict[str, Any], req_id: str | None = None) -> str:
        """Push an aibot_msg_callback; held until a bot is connected, as WeCom queues it."""
        req_id = req_id or uuid.uuid4().hex
        self.delivered.add(req_id)
        await self.connected(subscribes=0)
        assert self.current is not None
        frame = {"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": body}
        await self.current.send_json(frame)
        return req_id

    async def reply_to(self, req_id: str) -> dict[str, Any]:
        """The aibot_respond_msg answering callback `req_id`, once it arrives."""

        def found() -> list[dict[str, Any]]:
            return [f for f in self.frames("aibot_respond_msg") if f["headers"]["req_id"] == req_id]

        await eventually(found, f"reply to {req_id}")
        return found()[0]

    async def _hang_up(self, _: web.Application) -> None:
        await self.drop()

    async def drop(self) -> None:
        """Cut the current connection, as a network failure would."""
        if self.current is not None:
            await self.current.close()


def text_message(
    msgid: str, sender: str, text: str, *, chatid: str = "wr-bureau", group: bool = True
) -> dict[str, Any]:
    """A 智能机器人 text message, as WeCom sends it (the same JSON as the callback)."""
    body: dict[str, Any] = {
        "msgid": msgid,
        "aibotid": "bot-1",
        "chattype": "group" if group else "single",
        "from": {"userid": sender},
        "msgtype": "text",
        "text": {"content": f"@清风 {text}"},
    }
    if group:
        body["chatid"] = chatid
    return body
