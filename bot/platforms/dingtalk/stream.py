"""DingTalk Stream mode: the bot opens a WebSocket to DingTalk's gateway.

POST {api_base}/v1.0/gateway/connections/open with the app's clientId and clientSecret
and the robot-message subscription returns an endpoint and a one-time ticket; we connect
to endpoint?ticket=... . Frames are {"specVersion", "type", "headers", "data"} with
`data` a JSON string. SYSTEM `ping` is answered by echoing its data (the `opaque`);
SYSTEM `disconnect` means the gateway is rotating: acknowledge it, then reconnect. Every
EVENT and CALLBACK is acknowledged by its messageId, or DingTalk delivers it again; a
robot message answered before (its ack was lost) gets its ack and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from bot import jsoncodec
from bot.dispatcher import Dispatcher
from bot.messages import Reply
from bot.platforms.dingtalk.adapter import NON_TEXT_HINT, DingTalkAdapter
from bot.platforms.dingtalk.callback import BadPayload, RobotMessage, parse
from bot.platforms.longconn.backoff import Backoff, Sleep, real_sleep
from bot.platforms.longconn.connection import (
    ConnectionLost,
    CredentialsRefused,
    LongConnection,
    read_json,
    unreachable,
)
from bot.platforms.longconn.lease import Lease
from bot.sending import SendError

log = logging.getLogger(__name__)

OPEN_PATH = "/v1.0/gateway/connections/open"
ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
USER_AGENT = "qingfeng/0.1"
REPLY_DRAIN_SECONDS = 5.0
# Without it the gateway answers the open request in XML; every official SDK sends it.
OPEN_HEADERS = {"Accept": "application/json"}
GATEWAY = "钉钉网关"


def _ack(message_id: str, data: Any) -> dict[str, Any]:
    return _answer(message_id, json.dumps(data, ensure_ascii=False))


def _answer(message_id: str, data: object) -> dict[str, Any]:
    """The frame that acknowledges message `message_id`, as the official SDKs send it."""
    return {
        "code": 200,
        "headers": {"contentType": "application/json", "messageId": message_id},
        "message": "OK",
        "data": data,
    }


class DingTalkStream(LongConnection):
    platform = "dingtalk"
    title = "钉钉"

    def __init__(
        self,
        *,
        api_base: str,
        client_id: str,
        client_secret: str,
        dispatcher: Dispatcher,
        adapter: DingTalkAdapter,
        http: Callable[[], aiohttp.ClientSession | None],
        lease: Lease,
        sleep: Sleep = real_sleep,
        backoff: Backoff | None = None,
        idle_timeout: float = 120.0,  # the gateway pings every few seconds
    ) -> None:
        super().__init__(lease, sleep, backoff)
        self.api_base = api_base.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.dispatcher = dispatcher
        self.adapter = adapter  # the callback mode's parsing and replying, shared
        self._http = http
        self.idle_timeout = idle_timeout
        self._replies: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        await super().stop()
        # Replies already recorded still go out (bounded, so shutdown cannot hang on them).
        if self._replies:
            _, late = await asyncio.wait(set(self._replies), timeout=REPLY_DRAIN_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _open(self, http: aiohttp.ClientSession) -> URL:
        body = {
            "clientId": self.client_id,
            "clientSecret": self._secret,
            "subscriptions": [{"type": "CALLBACK", "topic": ROBOT_TOPIC}],
            "ua": USER_AGENT,
        }
        try:
            async with http.post(
                self.api_base + OPEN_PATH, json=body, headers=OPEN_HEADERS
            ) as resp:
                data = await _gateway_answer(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unreachable(GATEWAY, exc) from None
        endpoint = data.get("endpoint")
        ticket = data.get("ticket")
        if not isinstance(endpoint, str) or not isinstance(ticket, str) or not ticket:
            raise ConnectionLost("钉钉网关的应答里没有 endpoint 或 ticket")
        log.info("dingtalk stream endpoint %s", URL(endpoint).with_query(None))  # no ticket
        return URL(endpoint).update_query(ticket=ticket)

    async def session(self) -> None:
        http = self._http()
        if http is None:
            raise ConnectionLost("钉钉长连接：HTTP 客户端尚未创建")
        url = await self._open(http)
        try:
            ws = await http.ws_connect(url, autoping=True)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unreachable("钉钉长连接地址", exc) from None
        async with ws:
            self.connected()
            while True:
                frame = await read_json(ws, self.idle_timeout)
                headers = frame.get("headers")
                headers = headers if isinstance(headers, dict) else {}
                kind, topic = frame.get("type"), headers.get("topic")
                if kind == "SYSTEM" and topic == "ping":
                    await ws.send_json(
                        _answer(str(headers.get("messageId", "")), frame.get("data"))
                    )
                elif kind == "SYSTEM" and topic == "disconnect":
                    # Acknowledged before we hang up, as the official SDK does: the gateway
                    # then knows the close is ours and expected.
                    await ws.send_json(
                        _answer(str(headers.get("messageId", "")), frame.get("data"))
                    )
                    log.info("dingtalk stream: the gateway asked us to reconnect")
                    return
                elif kind == "CALLBACK":
                    await self._callback(ws, headers, frame.get("data"))
                elif kind == "EVENT":
                    ack = _ack(str(headers.get("messageId", "")), {"status": "SUCCESS"})
                    await ws.send_json(ack)
                else:
                    log.info("dingtalk stream: %s frame %s ignored", kind, topic)

    async def _callback(
        self, ws: aiohttp.ClientWebSocketResponse, headers: dict[str, Any], data: object
    ) -> None:
        message_id = str(headers.get("messageId", ""))
        message: RobotMessage | None = None
        if headers.get("topic") == ROBOT_TOPIC and isinstance(data, str):
            try:
                message = parse(data.encode("utf-8"))
            except BadPayload as exc:
                log.warning("dingtalk stream: callback %s refused: %s", message_id, exc)
        if message is None:
            await ws.send_json(_ack(message_id, {"response": None}))
            return
        recorded = message.routed
        if not recorded:
            reply = Reply(NON_TEXT_HINT)
        else:
            if message.is_group:
                await self.adapter.learn_group(message)
            # Recorded, and its delivery claimed, before the ack. DingTalk re-pushes a frame
            # whose ack it did not get: the re-delivery finds the message answered already.
            incoming = message.incoming()._replace(reply_apart=True)
            reply = await self.dispatcher.handle(incoming)
            if reply.repeated and not await self.dispatcher.claim_delivery(incoming):
                log.info("dingtalk message %s was answered before: only acked", message.msg_id)
                await ws.send_json(_ack(message_id, {"response": None}))
                return
            reply = self.adapter.addressed(message, reply)
        await ws.send_json(_ack(message_id, {"response": None}))
        task = asyncio.create_task(self._reply(message, reply, recorded))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _reply(self, message: RobotMessage, reply: Reply, recorded: bool) -> None:
        """By the sessionWebhook while it is valid, else by the OpenAPI (as callback mode)."""
        try:
            await self.adapter.deliver(message, reply)
        except SendError as exc:
            log.error("dingtalk reply to %s not delivered: %s", message.msg_id, exc.reason)
            if recorded:  # not sent: a later delivery of the message may try again
                await self.dispatcher.release_delivery(message.incoming())


async def _gateway_answer(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """The open request's answer as a JSON object; ConnectionLost, in words an operator
    can act on, for a refusal or anything that is not JSON."""
    if resp.status in (401, 403):
        raise CredentialsRefused(
            f"钉钉长连接鉴权失败（{resp.status}），请核对 app_key / app_secret"
        )
    not_json = ConnectionLost(f"钉钉网关返回的不是 JSON（Content-Type: {resp.content_type}）")
    try:
        data = await resp.json(loads=jsoncodec.loads, content_type=None)
    except ValueError:  # XML (no Accept header), an HTML error page
        if resp.status == 200:
            raise not_json from None
        data = None
    if resp.status != 200:
        code = data.get("code") if isinstance(data, dict) else None
        detail = f" {code}" if isinstance(code, str) and len(code) < 100 else ""
        raise ConnectionLost(f"钉钉网关拒绝了连接请求（HTTP {resp.status}{detail}）")
    if not isinstance(data, dict):
        raise not_json
    return data
