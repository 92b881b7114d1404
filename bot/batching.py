"""Work that arrives close together, handled together: lanes drain a queue in batches.

The dispatcher uses it for inbound messages (one transaction per batch). Each caller gets
a future for its own item.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        handle: Callable[[list[T]], Awaitable[list[R]]],
        *,
        lanes: int = 1,
        max_batch: int | None = None,
        gather_turns: int = 0,
    ) -> None:
        """`handle` gets a batch and returns one result per item, in order; if it raises,
        every item of the batch gets the exception. Before each batch the loop may take
        `gather_turns` more turns: callbacks that arrive together reach the queue over a
        few turns, and on SQLite nothing else yields while a batch runs."""
        self._handle = handle
        self._lanes = lanes
        self._max_batch = max_batch
        self._gather_turns = gather_turns
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._draining = 0  # lanes that will still look at the queue
        self._tasks: set[asyncio.Task[None]] = set()  # references, so none is collected

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue `item`; cancelling the future does not stop it being handled."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._draining < self._lanes:
            self._draining += 1
            task = asyncio.create_task(self._lane())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return done

    async def _lane(self) -> None:
        try:
            while self._queue:
                for _ in range(self._gather_turns):
                    if self._max_batch is not None and len(self._queue) >= self._max_batch:
                        break
                    await asyncio.sleep(0)
                size = len(self._queue)
                if self._max_batch is not None:
                    size = min(size, self._max_batch)
                batch = [self._queue.popleft() for _ in range(size)]
                try:
                    results = await self._handle([item for item, _ in batch])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (_, done), result in zip(batch, results, strict=True):
                    if not done.done():
                        done.set_result(result)
        finally:
            # At once, not in a done callback a loop turn later: an item queued in between
            # would see this lane as busy and wait for the next one to arrive.
            self._draining -= 1
