"""A fake DingTalk Stream gateway on loopback, with a sessionWebhook endpoint.

It checks what the real one checks: clientId and clientSecret, the robot subscription, a
one-time ticket on the WebSocket, an ack per CALLBACK by messageId, and the `opaque` of
each ping echoed back. A CALLBACK not acked before the socket closes is delivered again
on the next connection, as DingTalk does.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.waiting import eventually

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"


class FakeDingTalkStream:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.tickets: set[str] = set()
        self.opens = 0
        self.refused = 0
        self.connections = 0
        self.current: web.WebSocketResponse | None = None
        self.unacked: dict[str, dict[str, Any]] = {}  # messageId -> frame, in order
        self.acks: list[dict[str, Any]] = []
        self.pongs: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []  # bodies posted to sessionWebhooks
        self.base = ""  # set once the server listens
        self.app = web.Application()
        self.app.on_shutdown.append(self._hang_up)
        self.app.router.add_post("/v1.0/gateway/connections/open", self._open)
        self.app.router.add_get("/connect", self._socket)
        self.app.router.add_post("/robot/sendBySession", self._session_webhook)

    async def _open(self, request: web.Request) -> web.Response:
        body = await request.json()
        subs = body.get("subscriptions") or []
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            self.refused += 1
            return web.json_response({"code": "InvalidAuthentication"}, status=401)
        if {"type": "CALLBACK", "topic": ROBOT_TOPIC} not in subs:
            return web.json_response({"code": "InvalidSubscription"}, status=400)
        self.opens += 1
        ticket = uuid.uuid4().hex
        self.tickets.add(ticket)
        return web.json_response(
            {"endpoint": f"{self.base.replace('http', 'ws')}/connect", "ticket": ticket}
        )

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            raise web.HTTPUnauthorized()
        self.tickets.discard(ticket)  # one connection per ticket
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.current = ws
        self.connections += 1
        for frame in list(self.unacked.values()):
            await ws.send_json(frame)
        try:
            async for msg in ws:
                answer = json.loads(msg.data)
                mid = answer.get("headers", {}).get("messageId", "")
                if mid in self.unacked:
                    assert answer.get("code") == 200
                    del self.unacked[mid]
                    self.acks.append(answer)
                else:
                    self.pongs.append(answer)
        finally:
            if self.current is ws:
                self.current = None
        return ws

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
        return {"specVersion": "1.0", "type": kind, "headers": headers, "data": json.dumps(data)}

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
