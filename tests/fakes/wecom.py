"""A fake WeCom on loopback, and WeCom's side of the callback crypto.

The server checks what the real one checks: corp id and secret at gettoken, the access
token and its expiry, the app's agentid, UTF-8 byte limits, the image's md5, and 20
messages a minute per robot (answering 45009). It can be told to fail: HTTP 5xx, 45009,
token expiry, or an answer that never comes.

The crypto here is written from the published algorithm with `cryptography` directly and
shares no code with qingfeng, so each side checks the other.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import secrets
import struct
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlmodel import func, select

from bot.app import App
from bot.clock import FakeClock
from bot.platforms.wecom import WeComPlatform
from tests.conftest import BUREAU, SCHOOL, make_settings, started_app

CORP_ID = "ww-test-corp"
APP_SECRET = "app-secret-value"
AGENT_ID = 1000002
AIBOT_TOKEN = "aibot-token"
AIBOT_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
APP_TOKEN = "app-token"
APP_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


class WeComSide:
    """Encrypts and signs as WeCom does for one receiver, and opens the bot's replies."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str, clock: FakeClock):
        self.token = token
        self.key = base64.b64decode(encoding_aes_key + "=")
        self.receive_id = receive_id.encode()
        self.clock = clock
        self._nonces = itertools.count(1000)

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, plain: bytes) -> str:
        data = secrets.token_bytes(16) + struct.pack(">I", len(plain)) + plain + self.receive_id
        pad = 32 - len(data) % 32
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(data + bytes([pad]) * pad) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        dec = self._cipher().decryptor()
        data = dec.update(base64.b64decode(encrypted)) + dec.finalize()
        data = data[16 : -data[-1]]
        (n,) = struct.unpack(">I", data[:4])
        assert data[4 + n :] == self.receive_id, "reply encrypted for another receive id"
        return data[4 : 4 + n]

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return hashlib.sha1(
            "".join(sorted([self.token, timestamp, nonce, encrypted])).encode()
        ).hexdigest()

    def query(self, encrypted: str, *, age: timedelta = timedelta(0)) -> dict[str, str]:
        ts = str(int((self.clock.now() - age).timestamp()))
        nonce = str(next(self._nonces))
        return {"msg_signature": self.sign(ts, nonce, encrypted), "timestamp": ts, "nonce": nonce}

    def aibot_request(self, payload: dict[str, Any], **kw: Any) -> tuple[dict[str, str], bytes]:
        encrypted = self.encrypt(json.dumps(payload, ensure_ascii=False).encode())
        return self.query(encrypted, **kw), json.dumps({"encrypt": encrypted}).encode()

    def app_request(self, xml: str, **kw: Any) -> tuple[dict[str, str], bytes]:
        encrypted = self.encrypt(xml.encode())
        body = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        return self.query(encrypted, **kw), body.encode()

    def open_json_reply(self, envelope: dict[str, Any]) -> dict[str, Any]:
        sig = self.sign(envelope["timestamp"], envelope["nonce"], envelope["encrypt"])
        assert sig == envelope["msgsignature"], "reply signature does not verify"
        return json.loads(self.decrypt(envelope["encrypt"]))

    def open_xml_reply(self, text: str) -> ElementTree.Element:
        root = ElementTree.fromstring(text)
        enc = root.findtext("Encrypt") or ""
        sig = self.sign(root.findtext("TimeStamp") or "", root.findtext("Nonce") or "", enc)
        assert sig == root.findtext("MsgSignature"), "reply signature does not verify"
        return ElementTree.fromstring(self.decrypt(enc))


def aibot_text(msgid: str, user: str, text: str, *, chatid: str = "", url: str = "") -> dict:
    """A 智能机器人 text callback as WeCom sends it (group when chatid is given)."""
    payload: dict[str, Any] = {
        "msgid": msgid,
        "aibotid": "aib-test",
        "chattype": "group" if chatid else "single",
        "from": {"userid": user},
        "response_url": url or f"https://example.invalid/{msgid}",
        "msgtype": "text",
        "text": {"content": f"@清风 {text}" if chatid else text},
    }
    if chatid:
        payload["chatid"] = chatid
    return payload


def aibot_image(msgid: str, user: str, url: str, *, chatid: str = "", text: str = "") -> dict:
    """A picture to the 智能机器人 as WeCom sends it: an image message in a single chat; in
    a group, where only an @ reaches the bot, a mixed (图文混排) message of the @ and words
    and the image."""
    payload = aibot_text(msgid, user, text, chatid=chatid)
    del payload["text"]
    if chatid:
        items = [{"msgtype": "text", "text": {"content": f"@清风 {text}".strip()}}]
        items.append({"msgtype": "image", "image": {"url": url}})
        payload |= {"msgtype": "mixed", "mixed": {"msg_item": items}}
    else:
        payload |= {"msgtype": "image", "image": {"url": url}}
    return payload


def app_text(msgid: int, user: str, text: str) -> str:
    """A 自建应用 text message's XML as WeCom sends it (before encryption)."""
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>1764547800</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
        f"<MsgId>{msgid}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>"
    )


def app_image(msgid: int, user: str, url: str, media_id: str = "media-1") -> str:
    """A 自建应用 image message's XML (direct chats only) as WeCom sends it."""
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>1764547800</CreateTime>"
        f"<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[{url}]]></PicUrl>"
        f"<MediaId><![CDATA[{media_id}]]></MediaId>"
        f"<MsgId>{msgid}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>"
    )


@dataclass
class FakeWeCom:
    """The WeCom API on loopback: gettoken, message/send, webhook/send, aibot/response."""

    clock: FakeClock
    token_ttl: int = 7200
    per_minute: int = 20
    tokens: dict[str, datetime] = field(default_factory=dict)
    gettoken_calls: int = 0
    robots: set[str] = field(default_factory=set)
    pushes: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    messages: list[dict] = field(default_factory=list)
    responses: list[tuple[str, dict]] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)
    held: int = 0  # webhook pushes accepted whose answer waits for `release()`
    failures: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    _window: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    _used_codes: set[str] = field(default_factory=set)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _server: TestServer | None = None

    # --- control -----------------------------------------------------------------------
    @property
    def base(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    def robot(self, key: str) -> str:
        """Register a group robot and return its webhook URL."""
        self.robots.add(key)
        return f"{self.base}/cgi-bin/webhook/send?key={key}"

    def fail(self, route: str, *kinds: str) -> None:
        """The next answers of `route` ("webhook", "send", "gettoken"): "5xx", "45009",
        "42001", "slow" (never answers), "ok" (answers normally), or, for "webhook" only,
        "hold" (posts the message to the group, answers only at `release()`: a sender killed
        meanwhile cannot know it went out)."""
        self.failures[route].extend(kinds)

    def release(self) -> None:
        """Answer everything held or slow; later requests are answered normally."""
        for queue in self.failures.values():
            queue.clear()
        self._release.set()

    def expire_tokens(self) -> None:
        for t in self.tokens:
            self.tokens[t] = self.clock.now() - timedelta(seconds=1)

    # --- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> FakeWeCom:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._message_send)
        app.router.add_post("/cgi-bin/webhook/send", self._webhook_send)
        app.router.add_post("/cgi-bin/aibot/response", self._aibot_response)
        self._server = TestServer(app)
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()
        assert self._server is not None
        await self._server.close()

    # --- routes ------------------------------------------------------------------------
    async def _injected(self, route: str) -> web.Response | None:
        if not self.failures[route]:
            return None
        kind = self.failures[route].popleft()
        if kind == "ok":
            return None
        self.refused.append((route, int(kind) if kind.isdigit() else 0))
        if kind == "slow":
            await self._release.wait()
            return web.Response(status=504)
        if kind == "5xx":
            return web.Response(status=502, text="bad gateway")
        return _err(int(kind), "injected")

    async def _gettoken(self, request: web.Request) -> web.Response:
        if failed := await self._injected("gettoken"):
            return failed
        self.gettoken_calls += 1
        if request.query.get("corpid") != CORP_ID:
            return _err(40013, "invalid corpid")
        if request.query.get("corpsecret") != APP_SECRET:
            return _err(40001, "invalid credential")
        token = f"tok-{self.gettoken_calls}-{secrets.token_hex(4)}"
        self.tokens[token] = self.clock.now() + timedelta(seconds=self.token_ttl)
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}
        )

    async def _message_send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        if token not in self.tokens:
            return _err(40014, "invalid access_token")
        if self.tokens[token] <= self.clock.now():
            return _err(42001, "access_token expired")
        if failed := await self._injected("send"):
            return failed
        body = await request.json()
        if body.get("agentid") != AGENT_ID:
            return _err(40056, "invalid agentid")
        kind = body.get("msgtype")
        if kind not in ("text", "markdown") or not body.get("touser"):
            return _err(40008, "invalid message type")
        content = body[kind]["content"]
        if not content:
            return _err(44004, "empty content")
        if len(content.encode()) > 2048:
            return _err(45002, "content size out of limit")
        self.messages.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": ""})

    async def _webhook_send(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        if key not in self.robots:
            return _err(93000, "invalid webhook url")
        queue = self.failures["webhook"]
        hold = bool(queue) and queue[0] == "hold"
        if hold:
            queue.popleft()
        elif failed := await self._injected("webhook"):
            return failed
        now = self.clock.now()
        window = self._window[key]
        while window and now - window[0] >= timedelta(minutes=1):
            window.popleft()
        if len(window) >= self.per_minute:
            self.refused.append(("webhook", 45009))
            return _err(45009, "api freq out of limit")
        body = await request.json()
        if error := _check_webhook(body):
            return error
        window.append(now)
        self.pushes[key].append(body)
        if hold:
            self.held += 1
            await self._release.wait()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _aibot_response(self, request: web.Request) -> web.Response:
        code = request.query.get("response_code", "")
        if not code or code in self._used_codes:
            return _err(40058, "response_code used or missing")
        self._used_codes.add(code)
        self.responses.append((code, await request.json()))
        return web.json_response({"errcode": 0, "errmsg": "ok"})


def _err(code: int, msg: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": msg})


def _check_webhook(body: dict) -> web.Response | None:
    kind = body.get("msgtype")
    if kind == "text":
        text = body["text"]
        if len(text.get("content", "").encode()) > 2048:
            return _err(40058, "text content exceeds 2048 bytes")
        mentioned = text.get("mentioned_list", [])
        if not isinstance(mentioned, list) or not all(isinstance(m, str) for m in mentioned):
            return _err(40058, "bad mentioned_list")
    elif kind == "markdown":
        if len(body["markdown"].get("content", "").encode()) > 4096:
            return _err(40058, "markdown content exceeds 4096 bytes")
    elif kind == "image":
        raw = base64.b64decode(body["image"]["base64"])
        if hashlib.md5(raw).hexdigest() != body["image"]["md5"] or len(raw) > 2 * 1024 * 1024:
            return _err(40058, "image md5 or size")
    else:
        return _err(40008, "invalid message type")
    return None


# --- the bot wired to the fake ---------------------------------------------------------
@dataclass
class WeComBot:
    app: App
    http: TestClient
    fake: FakeWeCom
    aibot: WeComSide
    wecom_app: WeComSide

    @property
    def wecom(self) -> WeComPlatform:
        return self.app.platform(WeComPlatform)

    async def post_aibot(self, payload: dict, **kw: Any) -> web.Response:
        query, body = self.aibot.aibot_request(payload, **kw)
        return await self.http.post("/wecom/aibot", params=query, data=body)

    async def aibot_reply(self, payload: dict, **kw: Any) -> dict:
        """The decrypted reply to a 智能机器人 callback."""
        resp = await self.post_aibot(payload, **kw)
        assert resp.status == 200, await resp.text()
        return self.aibot.open_json_reply(await resp.json())

    async def post_app(self, xml: str, **kw: Any) -> web.Response:
        query, body = self.wecom_app.app_request(xml, **kw)
        return await self.http.post("/wecom/app", params=query, data=body)


@asynccontextmanager
async def wecom_bot(
    tmp_path: Path,
    clock: FakeClock,
    roster_file: Path,
    fake: FakeWeCom,
    groups: int = 2,
    postgres_url: str | None = None,
) -> AsyncIterator[WeComBot]:
    """The whole bot with WeCom configured against `fake`, serving its routes on loopback."""
    group_list = [
        {
            "name": f"群{i}",
            "branch": BUREAU if i % 2 == 0 else SCHOOL,
            "platform": "wecom",
            "chat_id": f"wr-{i}",
            "webhook": fake.robot(f"key-{i}"),
        }
        for i in range(groups)
    ]
    overrides: dict[str, Any] = {"database": {"url": postgres_url}} if postgres_url else {}
    settings = make_settings(
        tmp_path,
        **overrides,
        groups=group_list,
        wecom={
            "corp_id": CORP_ID,
            "api_base": fake.base,
            "app": {
                "agent_id": AGENT_ID,
                "secret": APP_SECRET,
                "token": APP_TOKEN,
                "encoding_aes_key": APP_KEY,
            },
            "aibot": {"token": AIBOT_TOKEN, "encoding_aes_key": AIBOT_KEY},
        },
    )
    async with (
        started_app(settings, clock, roster_file, bool(postgres_url)) as app,
        TestClient(TestServer(app.web_app())) as http,
    ):
        bot = WeComBot(
            app,
            http,
            fake,
            WeComSide(AIBOT_TOKEN, AIBOT_KEY, "", clock),
            WeComSide(APP_TOKEN, APP_KEY, CORP_ID, clock),
        )
        # The reply budget is wall-clock time; on a loaded CI host a cold first statement
        # can pass 1 s. Tests of the late path shorten it themselves (hold_replies).
        bot.wecom.in_time.budget = IN_TIME_BUDGET
        yield bot


IN_TIME_BUDGET = 5.0


def hold_replies(bot: WeComBot) -> asyncio.Event:
    """Make the dispatcher slower than the reply budget until the returned event is set."""
    gate = asyncio.Event()
    real = bot.wecom.in_time.submit

    async def slow(msg: Any) -> Any:
        await gate.wait()
        return await real(msg)

    bot.wecom.in_time.submit = lambda msg: asyncio.ensure_future(slow(msg))
    bot.wecom.in_time.budget = 0.05
    return gate


async def count(app: App, model: type) -> int:
    async with app.db.read() as s:
        return (await s.exec(select(func.count()).select_from(model))).one()
