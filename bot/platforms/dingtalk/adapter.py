"""POST /dingtalk/robot: verify, parse, dispatch, and reply the way DingTalk allows."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import jsoncodec
from bot.clock import Clock
from bot.deadline import finished_within
from bot.dispatcher import Dispatcher
from bot.messages import Mention, Reply
from bot.platforms.dingtalk.callback import PLATFORM, BadPayload, RobotMessage, parse
from bot.platforms.dingtalk.client import DingTalkHTTP
from bot.platforms.dingtalk.render import webhook_body
from bot.platforms.dingtalk.signing import verify_callback
from bot.platforms.dingtalk.transport import DingTalkTransport
from bot.platforms.payload import read_body
from bot.sending import GroupTarget, SendError
from storage import groups
from storage.engine import Database

log = logging.getLogger(__name__)

ROUTE = "/dingtalk/robot"
REPLY_WAIT = 1.0  # answer in the HTTP response when ready this fast; DingTalk waits 5 s at most
SESSION_MARGIN_MS = 60_000  # do not use a sessionWebhook in its last minute
NON_TEXT_HINT = "我只看得懂文字消息。发送「帮助」查看可用命令。"


def _refuse(status: int, why: str) -> web.Response:
    return jsoncodec.json_response({"error": why}, status=status)


class DingTalkAdapter:
    """The enterprise robot's HTTP-mode callback."""

    def __init__(
        self,
        *,
        app_secret: str,
        dispatcher: Dispatcher,
        db: Database,
        clock: Clock,
        http: DingTalkHTTP,
        transport: DingTalkTransport,
        max_body: int,
        reply_wait: float = REPLY_WAIT,
    ) -> None:
        self._secret = app_secret
        self._dispatcher = dispatcher
        self._db = db
        self._clock = clock
        self._http = http
        self._transport = transport
        self._max_body = max_body
        self.reply_wait = reply_wait
        self._known_groups: set[str] = set()
        self._learning: dict[str, asyncio.Future[bool]] = {}  # groups being recorded now
        self._pending: set[asyncio.Task[None]] = set()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(ROUTE, self.handle)

    async def drain(self) -> None:
        """Wait for replies still being delivered after their callback was answered."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # Authenticity first: nothing of the body is read before the headers check out.
        now_ms = self._now_ms()
        h = request.headers
        if not verify_callback(h.get("timestamp"), h.get("sign"), self._secret, now_ms):
            log.warning("dingtalk callback refused: bad, stale or missing signature")
            return _refuse(403, "bad signature")
        if request.content_length is not None and request.content_length > self._max_body:
            return _refuse(413, "body too large")
        try:
            raw = await read_body(request)  # 408 / 499 on a stalled or abandoned body
        except web.HTTPRequestEntityTooLarge:
            return _refuse(413, "body too large")
        if len(raw) > self._max_body:
            return _refuse(413, "body too large")
        try:
            message = parse(raw)
        except BadPayload as exc:
            log.warning("dingtalk callback refused: %s", exc)
            return _refuse(400, "malformed body")
        if not message.routed:
            return jsoncodec.json_response(webhook_body(Reply(NON_TEXT_HINT)))
        if message.is_group:
            await self.learn_group(message)
        pending = self._dispatcher.submit(message.incoming())
        try:
            in_time = await finished_within(pending, self.reply_wait)
        except asyncio.CancelledError:
            self._finish_later(message, pending)  # DingTalk hung up; the reply still goes out
            raise
        if in_time:
            reply = pending.result()
            if reply.repeated and await self._dispatcher.delivered(message.incoming()):
                return jsoncodec.json_response({})  # a retry answered by a late reply already
            return jsoncodec.json_response(webhook_body(self.addressed(message, reply)))
        # Too slow for the HTTP response: answer DingTalk now and deliver the reply later.
        self._finish_later(message, pending)
        return jsoncodec.json_response({})

    def _finish_later(self, message: RobotMessage, pending: asyncio.Future[Reply]) -> None:
        later = asyncio.create_task(self._reply_later(message, pending))
        self._pending.add(later)
        later.add_done_callback(self._pending.discard)

    async def learn_group(self, message: RobotMessage) -> None:
        """Remember a group the first time it talks to the bot, so 绑定本群 and pushes work.

        Messages from a new group that arrive together wait for one write, not one each
        (a burst of 500 made 500 transactions queue for SQLite's lock)."""
        cid = message.conversation_id
        if cid in self._known_groups:
            return
        learning = self._learning.get(cid)
        if learning is None:
            learning = asyncio.ensure_future(self._record_group(message))
            self._learning[cid] = learning
            learning.add_done_callback(lambda _: self._learning.pop(cid, None))
        if await asyncio.shield(learning):
            self._known_groups.add(cid)

    async def _record_group(self, message: RobotMessage) -> bool:
        cid = message.conversation_id
        try:
            async with self._db.write() as s:
                if await groups.group_by_chat(s, PLATFORM, cid) is None:
                    title = message.conversation_title or cid
                    await groups.upsert_group(s, PLATFORM, cid, title, None)
        except SQLAlchemyError as exc:
            # Not worth failing the message for: the next one from this group tries again.
            log.warning("dingtalk group not recorded: %s", type(exc).__name__)
            return False
        return True

    def addressed(self, message: RobotMessage, reply: Reply) -> Reply:
        """In a group, a reply with nobody to @ concerns its sender: @ them."""
        if reply.mentions or not message.is_group or not message.sender_is_staff:
            return reply
        me = Mention(external_id=message.sender_id, name=message.sender_nick)
        return Reply(reply.text, (me,), reply.markdown, reply.image_png)

    async def _reply_later(self, message: RobotMessage, pending: asyncio.Future[Reply]) -> None:
        reply = self.addressed(message, await pending)
        # DingTalk retries a slow callback, maybe on another replica: one late reply each.
        if not await self._dispatcher.claim_delivery(message.incoming()):
            log.info("dingtalk late reply to %s sent already", message.msg_id)
            return
        try:
            await self.deliver(message, reply)
        except SendError as exc:
            log.error("dingtalk reply to %s not delivered: %s", message.msg_id, exc.reason)
            await self._dispatcher.release_delivery(message.incoming())

    async def deliver(self, message: RobotMessage, reply: Reply) -> None:
        """Send a late reply: by the sessionWebhook while it is valid, else by the OpenAPI."""
        if message.session_webhook and self._now_ms() < (
            message.session_webhook_expires_ms - SESSION_MARGIN_MS
        ):
            try:
                await self._http.post(message.session_webhook, webhook_body(reply))
                return
            except SendError as exc:
                log.warning("dingtalk sessionWebhook failed, using the OpenAPI: %s", exc.reason)
        if message.is_group:
            target = GroupTarget(PLATFORM, message.conversation_id, message.conversation_title)
            await self._transport.send_group(target, reply)
        elif message.sender_is_staff:
            await self._transport.send_direct(message.sender_id, reply)
        else:
            raise SendError("发送者没有 staffId，无法私信", permanent=True)

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)
