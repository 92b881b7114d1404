"""A fake WeCom 智能机器人 long-connection server on loopback.

It behaves as the real one does towards the official SDK (WecomTeam/aibot-node-sdk): the
first frame must be `aibot_subscribe` with the right bot id and secret; each command
(subscribe, `ping`, `aibot_respond_msg`, `aibot_send_msg`) gets an answer {"headers":
{"req_id"}, "errcode", "errmsg"} under its req_id; a reply must carry the req_id of a
callback this server delivered, as a finished `stream`; a push carries exactly the SDK's
fields; only one connection per bot is kept (a newer one kicks the older with a
`disconnected_event`). A callback without an accepted reply is pushed again on the next
connection, and when the test says so.

Frames that break these rules are kept in `malformed`; the tests' fixture checks that
there are none.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.waiting import eventually

SEND_MAX_BYTES = 20480
SEND_FIELDS = {"chatid", "msgtype", "markdown"}  # what the SDK's sendMessage sends
NO_SUCH_CALLBACK = 846605


class FakeWeComWS:
    def __init__(self, bot_id: str, secret: str) -> None:
        self.bot_id = bot_id
        self.secret = secret
        self.received: list[dict[str, Any]] = []  # every command after subscribing
        self.subscribes = 0  # successful ones
        self.refused = 0
        self.send_errcode = 0  # what aibot_send_msg answers; set to make pushes fail
        self.respond_errcode = 0  # what aibot_respond_msg answers; set to make replies fail
        self.delivered: dict[str, dict[str, Any]] = {}  # req_id -> callback frame sent
        self.unanswered: dict[str, dict[str, Any]] = {}  # callbacks without an accepted reply
        self.malformed: list[str] = []
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
        await ws.send_json({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"})
        held = list(self.unanswered.values())  # what the bot missed while away
        self.current = ws
        self.subscribes += 1
        for frame in held:
            await ws.send_json(frame)
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
        body = frame.get("body", {})
        errcode = 0
        if not req_id:
            self.malformed.append(f"a command without req_id: {frame}")
        if cmd == "aibot_respond_msg":
            stream = body.get("stream", {})
            if req_id not in self.delivered:
                errcode = NO_SUCH_CALLBACK
            elif body.get("msgtype") != "stream" or set(stream) != {"id", "finish", "content"}:
                self.malformed.append(f"not a stream reply as the SDK sends it: {frame}")
                errcode = 40058
            else:
                errcode = self.respond_errcode
            if errcode == 0:
                self.unanswered.pop(req_id, None)
        elif cmd == "aibot_send_msg":
            content = body.get("markdown", {}).get("content", "")
            if set(body) != SEND_FIELDS or body.get("msgtype") != "markdown":
                self.malformed.append(f"a push with other fields than the SDK's: {frame}")
                errcode = 40058
            elif not body.get("chatid") or len(content.encode()) > SEND_MAX_BYTES:
                errcode = 40058
            else:
                errcode = self.send_errcode
        elif cmd != "ping":
            self.malformed.append(f"an unknown command: {frame}")
        errmsg = "ok" if errcode == 0 else "refused"
        await ws.send_json({"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": errmsg})

    async def connected(self, subscribes: int = 1) -> None:
        """Wait until the bot has subscribed `subscribes` times in all and is connected."""
        await eventually(
            lambda: self.subscribes >= subscribes and self.current is not None, "subscribed"
        )

    async def deliver(self, body: dict[str, Any], req_id: str | None = None) -> str:
        """Push an aibot_msg_callback; held until a bot connects, as WeCom holds it."""
        req_id = req_id or uuid.uuid4().hex
        frame = {"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": body}
        self.delivered[req_id] = self.unanswered[req_id] = frame
        if self.current is not None:
            await self.current.send_json(frame)
        return req_id

    async def push_again(self, req_id: str) -> None:
        """Push callback `req_id` once more, as after a reply WeCom did not get."""
        assert self.current is not None
        await self.current.send_json(self.delivered[req_id])

    def replies_to(self, req_id: str) -> list[dict[str, Any]]:
        return [f for f in self.frames("aibot_respond_msg") if f["headers"]["req_id"] == req_id]

    async def reply_to(self, req_id: str, nth: int = 1) -> dict[str, Any]:
        """The `nth` aibot_respond_msg answering callback `req_id`, once it arrives."""
        await eventually(lambda: len(self.replies_to(req_id)) >= nth, f"reply to {req_id}")
        return self.replies_to(req_id)[nth - 1]

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
