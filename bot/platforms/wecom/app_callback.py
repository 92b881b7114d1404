"""`GET|POST /wecom/app`: the 自建应用 callback (direct chats with the app).

XML, encrypted with the corp id as receive id, decrypted and parsed by wechatpy.enterprise;
the reply is an encrypted passive XML reply. A reply not ready within the budget goes out
through message/send instead.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from xml.etree import ElementTree

from aiohttp import web
from wechatpy.enterprise import WeChatCrypto, parse_message
from wechatpy.enterprise.replies import TextReply
from wechatpy.exceptions import InvalidSignatureException

from bot.clock import Clock
from bot.messages import IncomingMessage, Reply
from bot.platforms.wecom.callback import NOT_TEXT, as_text, body, query, refuse
from bot.platforms.wecom.crypto import (
    CallbackRejected,
    check_timestamp,
    has_entity_declaration,
    signature,
    signature_matches,
)
from bot.platforms.wecom.replying import WORKING, InTime
from bot.sending import Transport

log = logging.getLogger(__name__)

PATH = "/wecom/app"


class AppCallbackAdapter:
    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        corp_id: str,
        in_time: InTime,
        clock: Clock,
        transport: Transport | None,
    ) -> None:
        self.token = token
        self.crypto = WeChatCrypto(token, encoding_aes_key, corp_id)
        self.in_time = in_time
        self.clock = clock
        self.transport = transport

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(PATH, self.verify_url)
        router.add_post(PATH, self.callback)

    def _verify(self, sig: str, ts: str, nonce: str, encrypted: str) -> None:
        check_timestamp(ts, self.clock.now().timestamp())
        # Constant-time, before wechatpy (whose own check uses ==) sees anything.
        if not signature_matches(signature(self.token, ts, nonce, encrypted), sig):
            raise CallbackRejected(403, "bad signature")

    def _decrypt(self, sig: str, ts: str, nonce: str, encrypted: str) -> str:
        self._verify(sig, ts, nonce, encrypted)
        try:
            return self.crypto.decrypt_message({"Encrypt": encrypted}, sig, ts, nonce)
        except InvalidSignatureException:
            raise CallbackRejected(403, "bad signature") from None
        except Exception:  # corp-id mismatch, wrong key, bad padding, not base64
            raise CallbackRejected(403, "cannot decrypt") from None

    async def verify_url(self, request: web.Request) -> web.Response:
        try:
            sig, ts, nonce, echostr = query(
                request, "msg_signature", "timestamp", "nonce", "echostr"
            )
            self._verify(sig, ts, nonce, echostr)
            plain = self.crypto.check_signature(sig, ts, nonce, echostr)
        except CallbackRejected as exc:
            return refuse("app", exc, request)
        except Exception:
            return refuse("app", CallbackRejected(403, "cannot decrypt"), request)
        return web.Response(text=str(plain))

    async def callback(self, request: web.Request) -> web.Response:
        try:
            sig, ts, nonce = query(request, "msg_signature", "timestamp", "nonce")
            raw = await body(request)
            encrypted = _encrypt_field(raw)
            xml = self._decrypt(sig, ts, nonce, encrypted)
            if has_entity_declaration(xml.encode()):
                raise CallbackRejected(400, "entity declaration")
            try:
                message = _read(parse_message(xml))
            except Exception:
                raise CallbackRejected(400, "malformed message") from None
            if message.msgtype in ("text", "image") and message.msg_id <= 0:
                # Without its id a retry could not be told from a new message.
                raise CallbackRejected(400, "text without MsgId")
        except CallbackRejected as exc:
            return refuse("app", exc, request)
        text = await self._answer(message)
        if text is None:
            return web.Response(text="")  # nothing to say: WeCom expects an empty 200
        reply = TextReply(
            source=message.to, target=message.sender, agent=message.agent, content=text
        ).render()
        return web.Response(
            text=self.crypto.encrypt_message(reply, secrets.token_hex(8), ts),
            content_type="application/xml",
        )

    async def _answer(self, message: AppMessage) -> str | None:
        sender = message.sender
        if message.msgtype == "event" or not sender:
            return None
        # A picture may be for a secretary's 纪要 (handlers.minutes): the dispatcher decides.
        picture = message.msgtype == "image" and bool(message.image)
        if message.msgtype != "text" and not picture:
            return NOT_TEXT
        msg = IncomingMessage(
            platform="wecom",
            # The app's MsgId and the 智能机器人's msgid are separate id spaces.
            message_id=f"app:{message.msg_id}",
            chat_type="direct",
            chat_id=sender,
            sender_id=sender,
            text=message.content,
            image=message.image if picture else "",
        )

        async def later(reply: Reply) -> None:
            if self.transport is None:
                log.warning("迟到的回复未发出：没有配置企业微信自建应用（[wecom.app] secret）")
                return
            await self.transport.send_direct(sender, reply)

        reply = await self.in_time.reply(msg, later)
        if reply is None:
            return WORKING if self.transport is not None else None
        if await self.in_time.delivered_before(msg, reply):
            return None  # a retry whose reply already went out through message/send
        return as_text(reply)


@dataclass(frozen=True)
class AppMessage:
    """The fields of a decrypted app message the bot uses, each checked for its type."""

    msgtype: str
    sender: str
    to: str
    agent: int
    msg_id: int
    content: str
    image: str  # an image message's PicUrl (else its MediaId); "" for others


def _read(message: object) -> AppMessage:
    """wechatpy converts a field when it is read, and hands back a repeated element as a list
    or a nested one as a dict: read each once here, so an odd value is a 400, not a crash."""
    values = (
        getattr(message, "type", ""),
        getattr(message, "source", None) or "",
        getattr(message, "target", None) or "",
        getattr(message, "agent", None) or 0,
        getattr(message, "id", None) or 0,
        getattr(message, "content", None) or "",
        getattr(message, "image", None) or getattr(message, "media_id", None) or "",
    )
    kinds = (str, str, str, int, int, str, str)
    if not all(isinstance(v, k) for v, k in zip(values, kinds, strict=True)):
        raise ValueError("a field of an unexpected type")
    return AppMessage(*values)  # type: ignore[arg-type]


def _encrypt_field(raw: bytes) -> str:
    """The <Encrypt> of the outer XML, refusing entity declarations before parsing."""
    if has_entity_declaration(raw):
        raise CallbackRejected(400, "entity declaration")
    try:
        root = ElementTree.fromstring(raw)
    except (ElementTree.ParseError, LookupError):  # LookupError: an unknown encoding="..."
        raise CallbackRejected(400, "malformed XML") from None
    encrypted = root.findtext("Encrypt")
    if not encrypted:
        raise CallbackRejected(400, "no Encrypt element")
    return encrypted.strip()
