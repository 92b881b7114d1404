"""A fake DingTalk Stream gateway on loopback, with a sessionWebhook endpoint.

It behaves as the real one does towards the official SDKs (open-dingtalk's Python and
Node.js clients): the open request is answered in JSON only when it says `Accept:
application/json`, else in XML; it checks clientId and clientSecret and the robot
subscription; a ticket opens one WebSocket, once. Every CALLBACK must be acked by its
messageId with code 200 and a JSON string as data; every SYSTEM frame (ping, disconnect)
is answered the same way, a ping's with its data (the `opaque`) echoed. A CALLBACK not
acked is pushed again: on the next connection, or when the test says the ack timed out.

Answers that break these rules are kept in `malformed`; the tests' fixture checks that
there are none.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from tests.fakes.waiting import eventually

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"


def _xml(root: str, fields: dict[str, str], status: int = 200) -> web.Response:
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    return web.Response(
        text=f"<{root}>{inner}</{root}>", status=status, content_type="application/xml"
    )


class FakeDingTalkStream:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.always_xml = False  # answer XML even to Accept: application/json (a bad proxy)
        self.tickets: set[str] = set()
        self.opens = 0
        self.refused = 0
        self.xml_answers = 0
        self.connections = 0
        self.current: web.WebSocketResponse | None = None
        self.unacked: dict[str, dict[str, Any]] = {}  # messageId -> CALLBACK frame, in order
        self.sent: dict[str, dict[str, Any]] = {}  # messageId -> every frame pushed
        self.acks: list[dict[str, Any]] = []  # answers to CALLBACK and EVENT frames
        self.pongs: list[dict[str, Any]] = []  # answers to pings
        self.disconnect_acks: list[dict[str, Any]] = []
        self.malformed: list[str] = []
        self.events: list[str] = []  # "disconnect acked 1", "closed 1": what happened when
        self.replies: list[dict[str, Any]] = []  # bodies posted to sessionWebhooks
        self.base = ""  # set once the server listens
        self.app = web.Application()
        self.app.on_shutdown.append(self._hang_up)
        self.app.router.add_post("/v1.0/gateway/connections/open", self._open)
        self.app.router.add_get("/connect", self._socket)
        self.app.router.add_post("/robot/sendBySession", self._session_webhook)

    async def _open(self, request: web.Request) -> web.Response:
        as_json = "application/json" in request.headers.get("Accept", "") and not self.always_xml
        if not as_json:
            self.xml_answers += 1

        def answer(root: str, fields: dict[str, str], status: int = 200) -> web.Response:
            if as_json:
                return web.json_response(fields, status=status)
            return _xml(root, fields, status)

        body = await request.json()
        subs = body.get("subscriptions") or []
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            self.refused += 1
            refusal = {"code": "InvalidAuthentication", "message": "身份验证失败"}
            return answer("Error", refusal, 401)
        if {"type": "CALLBACK", "topic": ROBOT_TOPIC} not in subs:
            return answer("Error", {"code": "InvalidSubscription"}, 400)
        self.opens += 1
        ticket = uuid.uuid4().hex
        self.tickets.add(ticket)
        endpoint = f"{self.base.replace('http', 'ws')}/connect"
        return answer("OpenConnectionResponse", {"endpoint": endpoint, "ticket": ticket})

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            raise web.HTTPUnauthorized()
        self.tickets.discard(ticket)  # one connection per ticket
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.current = ws
        self.connections += 1
        number = self.connections
        for frame in list(self.unacked.values()):
            await ws.send_json(frame)
        try:
            async for msg in ws:
                self._answered(json.loads(msg.data), number)
        finally:
            self.events.append(f"closed {number}")
            if self.current is ws:
                self.current = None
        return ws

    def _answered(self, answer: dict[str, Any], connection: int) -> None:
        """Check and file the bot's answer to one of our frames."""
        headers = answer.get("headers") or {}
        mid = headers.get("messageId", "")
        frame = self.sent.get(mid)
        if frame is None:
            self.malformed.append(f"answer to no frame we sent: {answer}")
            return
        data = answer.get("data")
        if (
            answer.get("code") != 200
            or headers.get("contentType") != "application/json"
            or not isinstance(data, str)
        ):
            self.malformed.append(f"not an ack as the SDKs send it: {answer}")
            return
        try:
            content = json.loads(data)  # a JSON string, as the SDKs send it
        except ValueError:
            self.malformed.append(f"data is not a JSON string: {answer}")
            return
        kind, topic = frame["type"], frame["headers"]["topic"]
        if kind == "SYSTEM" and topic == "ping":
            if content != json.loads(frame["data"]):
                self.malformed.append(f"pong without the ping's opaque: {answer}")
            self.pongs.append(answer)
        elif kind == "SYSTEM" and topic == "disconnect":
            self.disconnect_acks.append(answer)
            self.events.append(f"disconnect acked {connection}")
        else:
            self.unacked.pop(mid, None)
            self.acks.append(answer)

    async def _session_webhook(self, request: web.Request) -> web.Response:
        if not request.query.get("session"):
            return web.json_response({"errcode": 300001, "errmsg": "session invalid"})
        self.replies.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def _frame(self, kind: str, topic: str, data: dict[str, Any]) -> dict[str, Any]:
        headers = {
            "appId": "app-1",
            "connectionId": "conn-1",
            "contentType": "application/json",
            "messageId": uuid.uuid4().hex,
            "time": "1764000000000",
            "topic": topic,
        }
        frame = {"specVersion": "1.0", "type": kind, "headers": headers, "data": json.dumps(data)}
        self.sent[headers["messageId"]] = frame
        return frame

    async def connected(self, connections: int = 1) -> None:
        """Wait until the bot has connected `connections` times in all and is connected."""
        await eventually(
            lambda: self.connections >= connections and self.current is not None, "connected"
        )

    async def deliver(self, payload: dict[str, Any]) -> str:
        """Send a robot message as a CALLBACK; kept for re-delivery until it is acked."""
        frame = self._frame("CALLBACK", ROBOT_TOPIC, payload)
        mid = frame["headers"]["messageId"]
        self.unacked[mid] = frame
        if self.current is not None:
            await self.current.send_json(frame)
        return mid

    async def push_again(self, mid: str) -> None:
        """Push CALLBACK `mid` once more, as the gateway does when an ack did not reach it
        in time (it may have been sent, and lost)."""
        assert self.current is not None
        await self.current.send_json(self.sent[mid])

    async def ping(self) -> str:
        opaque = uuid.uuid4().hex
        assert self.current is not None
        await self.current.send_json(self._frame("SYSTEM", "ping", {"opaque": opaque}))
        return opaque

    async def ask_to_reconnect(self) -> None:
        assert self.current is not None
        await self.current.send_json(self._frame("SYSTEM", "disconnect", {"reason": "rotate"}))

    async def _hang_up(self, _: web.Application) -> None:
        await self.drop()

    async def drop(self) -> None:
        if self.current is not None:
            await self.current.close()

    def robot_message(
        self, msg_id: str, staff_id: str, text: str, *, expires_ms: int, group: bool = True
    ) -> dict[str, Any]:
        """A robot text message, as DingTalk sends it (the same JSON as the HTTP callback)."""
        return {
            "msgId": msg_id,
            "msgtype": "text",
            "text": {"content": f" {text}"},
            "conversationType": "2" if group else "1",
            "conversationId": "cid-school" if group else f"cid-direct-{staff_id}",
            "conversationTitle": "一中群" if group else "",
            "senderId": f"$:LWCP_v1:${staff_id}",
            "senderStaffId": staff_id,
            "senderNick": "刘老师",
            "chatbotUserId": "bot",
            "robotCode": "robot-1",
            "isAdmin": False,
            "sessionWebhook": f"{self.base}/robot/sendBySession?session={uuid.uuid4().hex}",
            "sessionWebhookExpiredTime": expires_ms,
            "createAt": expires_ms - 5400000,
        }
