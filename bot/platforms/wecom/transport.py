"""Pushes to WeCom: groups through their 群机器人 webhook, people through the app.

Limits are kept before sending (20 messages a minute per robot, byte limits by splitting);
transient failures get a few quick tries here, then a SendError(permanent=False) so the
outbox tries again later; answers that retrying cannot fix are permanent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp

from bot.clock import Clock
from bot.messages import Reply
from bot.platforms.wecom.client import (
    TOKEN_ERRORS,
    ApiError,
    HttpError,
    SessionGetter,
    WeComClient,
    post_json,
)
from bot.platforms.wecom.webhook import TooLarge, app_messages, webhook_payloads
from bot.ratelimit import SlidingWindow
from bot.sending import GroupTarget, SendError

log = logging.getLogger(__name__)

RATE_LIMITED = 45009
SYSTEM_BUSY = -1
EXPLAINED = {
    93000: "群机器人 webhook 地址无效（机器人可能已被移出群）",
    40058: "消息参数不合法",
    60020: "服务器 IP 不在企业可信IP 列表中（管理后台 → 应用 → 企业可信IP）",
    81013: "收件人不在应用可见范围内或已离职",
    45002: "消息内容超长",
}
PER_MINUTE = 20
PROGRESS_KEPT = 1024

Sleep = Callable[[float], Awaitable[None]]


class WeComTransport:
    """The WeCom sending side (`Transport` protocol)."""

    platform = "wecom"

    def __init__(
        self,
        session: SessionGetter,
        client: WeComClient | None,
        clock: Clock,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._session = session
        self.client = client
        self.limiter = SlidingWindow(PER_MINUTE, timedelta(minutes=1), clock)
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        # Pieces already delivered of a message that failed part-way, so the outbox's retry
        # resumes after them instead of repeating them to the group.
        self._progress: OrderedDict[str, int] = OrderedDict()

    async def send_group(self, target: GroupTarget, message: Reply) -> None:
        if not target.webhook:
            name = target.name or target.chat_id
            raise SendError(f"群「{name}」没有配置 webhook", permanent=True)
        try:
            payloads = webhook_payloads(message)
        except TooLarge as exc:
            raise SendError(str(exc), permanent=True) from None
        url = target.webhook

        async def post(payload: dict[str, Any]) -> None:
            await post_json(self._session(), url, payload, self.timeout)

        await self._send_all(lambda: _key("g", url, message), url, payloads, post)

    async def send_direct(self, user_id: str, message: Reply) -> None:
        client = self.client
        if client is None:
            raise SendError("未配置企业微信自建应用（wecom.app），无法私信", permanent=True)
        messages = app_messages(message)

        async def post(item: tuple[str, dict[str, Any]]) -> None:
            await client.send_message(user_id, item[0], item[1])

        await self._send_all(lambda: _key("u", user_id, message), None, messages, post)

    async def _send_all(
        self,
        key_of: Callable[[], str],
        robot: str | None,
        items: list,
        post: Callable[[Any], Awaitable[None]],
    ) -> None:
        # The message's key (a hash of it) only matters once some message failed part-way.
        key = key_of() if self._progress else None
        done = self._progress.pop(key, 0) if key is not None else 0
        try:
            for item in items[done:]:
                if robot is not None:
                    wait = self.limiter.try_acquire(robot)
                    if wait:
                        raise SendError(
                            "群机器人每分钟最多 20 条，稍后再发", permanent=False, retry_after=wait
                        )
                await self._with_retries(post, item)
                done += 1
        except SendError:
            if done:
                self._progress[key if key is not None else key_of()] = done
                while len(self._progress) > PROGRESS_KEPT:
                    self._progress.popitem(last=False)
            raise

    async def _with_retries(self, post: Callable[[Any], Awaitable[None]], item: Any) -> None:
        last = ""
        retry_after = 30.0
        for attempt in range(self.attempts):
            if attempt:
                await self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                await post(item)
                return
            except ApiError as exc:
                if exc.errcode == RATE_LIMITED:
                    last, retry_after = "企业微信限流（45009）", 60.0
                elif exc.errcode == SYSTEM_BUSY or exc.errcode in TOKEN_ERRORS:
                    # A token refused again right after the client's one refresh.
                    last = f"企业微信暂时不可用（{exc.errcode}）"
                else:
                    reason = EXPLAINED.get(exc.errcode, exc.errmsg or "未知错误")
                    raise SendError(f"{reason}（errcode {exc.errcode}）", permanent=True) from None
            except HttpError as exc:
                if exc.status < 500 and exc.status != 429:
                    raise SendError(f"企业微信返回 {exc}", permanent=True) from None
                last = f"企业微信返回 {exc}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = f"连接企业微信失败（{type(exc).__name__}）"
            log.warning("wecom send attempt %d failed: %s", attempt + 1, last)
        raise SendError(last, permanent=False, retry_after=retry_after)


def _key(kind: str, where: str, message: Reply) -> str:
    h = hashlib.sha256(f"{kind}\0{where}\0{message.to_json()}".encode())
    if message.image_png:
        h.update(message.image_png)
    return h.hexdigest()
