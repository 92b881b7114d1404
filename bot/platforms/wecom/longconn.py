"""WeCom 智能机器人 long connection: the bot dials wss://openws.work.weixin.qq.com.

Frames are JSON objects {"cmd", "headers": {"req_id"}, "body"}. We subscribe with the
bot's id and secret, ping every 30 s, answer each `aibot_msg_callback` with an
`aibot_respond_msg` carrying its req_id, and push with `aibot_send_msg`. WeCom answers
each of our commands with {"headers": {"req_id"}, "errcode", "errmsg"}. A message that
WeCom delivers again after its reply went out gets no second reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp

from bot.clock import Clock
from bot.dispatcher import Dispatcher
from bot.messages import IncomingMessage, Reply
from bot.platforms.longconn.backoff import Backoff, Sleep, real_sleep
from bot.platforms.longconn.connection import (
    ConnectionLost,
    CredentialsRefused,
    LongConnection,
    read_json,
    unreachable,
)
from bot.platforms.longconn.lease import Lease
from bot.platforms.wecom.callback import as_text
from bot.platforms.wecom.payload import ids_of, image_of, incoming, text_of
from bot.platforms.wecom.splitting import split_text
from bot.ratelimit import SlidingWindow
from bot.sending import GroupTarget, SendError

log = logging.getLogger(__name__)

NOT_TEXT = "目前只能处理文字消息，发送“帮助”查看可用命令。"
STREAM_MAX_BYTES = 20480  # WeCom's limit on a stream reply's content
# Errors that another try will not fix: bad chat id, bot not in the chat, no permission.
PERMANENT_ERRCODES = {40058, 93000, 93006, 600039}
PUSHES_PER_MINUTE = 20  # WeCom's limit per robot
MARKDOWN_MAX_BYTES = 4096  # longer pushes are split at paragraph breaks
PROGRESS_KEPT = 1024


def _clip(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def _req_id(cmd: str) -> str:
    return f"{cmd}_{uuid.uuid4().hex}"


class WeComLongConnection(LongConnection):
    platform = "wecom"
    title = "企业微信"

    def __init__(
        self,
        *,
        url: str,
        bot_id: str,
        secret: str,
        dispatcher: Dispatcher,
        http: Callable[[], aiohttp.ClientSession | None],
        lease: Lease,
        sleep: Sleep = real_sleep,
        backoff: Backoff | None = None,
        ping_every: float = 30.0,
        answer_timeout: float = 10.0,
    ) -> None:
        super().__init__(lease, sleep, backoff)
        self.url = url
        self.bot_id = bot_id
        self._secret = secret
        self.dispatcher = dispatcher
        self._http = http
        self.ping_every = ping_every
        self.answer_timeout = answer_timeout
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # Replies sent, until WeCom confirms them; one it refuses or never confirms gives
        # its message back, so that WeCom's re-delivery of it is answered.
        self._unconfirmed: set[asyncio.Task[None]] = set()

    async def session(self) -> None:
        http = self._http()
        if http is None:
            raise ConnectionLost("企业微信长连接：HTTP 客户端尚未创建")
        try:
            ws = await http.ws_connect(self.url, autoping=True)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise unreachable("企业微信长连接服务器", exc) from None
        async with ws:
            sub_id = _req_id("aibot_subscribe")
            body = {"bot_id": self.bot_id, "secret": self._secret}
            await ws.send_json(
                {"cmd": "aibot_subscribe", "headers": {"req_id": sub_id}, "body": body}
            )
            answer = await read_json(ws, self.answer_timeout)
            if _get_req_id(answer) != sub_id or answer.get("errcode") != 0:
                errmsg = str(answer.get("errmsg", ""))[:100]
                raise CredentialsRefused(
                    f"企业微信长连接订阅被拒绝（errcode={answer.get('errcode')} {errmsg}），"
                    "请核对 bot_id / secret"
                )
            self._ws = ws
            self.connected()
            pinger = asyncio.create_task(self._ping(ws))
            try:
                while True:
                    frame = await read_json(ws, self.ping_every * 3 + self.answer_timeout)
                    await self._on_frame(ws, frame)
            finally:
                self._ws = None
                pinger.cancel()
                await asyncio.gather(pinger, return_exceptions=True)
                for fut in self._pending.values():
                    if not fut.done():
                        fut.set_exception(ConnectionLost("connection closed"))
                # Before the next connection: WeCom re-delivers there what went unanswered.
                await asyncio.gather(*self._unconfirmed, return_exceptions=True)

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await self.sleep(self.ping_every)
            try:
                await ws.send_json({"cmd": "ping", "headers": {"req_id": _req_id("ping")}})
            except (ConnectionError, RuntimeError):
                return  # the reader notices the close and reconnects

    async def _on_frame(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        cmd = frame.get("cmd")
        if cmd == "aibot_msg_callback":
            await self._answer(ws, frame)
        elif cmd == "aibot_event_callback":
            body = frame.get("body")
            event = body.get("event") if isinstance(body, dict) else None
            kind = event.get("eventtype") if isinstance(event, dict) else None
            if kind == "disconnected_event":
                log.warning("wecom: another connection for this bot took over")
            else:
                log.info("wecom event %s", kind)
        else:
            fut = self._pending.get(_get_req_id(frame))
            if fut is not None and not fut.done():
                fut.set_result(frame)

    async def _answer(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        req_id = _get_req_id(frame)
        body = frame.get("body")
        if not req_id or not isinstance(body, dict):
            log.warning("wecom: a message frame without req_id or body, skipped")
            return
        ids, text, image = ids_of(body), text_of(body), image_of(body)
        msg = None
        if ids is not None and (text is not None or image):
            msg = incoming(body, *ids, text or "", image)
        if msg is None:
            content, stream_id = NOT_TEXT, req_id
        else:
            if msg.chat_type == "group":
                # The operator copies a group's chatid from here into [[groups]] chat_id.
                log.info("wecom message %s in group chatid=%s", msg.message_id, msg.chat_id)
            # Recorded with its delivery claimed: a re-delivery finds it answered already.
            msg = msg._replace(reply_apart=True)
            reply = await self.dispatcher.handle(msg)
            if reply.repeated and not await self.dispatcher.claim_delivery(msg):
                log.info("wecom message %s was answered before: no second reply", msg.message_id)
                return
            content, stream_id = as_text(reply), msg.message_id
        stream = {"id": stream_id[:64], "finish": True, "content": _clip(content, STREAM_MAX_BYTES)}
        # WeCom answers the reply under the callback's req_id.
        answer = self._expect(req_id) if msg is not None else None
        try:
            await ws.send_json(
                {
                    "cmd": "aibot_respond_msg",
                    "headers": {"req_id": req_id},
                    "body": {"msgtype": "stream", "stream": stream},
                }
            )
        except (ConnectionError, RuntimeError):
            # Not sent; the reader sees the close, and the message is given back first.
            if answer is not None:
                answer.set_exception(ConnectionLost("connection closed"))
        if answer is not None and msg is not None:
            task = asyncio.create_task(self._confirm(req_id, answer, msg))
            self._unconfirmed.add(task)
            task.add_done_callback(self._unconfirmed.discard)

    def _expect(self, req_id: str) -> asyncio.Future[dict[str, Any]]:
        """A future for WeCom's answer to our command `req_id`."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        return fut

    async def _confirm(
        self, req_id: str, answer: asyncio.Future[dict[str, Any]], msg: IncomingMessage
    ) -> None:
        """Wait for WeCom to accept the reply to `msg`; if it does not, give the message back."""
        try:
            errcode = (await asyncio.wait_for(answer, self.answer_timeout)).get("errcode")
        except (ConnectionLost, TimeoutError):
            errcode = None
        finally:
            if self._pending.get(req_id) is answer:  # not a newer reply's, same req_id
                del self._pending[req_id]
        if errcode != 0:
            log.warning("wecom reply to %s not accepted (errcode=%s)", msg.message_id, errcode)
            await self.dispatcher.release_delivery(msg)

    async def push(self, chat_id: str, content: str) -> None:
        """Send `aibot_send_msg` (markdown) and wait for WeCom's answer; SendError if not sent."""
        ws = self._ws
        if ws is None or ws.closed:
            raise SendError("企业微信长连接未建立", permanent=False)
        req_id = _req_id("aibot_send_msg")
        fut = self._expect(req_id)
        # Exactly the fields of the official SDK (WecomTeam/aibot-node-sdk): WeCom tells a
        # person from a group by the id itself.
        body = {"chatid": chat_id, "msgtype": "markdown", "markdown": {"content": content}}
        try:
            await ws.send_json(
                {"cmd": "aibot_send_msg", "headers": {"req_id": req_id}, "body": body}
            )
            answer = await asyncio.wait_for(fut, self.answer_timeout)
        except (ConnectionLost, ConnectionError, RuntimeError, TimeoutError) as exc:
            reason = f"企业微信长连接发送失败：{type(exc).__name__}"
            raise SendError(reason, permanent=False) from None
        finally:
            self._pending.pop(req_id, None)
        errcode = answer.get("errcode")
        if errcode != 0:
            reason = f"企业微信 errcode={errcode} {answer.get('errmsg', '')}".strip()
            raise SendError(reason, permanent=errcode in PERMANENT_ERRCODES)


def _get_req_id(frame: dict[str, Any]) -> str:
    headers = frame.get("headers")
    value = headers.get("req_id") if isinstance(headers, dict) else None
    return value if isinstance(value, str) else ""


class WeComLongConnectionTransport:
    """Pushes over the long connection: groups need no webhook key."""

    platform = "wecom"

    def __init__(self, connection: WeComLongConnection, clock: Clock) -> None:
        self.connection = connection
        # One bot, one connection: all its pushes share the per-robot limit.
        self.limiter = SlidingWindow(PUSHES_PER_MINUTE, timedelta(minutes=1), clock)
        # Pieces already delivered of a long push that failed part-way: the outbox's retry
        # resumes after them instead of repeating them.
        self._progress: dict[str, int] = {}

    async def send_group(self, target: GroupTarget, message: Reply) -> None:
        if not target.chat_id or target.chat_id.startswith("name:"):
            raise SendError(f"群 {target.name} 没有配置 chat_id", permanent=True)
        await self._send(target.chat_id, "group", as_text(message))

    async def send_direct(self, user_id: str, message: Reply) -> None:
        await self._send(user_id, "direct", as_text(message))

    async def _send(self, chat_id: str, chat_type: str, content: str) -> None:
        key = hashlib.sha256(f"{chat_type}:{chat_id}:{content}".encode()).hexdigest()
        pieces = split_text(content, MARKDOWN_MAX_BYTES)
        done = self._progress.pop(key, 0)
        try:
            for piece in pieces[done:]:
                wait = self.limiter.try_acquire(self.connection.bot_id)
                if wait:
                    raise SendError(
                        "机器人每分钟最多 20 条，稍后再发", permanent=False, retry_after=wait
                    )
                await self.connection.push(chat_id, piece)
                done += 1
        except SendError:
            if done:
                self._progress[key] = done
                if len(self._progress) > PROGRESS_KEPT:
                    self._progress.pop(next(iter(self._progress)))
            raise
