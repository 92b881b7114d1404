"""Answering a callback in time: the reply if it is ready within the budget, else later.

WeCom waits 5 s at most and retries a slow callback; the bot answers within 1 s. Work that
takes longer keeps running here and its reply goes out another way (the 智能机器人's
response_url, or the app's message/send).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from qingfeng.bot.messages import IncomingMessage, Reply

log = logging.getLogger(__name__)

WORKING = "处理中…结果稍后发给你。"

Handle = Callable[[IncomingMessage], Awaitable[Reply]]
Deliver = Callable[[Reply], Awaitable[None]]


class InTime:
    """Runs the dispatcher with a deadline and owns the replies that miss it."""

    def __init__(self, handle: Handle, budget: float = 1.0) -> None:
        self.handle = handle
        self.budget = budget
        self._late: set[asyncio.Task[None]] = set()

    async def reply(self, msg: IncomingMessage, deliver_late: Deliver) -> Reply | None:
        """The reply if ready within the budget; None when it will come through `deliver_late`."""
        task = asyncio.ensure_future(self.handle(msg))
        done, _ = await asyncio.wait({task}, timeout=self.budget)
        if task in done:
            return task.result()
        late = asyncio.create_task(self._finish(task, deliver_late, msg.message_id))
        self._late.add(late)
        late.add_done_callback(self._late.discard)
        return None

    async def _finish(self, task: asyncio.Future[Reply], deliver: Deliver, message_id: str) -> None:
        try:
            await deliver(await task)
        except Exception:  # the user already got "处理中"; keep the server running
            log.exception("late reply to wecom message %s not delivered", message_id)

    async def drain(self) -> None:
        """Wait for replies still being worked on (at stop)."""
        if self._late:
            await asyncio.gather(*self._late, return_exceptions=True)
