"""Work that arrives together, handled together ("group commit").

SQLite has one writer at a time, and a write transaction's own cost (BEGIN, COMMIT, the
session and connection checkout) is a large part of a short write. Items queued while a
batch runs are taken together by the next: the dispatcher's messages, the outbox worker's
push results. `handle` gets a batch and returns one result per item; it decides what a
failure costs (both callers roll the batch back and run each item alone).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Batches(Generic[T, R]):
    def __init__(
        self,
        handle: Callable[[list[T]], Awaitable[list[R]]],
        max_batch: int,
        left_over: Callable[[T], R],
    ) -> None:
        """`left_over(item)` answers an item still waiting when the drainer is cancelled
        (the loop is closing), so no caller waits forever."""
        self._handle = handle
        self._max_batch = max_batch
        self._left_over = left_over
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._taken: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue `item`; the future gets its result. Cancelling the future does not stop
        the item being handled."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
            self._drainer.add_done_callback(self._drained)
        return done

    @property
    def drainer(self) -> asyncio.Task[None] | None:
        """The task handling the queue, while there is one (to wait for it, or in tests)."""
        return self._drainer

    async def _drain(self) -> None:
        try:
            while self._queue:
                # One loop turn first: items that arrive together join the batch.
                await asyncio.sleep(0)
                size = min(self._max_batch, len(self._queue))
                self._taken = [self._queue.popleft() for _ in range(size)]
                results = await self._handle([item for item, _ in self._taken])
                for (_, done), result in zip(self._taken, results, strict=True):
                    if not done.done():
                        done.set_result(result)
                self._taken = []
        finally:
            # At once, not in a done callback a loop turn later: an item queued in between
            # would find the drainer still set and wait for a task that has finished.
            self._drainer = None

    def _drained(self, task: asyncio.Task[None]) -> None:
        """Cancelled or failed, perhaps before it ran: answer everyone still waiting."""
        if self._drainer is task:
            self._drainer = None
        failed = not task.cancelled() and task.exception() is not None
        if failed:
            log.error("a batch failed outside its handler", exc_info=task.exception())
        if task.cancelled() or failed:
            for item, done in [*self._taken, *self._queue]:
                if not done.done():
                    done.set_result(self._left_over(item))
            self._taken = []
            self._queue.clear()
