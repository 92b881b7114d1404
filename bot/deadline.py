"""Waiting for a reply with a deadline, without cancelling it when the deadline passes."""

from __future__ import annotations

import asyncio
from typing import Any


async def finished_within(fut: asyncio.Future[Any], seconds: float) -> bool:
    """Whether `fut` is done within `seconds`; it keeps running either way.

    What `asyncio.wait({fut}, timeout=...)` does for one future, for a fraction of its cost
    (every callback waits like this).
    """
    if fut.done():
        return True
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(seconds, wake)
    fut.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        fut.remove_done_callback(wake)
    return fut.done()
