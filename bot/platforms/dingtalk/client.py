"""HTTP to DingTalk: one checked POST with retries, the shared access token, the robot OpenAPI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot import jsoncodec
from bot.clock import Clock
from bot.messages import Reply
from bot.platforms.dingtalk.render import openapi_message
from bot.sending import SendError

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
SessionGetter = Callable[[], aiohttp.ClientSession | None]

THROTTLE_PAUSE = 600.0  # DingTalk blocks a robot for 10 minutes after 130101
BACKOFF = (0.5, 2.0, 5.0)  # quick retries of 5xx and timeouts before giving up for now
BATCH_USERS = 20  # oToMessages/batchSend takes at most 20 userIds a call

# errcodes in an HTTP 200 answer that no retry will fix, with what they mean for an operator.
PERMANENT = {
    310000: "签名校验失败、关键词不匹配或 IP 不在白名单",
    300001: "机器人 webhook 无效（机器人已被移出群或已删除）",
    400013: "群已解散",
    400101: "机器人未开启或不存在",
}
TOKEN_ERRCODES = {40014, 42001, 88}


class Throttled(SendError):
    """DingTalk asked this robot to stop sending for a while (130101)."""

    def __init__(self, reason: str, retry_after: float = THROTTLE_PAUSE) -> None:
        super().__init__(reason, permanent=False, retry_after=retry_after)


class TokenRejected(SendError):
    """The access token is expired or unknown; fetch a new one and try again."""

    def __init__(self) -> None:
        super().__init__("钉钉 access token 失效", permanent=False)


def check_answer(status: int, data: Any) -> dict[str, Any]:
    """The JSON of a DingTalk answer, or the SendError it amounts to."""
    if not isinstance(data, dict):
        if status == 200:  # not DingTalk answering (a proxy's page?): not proof of delivery
            raise SendError("钉钉返回了无法识别的内容", permanent=False)
        data = {}
    code = data.get("errcode")
    if status == 200 and code in (None, 0, "0"):
        return data
    if status == 200:
        msg = str(data.get("errmsg", ""))[:200]
        if code == 130101:
            raise Throttled(f"钉钉限流 130101（每分钟最多 20 条）：{msg}")
        if code in TOKEN_ERRCODES:
            raise TokenRejected
        meaning = PERMANENT.get(code) if isinstance(code, int) else None
        raise SendError(f"钉钉返回 {code}：{meaning or msg}", permanent=True)
    # The v1.0 OpenAPI answers errors with an HTTP status and {"code", "message"}.
    api_code = str(data.get("code", ""))
    msg = str(data.get("message", ""))[:200]
    if status == 401 or "InvalidAuthentication" in api_code or "token" in api_code.lower():
        raise TokenRejected
    if status == 429 or "QpsLimit" in api_code or "Throttling" in api_code:
        raise Throttled(f"钉钉接口限流 {api_code}：{msg}", retry_after=60.0)
    if status >= 500:
        raise SendError(f"钉钉服务器错误 HTTP {status}", permanent=False)
    raise SendError(f"钉钉拒绝 HTTP {status} {api_code}：{msg}", permanent=True)


class DingTalkHTTP:
    """POSTs JSON, retrying 5xx, timeouts and dropped connections a few quick times."""

    def __init__(
        self,
        session: SessionGetter,
        *,
        timeout: float = 5.0,
        backoff: Sequence[float] = BACKOFF,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._session = session
        self.timeout = timeout  # seconds for one request
        self._backoff = tuple(backoff)
        self.sleep = sleep  # tests replace it: back-off must not wait for real there

    async def post(
        self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The checked JSON answer; SendError when it does not succeed (URL never in reasons)."""
        session = self._session()
        if session is None:
            raise SendError("HTTP 客户端尚未启动", permanent=False)
        last: SendError | None = None
        for attempt in range(len(self._backoff) + 1):
            if attempt:
                await self.sleep(self._backoff[attempt - 1])
            try:
                async with session.post(
                    url,
                    json=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                ) as resp:
                    try:
                        data = await resp.json(loads=jsoncodec.loads, content_type=None)
                    except ValueError:
                        data = None
                    return check_answer(resp.status, data)
            except TimeoutError:
                last = SendError("连接钉钉超时", permanent=False)
            except aiohttp.ClientError as exc:
                last = SendError(f"连接钉钉失败：{type(exc).__name__}", permanent=False)
            except SendError as exc:
                if exc.permanent or exc.retry_after is not None or isinstance(exc, TokenRejected):
                    raise
                last = exc  # a 5xx: try again shortly
            log.info("dingtalk POST failed (attempt %d): %s", attempt + 1, last.reason)
        assert last is not None
        raise last


class AccessToken:
    """The app's access token: fetched once, shared by every caller, renewed before expiry."""

    EARLY = timedelta(minutes=10)  # renew well before DingTalk's 2 hours run out

    def __init__(
        self, http: DingTalkHTTP, api_base: str, app_key: str, app_secret: str, clock: Clock
    ):
        self._http = http
        self._url = api_base.rstrip("/") + "/v1.0/oauth2/accessToken"
        self._app_key = app_key
        self._app_secret = app_secret
        self._clock = clock
        self._token = ""
        self._renew_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:  # concurrent senders wait for one fetch instead of each fetching
            if self._token and self._renew_at and self._clock.now() < self._renew_at:
                return self._token
            body = {"appKey": self._app_key, "appSecret": self._app_secret}
            data = await self._http.post(self._url, body)
            token = data.get("accessToken")
            if not isinstance(token, str) or not token:
                raise SendError("钉钉未返回 access token（检查 appKey/appSecret）", permanent=True)
            expire_in = data.get("expireIn", 7200)
            lifetime = timedelta(seconds=expire_in if isinstance(expire_in, int) else 7200)
            self._token = token
            self._renew_at = self._clock.now() + max(lifetime - self.EARLY, lifetime / 2)
            return token

    def invalidate(self, token: str) -> None:
        """Forget `token` (DingTalk rejected it); a newer one fetched meanwhile is kept."""
        if self._token == token:
            self._token = ""
            self._renew_at = None


class RobotAPI:
    """The enterprise robot's OpenAPI: send to a group, send to people."""

    def __init__(self, http: DingTalkHTTP, token: AccessToken, api_base: str, robot_code: str):
        self._http = http
        self._token = token
        self._base = api_base.rstrip("/")
        self.robot_code = robot_code

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the access token; once more with a fresh token if it was rejected."""
        for _ in range(2):
            token = await self._token.get()
            try:
                return await self._http.post(
                    self._base + path, body, {"x-acs-dingtalk-access-token": token}
                )
            except TokenRejected:
                self._token.invalidate(token)
        raise TokenRejected

    async def send_group(self, open_conversation_id: str, reply: Reply) -> None:
        key, param = openapi_message(reply)
        body = {
            "robotCode": self.robot_code,
            "openConversationId": open_conversation_id,
            "msgKey": key,
            "msgParam": param,
        }
        await self.call("/v1.0/robot/groupMessages/send", body)

    async def send_people(self, user_ids: Sequence[str], reply: Reply) -> None:
        """Send to each user, 20 to a call; SendError names the ones DingTalk refused.

        A failure after the first call leaves earlier batches sent; callers that must never
        repeat a message (the outbox) send to one person per row.
        """
        key, param = openapi_message(reply)
        invalid: list[str] = []
        limited: list[str] = []
        for i in range(0, len(user_ids), BATCH_USERS):
            batch = list(user_ids[i : i + BATCH_USERS])
            body = {
                "robotCode": self.robot_code,
                "userIds": batch,
                "msgKey": key,
                "msgParam": param,
            }
            data = await self.call("/v1.0/robot/oToMessages/batchSend", body)
            invalid += data.get("invalidStaffIdList") or []
            limited += data.get("flowControlledStaffIdList") or []
        if limited:
            raise Throttled(f"钉钉对 {len(limited)} 人限流", retry_after=60.0)
        if invalid:
            raise SendError(f"钉钉账号无效：{'、'.join(invalid[:5])}", permanent=True)
