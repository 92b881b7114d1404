"""`GET|POST /wecom/aibot`: the 智能机器人 callback (group @-messages and direct chats).

JSON, encrypted with the empty receive id; the reply is an encrypted `stream` message with
finish=true. A reply not ready within the budget is sent through the message's response_url.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot import jsoncodec
from bot.clock import Clock
from bot.messages import Reply
from bot.platforms.payload import json_object
from bot.platforms.wecom.callback import NOT_TEXT, WELCOME, as_text, body, query, refuse
from bot.platforms.wecom.client import SessionGetter, post_json
from bot.platforms.wecom.crypto import CallbackRejected, WeComCrypto, check_timestamp
from bot.platforms.wecom.payload import ids_of, image_of, incoming, text_of
from bot.platforms.wecom.replying import WORKING, InTime

log = logging.getLogger(__name__)

PATH = "/wecom/aibot"
MAX_GROUPS_SEEN = 10_000  # a county has hundreds of groups; past this, log every message


class AibotAdapter:
    def __init__(
        self,
        crypto: WeComCrypto,
        in_time: InTime,
        clock: Clock,
        session: SessionGetter,
        api_base: str,
        timeout: float = 10.0,
    ) -> None:
        self.crypto = crypto
        self.in_time = in_time
        self.clock = clock
        self._session = session
        self.api_base = api_base.rstrip("/") + "/"
        self.timeout = timeout
        self._groups_seen: set[str] = set()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(PATH, self.verify_url)
        router.add_post(PATH, self.callback)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def verify_url(self, request: web.Request) -> web.Response:
        """The console's URL check: answer the decrypted echostr."""
        try:
            sig, ts, nonce, echostr = query(
                request, "msg_signature", "timestamp", "nonce", "echostr"
            )
            check_timestamp(ts, self._now())
            self.crypto.verify(sig, ts, nonce, echostr)
            plain = self.crypto.decrypt(echostr)
        except CallbackRejected as exc:
            return refuse("aibot", exc, request)
        return web.Response(text=plain.decode("utf-8", "replace"))

    async def callback(self, request: web.Request) -> web.Response:
        try:
            payload = await self._open(request)
            reply = await self._answer(payload)
        except CallbackRejected as exc:
            return refuse("aibot", exc, request)
        if reply is None:
            return web.Response(text="")
        sealed = self.crypto.seal(jsoncodec.dumps(reply).encode(), str(int(self._now())))
        return jsoncodec.json_response(sealed)

    async def _open(self, request: web.Request) -> dict[str, Any]:
        sig, ts, nonce = query(request, "msg_signature", "timestamp", "nonce")
        check_timestamp(ts, self._now())
        envelope = _json_object(await body(request))
        encrypted = envelope.get("encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise CallbackRejected(400, "no encrypt field")
        self.crypto.verify(sig, ts, nonce, encrypted)
        return _json_object(self.crypto.decrypt(encrypted))

    async def _answer(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        msgtype = payload.get("msgtype")
        if msgtype == "event":
            event = payload.get("event")
            if isinstance(event, dict) and event.get("eventtype") == "enter_chat":
                return {"msgtype": "text", "text": {"content": WELCOME}}
            return None
        if msgtype == "stream":
            return None  # a refresh poll; our streams are always finished already
        ids = ids_of(payload)
        if ids is None:
            raise CallbackRejected(400, "no msgid or sender")
        msgid, sender = ids
        text, image = text_of(payload), image_of(payload)
        if text is None and not image:
            return _stream(msgid, NOT_TEXT)
        msg = incoming(payload, msgid, sender, text or "", image)
        if msg.chat_type == "group" and msg.chat_id not in self._groups_seen:
            # The operator copies a group's chatid from here into [[groups]] chat_id: once
            # per group and process is enough (a line per message cost ~20 µs each).
            if len(self._groups_seen) < MAX_GROUPS_SEEN:
                self._groups_seen.add(msg.chat_id)
            log.info("aibot message %s in group chatid=%s", msgid, msg.chat_id)
        response_url = payload.get("response_url")

        async def later(reply: Reply) -> None:
            await self._respond_later(response_url, reply)

        reply = await self.in_time.reply(msg, later)
        if reply is not None and await self.in_time.delivered_before(msg, reply):
            return None  # a retry whose reply already went out through response_url
        return _stream(msgid, WORKING if reply is None else as_text(reply))

    async def _respond_later(self, response_url: object, reply: Reply) -> None:
        # Only back to WeCom itself: a leaked key must not turn the bot into a proxy.
        if not isinstance(response_url, str) or not response_url.startswith(self.api_base):
            log.warning("aibot late reply dropped: response_url outside wecom.api_base")
            return
        payload = {"msgtype": "markdown", "markdown": {"content": as_text(reply)}}
        await post_json(self._session(), response_url, payload, self.timeout)


def _stream(msgid: str, content: str) -> dict[str, Any]:
    # One stream per message, already finished: WeCom then never polls for more.
    return {"msgtype": "stream", "stream": {"id": msgid[:64], "finish": True, "content": content}}


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        return json_object(raw)
    except ValueError as exc:
        raise CallbackRejected(400, str(exc)) from None
