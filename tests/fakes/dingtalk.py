"""A fake DingTalk on loopback that checks what the real one checks, and fails when told to.

It serves the access-token endpoint, the robot OpenAPI (group and one-to-one sends), custom
robot webhooks with 加签, and session webhooks. Every accepted message is recorded in
`delivered`; time (token expiry, 加签 freshness, the 20-a-minute window, the 10-minute
throttle) follows the FakeClock it is given.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.clock import FakeClock

APP_KEY = "dingfakeappkey"
APP_SECRET = "fake-app-secret-do-not-log"
ROBOT_CODE = "dingfakerobot"
TOKEN_LIFETIME = 7200
PER_MINUTE = 20
THROTTLE = timedelta(minutes=10)


@dataclass
class Delivered:
    """One message DingTalk accepted: how it came, where it went, and what it said."""

    via: str  # "webhook", "group", "person", "session"
    target: str  # webhook token, openConversationId, userId or session id
    text: str
    msgtype: str
    at_user_ids: tuple[str, ...] = ()
    title: str = ""


@dataclass
class _Robot:
    sent: deque[datetime] = field(default_factory=deque)
    blocked_until: datetime | None = None


class FakeDingTalk:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delivered: list[Delivered] = []
        self.requests: defaultdict[str, int] = defaultdict(int)  # per route, every request
        self.token_fetches = 0
        self.batch_sizes: list[int] = []
        self._tokens: dict[str, datetime] = {}
        self._token_ids = itertools.count(1)
        self._webhooks: dict[str, str] = {}  # access_token -> 加签 secret
        self._sessions: dict[str, datetime] = {}
        self._robots: defaultdict[str, _Robot] = defaultdict(_Robot)
        self._failures: defaultdict[str, deque[str]] = defaultdict(deque)
        self._release = asyncio.Event()
        # Tokens expire once this many group messages were delivered (mid-run expiry).
        self.expire_tokens_after: int | None = None
        self._server: TestServer | None = None

    # -- set-up -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self._access_token)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._group_send)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._batch_send)
        app.router.add_post("/robot/send", self._webhook)
        app.router.add_post("/session/{sid}", self._session)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        self._release.set()  # let hung ("timeout") handlers finish
        if self._server is not None:
            await self._server.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    def app_config(self) -> dict[str, str]:
        """The [dingtalk] settings of a bot that talks to this fake."""
        return {
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "robot_code": ROBOT_CODE,
            "api_base": self.base_url,
        }

    def add_custom_robot(self, token: str, secret: str) -> str:
        """A group's custom robot with 加签; returns its webhook URL (without the signature)."""
        self._webhooks[token] = secret
        return f"{self.base_url}/robot/send?access_token={token}"

    def session_webhook(self, sid: str, valid_for: timedelta = timedelta(hours=1)) -> str:
        self._sessions[sid] = self.clock.now() + valid_for
        return f"{self.base_url}/session/{sid}"

    def fail(self, route: str, *kinds: str) -> None:
        """Make the next requests to `route` fail, in order: "5xx", "130101", "timeout",
        "token" (the access token is rejected as expired)."""
        self._failures[route].extend(kinds)

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (as after its 2 hours)."""
        for token in self._tokens:
            self._tokens[token] = self.clock.now() - timedelta(seconds=1)

    def texts(self, via: str | None = None) -> list[str]:
        return [d.text for d in self.delivered if via is None or d.via == via]

    # -- shared checks ----------------------------------------------------------------

    async def _injected(self, route: str, robot: str | None) -> web.Response | None:
        self.requests[route] += 1
        queue = self._failures[route]
        if not queue:
            return None
        kind = queue.popleft()
        if kind == "5xx":
            return web.json_response({"code": "ServiceUnavailable"}, status=503)
        if kind == "timeout":
            await self._release.wait()
            return web.json_response({"code": "late"}, status=504)
        if kind == "130101":
            if robot is not None:
                self._robots[robot].blocked_until = self.clock.now() + THROTTLE
            return _errcode(130101, "send too fast, exceed 20 times per minute")
        if kind == "token":
            return _invalid_token()
        raise AssertionError(f"unknown failure kind {kind}")

    def _rate(self, robot: str) -> web.Response | None:
        """DingTalk's 20 a minute per robot; going over blocks the robot for 10 minutes."""
        now = self.clock.now()
        state = self._robots[robot]
        if state.blocked_until is not None and now < state.blocked_until:
            return _errcode(130101, "send too fast, exceed 20 times per minute")
        while state.sent and now - state.sent[0] >= timedelta(minutes=1):
            state.sent.popleft()
        if len(state.sent) >= PER_MINUTE:
            state.blocked_until = now + THROTTLE
            return _errcode(130101, "send too fast, exceed 20 times per minute")
        state.sent.append(now)
        return None

    def _token_ok(self, request: web.Request) -> bool:
        token = request.headers.get("x-acs-dingtalk-access-token", "")
        expires = self._tokens.get(token)
        return expires is not None and self.clock.now() < expires

    # -- routes -----------------------------------------------------------------------

    async def _access_token(self, request: web.Request) -> web.Response:
        if failed := await self._injected("token", None):
            return failed
        body = await request.json()
        if body.get("appKey") != APP_KEY or body.get("appSecret") != APP_SECRET:
            return web.json_response(
                {"code": "invalidClientIdOrSecret", "message": "无效的appKey或appSecret"},
                status=400,
            )
        self.token_fetches += 1
        token = f"tok{next(self._token_ids)}"
        self._tokens[token] = self.clock.now() + timedelta(seconds=TOKEN_LIFETIME)
        return web.json_response({"accessToken": token, "expireIn": TOKEN_LIFETIME})

    async def _openapi(self, request: web.Request, route: str) -> tuple[dict[str, Any], Any]:
        """(body, None) when the call may proceed, else (body, the error response)."""
        if failed := await self._injected(route, ROBOT_CODE):
            return {}, failed
        if not self._token_ok(request):
            return {}, _invalid_token()
        body = await request.json()
        if body.get("robotCode") != ROBOT_CODE:
            return body, _bad_param("robotCode 不存在")
        key, param = body.get("msgKey"), body.get("msgParam")
        if key not in ("sampleText", "sampleMarkdown") or not isinstance(param, str):
            return body, _bad_param("msgKey/msgParam 不合法")
        if limited := self._rate(ROBOT_CODE):
            return body, limited
        return body, None

    async def _group_send(self, request: web.Request) -> web.Response:
        body, error = await self._openapi(request, "group")
        if error is not None:
            return error
        cid = body.get("openConversationId")
        if not isinstance(cid, str) or not cid:
            return _bad_param("openConversationId 不能为空")
        self.delivered.append(_from_param("group", cid, body))
        if self.expire_tokens_after == len(self.texts("group")):
            self.expire_tokens()
        return web.json_response({"processQueryKey": f"q{len(self.delivered)}"})

    async def _batch_send(self, request: web.Request) -> web.Response:
        body, error = await self._openapi(request, "person")
        if error is not None:
            return error
        users = body.get("userIds")
        if not isinstance(users, list) or not 1 <= len(users) <= 20:
            return _bad_param("userIds 须为 1 到 20 个")
        self.batch_sizes.append(len(users))
        for user in users:
            self.delivered.append(_from_param("person", user, body))
        return web.json_response(
            {"processQueryKey": "q", "invalidStaffIdList": [], "flowControlledStaffIdList": []}
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        if failed := await self._injected("webhook", f"webhook:{token}"):
            return failed
        secret = self._webhooks.get(token)
        if secret is None:
            return _errcode(300001, "token is not exist")
        timestamp, given = request.query.get("timestamp", ""), request.query.get("sign", "")
        if not timestamp.isdigit():
            return _errcode(310000, "sign not match, timestamp is missing")
        now_ms = int(self.clock.now().timestamp() * 1000)
        if abs(now_ms - int(timestamp)) > 3600 * 1000:
            return _errcode(310000, "sign not match, timestamp is too old")
        string_to_sign = f"{timestamp}\n{secret}".encode()
        expected = base64.b64encode(
            hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
        ).decode()
        # aiohttp has already url-decoded the query, so this compares the raw base64.
        if not hmac.compare_digest(expected, given):
            return _errcode(310000, "sign not match")
        if limited := self._rate(f"webhook:{token}"):
            return limited
        body = await request.json()
        self.delivered.append(_from_webhook_body("webhook", token, body))
        return _errcode(0, "ok")

    async def _session(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        if failed := await self._injected("session", None):
            return failed
        expires = self._sessions.get(sid)
        if expires is None or self.clock.now() >= expires:
            return _errcode(300001, "session is expired")
        self.delivered.append(_from_webhook_body("session", sid, await request.json()))
        return _errcode(0, "ok")


def _errcode(code: int, msg: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": msg})


def _invalid_token() -> web.Response:
    return web.json_response(
        {"code": "InvalidAuthentication", "message": "不合法的access_token"}, status=401
    )


def _bad_param(msg: str) -> web.Response:
    return web.json_response({"code": "invalidParameter", "message": msg}, status=400)


def _from_param(via: str, target: str, body: dict[str, Any]) -> Delivered:
    param = json.loads(body["msgParam"])
    if body["msgKey"] == "sampleMarkdown":
        return Delivered(via, target, param["text"], "markdown", title=param["title"])
    return Delivered(via, target, param["content"], "text")


def _from_webhook_body(via: str, target: str, body: dict[str, Any]) -> Delivered:
    """Record a webhook-style message, checking what DingTalk needs for an @ to work."""
    msgtype = body["msgtype"]
    if msgtype == "markdown":
        text, title = body["markdown"]["text"], body["markdown"]["title"]
    else:
        assert msgtype == "text", msgtype
        text, title = body["text"]["content"], ""
    at_ids = tuple(body.get("at", {}).get("atUserIds", []))
    for user in at_ids:
        assert f"@{user}" in text, f"@{user} missing from the text; DingTalk would not @ them"
    return Delivered(via, target, text, msgtype, at_ids, title)


# -- what DingTalk sends to the bot -------------------------------------------------------

ROBOT_USER_ID = "$:LWCP_v1:$robotrobotrobot"


def callback_headers(timestamp_ms: int, secret: str = APP_SECRET) -> dict[str, str]:
    """The headers DingTalk puts on a robot callback: timestamp (ms) and its signature."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return {
        "timestamp": str(timestamp_ms),
        "sign": base64.b64encode(digest.digest()).decode(),
        "Content-Type": "application/json; charset=utf-8",
    }


def callback_payload(
    text: str,
    *,
    msg_id: str,
    staff_id: str | None,
    nick: str,
    now_ms: int,
    session_webhook: str,
    conversation_id: str = "cidSchoolGroup==",
    title: str = "一中党员群",
    group: bool = True,
    msgtype: str = "text",
    at_staff_ids: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A robot message as DingTalk's HTTP mode posts it (the @robot already cut from text)."""
    payload: dict[str, Any] = {
        "conversationId": conversation_id if group else f"cid-direct-{staff_id}==",
        "chatbotCorpId": "dingcorp",
        "chatbotUserId": ROBOT_USER_ID,
        "msgId": msg_id,
        "senderNick": nick,
        "isAdmin": False,
        "sessionWebhookExpiredTime": now_ms + 90 * 60 * 1000,
        "createAt": now_ms - 120,
        "senderCorpId": "dingcorp",
        "conversationType": "2" if group else "1",
        "senderId": f"$:LWCP_v1:${nick}",
        "sessionWebhook": session_webhook,
        "robotCode": ROBOT_CODE,
        "msgtype": msgtype,
    }
    if staff_id is not None:
        payload["senderStaffId"] = staff_id
    if group:
        payload["conversationTitle"] = title
        payload["isInAtList"] = True
        at_users = [{"dingtalkId": ROBOT_USER_ID}]
        at_users += [{"dingtalkId": f"$:LWCP_v1:${s}", "staffId": s} for s in at_staff_ids]
        payload["atUsers"] = at_users
    if msgtype == "text":
        payload["text"] = {"content": " " + text}
    elif msgtype == "picture":
        payload["content"] = {"downloadCode": "dl-code", "pictureDownloadCode": "pdl-code"}
    elif msgtype == "richText":  # how a picture reaches the robot in a group: with the @
        picture = {"type": "picture", "downloadCode": "rt-code", "pictureDownloadCode": "rt-p"}
        payload["content"] = {"richText": [{"text": text}, picture] if text else [picture]}
    return payload
