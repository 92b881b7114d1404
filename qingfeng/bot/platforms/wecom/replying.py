"""Answering a callback in time: the reply if it is ready within the budget, else later.

WeCom waits 5 s at most and retries a slow callback; the bot answers within 1 s. Work that
takes longer keeps running here and its reply goes out another way (the 智能机器人's
response_url, or the app's message/send).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from qingfeng.bot.deadline import finished_within
from qingfeng.bot.messages import IncomingMessage, Reply

log = logging.getLogger(__name__)

WORKING = "处理中…结果稍后发给你。"

Submit = Callable[[IncomingMessage], "asyncio.Future[Reply]"]
Deliver = Callable[[Reply], Awaitable[None]]


class InTime:
    """Runs the dispatcher with a deadline and owns the replies that miss it."""

    def __init__(self, submit: Submit, budget: float = 1.0) -> None:
        self.submit = submit
        self.budget = budget
        self._late: set[asyncio.Task[None]] = set()

    async def reply(self, msg: IncomingMessage, deliver_late: Deliver) -> Reply | None:
        """The reply if ready within the budget; None when it will come through `deliver_late`."""
        pending = self.submit(msg)
        if await finished_within(pending, self.budget):
            return pending.result()
        late = asyncio.create_task(self._finish(pending, deliver_late, msg.message_id))
        self._late.add(late)
        late.add_done_callback(self._late.discard)
        return None

    async def _finish(
        self, pending: asyncio.Future[Reply], deliver: Deliver, message_id: str
    ) -> None:
        try:
            await deliver(await pending)
        except Exception:  # the user already got "处理中"; keep the server running
            log.exception("late reply to wecom message %s not delivered", message_id)

    async def drain(self) -> None:
        """Wait for replies still being worked on (at stop)."""
        if self._late:
            await asyncio.gather(*self._late, return_exceptions=True)
