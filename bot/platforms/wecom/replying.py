"""Answering a callback in time: the reply if it is ready within the budget, else later.

WeCom waits 5 s at most and retries a slow callback; the bot answers within 1 s. Work that
takes longer keeps running here and its reply goes out another way (the 智能机器人's
response_url, or the app's message/send).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.deadline import finished_within
from bot.messages import IncomingMessage, Reply

log = logging.getLogger(__name__)

WORKING = "处理中…结果稍后发给您。"

Submit = Callable[[IncomingMessage], "asyncio.Future[Reply]"]
Deliver = Callable[[Reply], Awaitable[None]]


class Deliveries(Protocol):
    """Who sends a reply apart from the callback's answer: once per message id, across
    replicas (the dispatcher, which keeps the fact with the message's record)."""

    async def claim_delivery(self, msg: IncomingMessage) -> bool: ...

    async def release_delivery(self, msg: IncomingMessage) -> None: ...

    async def delivered(self, msg: IncomingMessage) -> bool: ...


class InTime:
    """Runs the dispatcher with a deadline and owns the replies that miss it."""

    def __init__(
        self, submit: Submit, budget: float = 1.0, deliveries: Deliveries | None = None
    ) -> None:
        self.submit = submit
        self.budget = budget
        # None: every late reply goes out (no database to keep the fact in).
        self.deliveries = deliveries
        self._late: set[asyncio.Task[None]] = set()

    async def reply(self, msg: IncomingMessage, deliver_late: Deliver) -> Reply | None:
        """The reply if ready within the budget; None when it will come through `deliver_late`."""
        pending = self.submit(msg)
        if await finished_within(pending, self.budget):
            return pending.result()
        late = asyncio.create_task(self._finish(pending, deliver_late, msg))
        self._late.add(late)
        late.add_done_callback(self._late.discard)
        return None

    async def delivered_before(self, msg: IncomingMessage, reply: Reply) -> bool:
        """Whether `reply`, ready in time, already reached the user as a late reply to an
        earlier delivery of `msg`: the callback's answer then says nothing more."""
        return (
            reply.repeated and self.deliveries is not None and await self.deliveries.delivered(msg)
        )

    async def _finish(
        self, pending: asyncio.Future[Reply], deliver: Deliver, msg: IncomingMessage
    ) -> None:
        claimed = False
        try:
            reply = await pending
            # WeCom retries a slow callback, on any replica: one late reply per message.
            if self.deliveries is not None:
                if not await self.deliveries.claim_delivery(msg):
                    log.info("late reply to wecom message %s sent already", msg.message_id)
                    return
                claimed = True
            await deliver(reply)
        except Exception:  # the user already got "处理中"; keep the server running
            log.exception("late reply to wecom message %s not delivered", msg.message_id)
            if claimed and self.deliveries is not None:
                await self.deliveries.release_delivery(msg)

    async def drain(self) -> None:
        """Wait for replies still being worked on (at stop)."""
        if self._late:
            await asyncio.gather(*self._late, return_exceptions=True)
