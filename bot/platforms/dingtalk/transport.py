"""Pushes to DingTalk groups and people, under each robot's rate limit and throttle pause."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.messages import Reply
from bot.platforms.dingtalk.client import DingTalkHTTP, RobotAPI, Throttled
from bot.platforms.dingtalk.render import webhook_body
from bot.platforms.dingtalk.signing import signed_webhook_url
from bot.ratelimit import SlidingWindow
from bot.sending import GroupTarget, SendError

PER_MINUTE = 20  # DingTalk: at most 20 messages a minute per robot


class DingTalkTransport:
    """The sending side: custom robot webhooks with 加签, else the enterprise robot's OpenAPI."""

    platform = "dingtalk"

    def __init__(
        self,
        http: DingTalkHTTP,
        api: RobotAPI | None,
        clock: Clock,
        *,
        per_minute: int = PER_MINUTE,
    ) -> None:
        self.http = http
        self._api = api
        self._clock = clock
        # A strict window, not a leaky bucket: DingTalk counts any 60 s, and a bucket lets
        # a burst of 20 plus a trickle through, enough to earn the 10-minute 130101 block.
        self.limiter = SlidingWindow(per_minute, timedelta(minutes=1), clock)
        self._paused_until: dict[str, datetime] = {}

    async def send_group(self, target: GroupTarget, message: Reply) -> None:
        if target.webhook:
            robot = "webhook:" + hashlib.sha256(target.webhook.encode()).hexdigest()[:16]

            async def by_webhook() -> Any:
                url = signed_webhook_url(target.webhook, target.secret, self._now_ms())
                return await self.http.post(url, webhook_body(message))

            await self._guarded(robot, by_webhook)
            return
        api = self._require_api()
        if not target.chat_id or target.chat_id.startswith("name:"):
            raise SendError(
                f"群「{target.name}」既没有 webhook，也还不知道它的 conversationId"
                "（在群里 @机器人 发一次「绑定本群」即可）",
                permanent=True,
            )
        await self._guarded(
            "robot:" + api.robot_code, lambda: api.send_group(target.chat_id, message)
        )

    async def send_direct(self, user_id: str, message: Reply) -> None:
        await self.send_people([user_id], message)

    async def send_people(self, user_ids: Sequence[str], message: Reply) -> None:
        """One message to several people through the enterprise robot (20 per call)."""
        api = self._require_api()
        await self._guarded("robot:" + api.robot_code, lambda: api.send_people(user_ids, message))

    def paused_until(self, robot: str) -> datetime | None:
        until = self._paused_until.get(robot)
        return until if until is not None and until > self._clock.now() else None

    async def _guarded(self, robot: str, send: Callable[[], Awaitable[Any]]) -> None:
        now = self._clock.now()
        until = self._paused_until.get(robot)
        if until is not None and now < until:
            # Sending during DingTalk's pause only extends it; wait it out without a request.
            left = (until - now).total_seconds()
            raise SendError("钉钉限流暂停中，稍后重试", permanent=False, retry_after=left)
        wait = self.limiter.try_acquire(robot)
        if wait:
            raise SendError(
                "钉钉机器人每分钟最多 20 条，稍后再发", permanent=False, retry_after=wait
            )
        try:
            await send()
        except Throttled as exc:
            pause = exc.retry_after or 0.0
            self._paused_until[robot] = self._clock.now() + timedelta(seconds=pause)
            raise SendError(exc.reason, permanent=False, retry_after=pause) from None

    def _require_api(self) -> RobotAPI:
        if self._api is None:
            raise SendError("未配置钉钉 appKey/appSecret，无法通过开放接口发送", permanent=True)
        return self._api

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)
