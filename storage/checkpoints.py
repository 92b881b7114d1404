"""WAL checkpoints for SQLite, in a thread beside the event loop instead of inside a commit.

SQLite copies its write-ahead log back into the database file every 1,000 pages by default,
inside the COMMIT that crosses the mark: ~6 ms with its fsyncs, on the event loop, during
which no request moves (under P1 that was every ~50 commits). Here a background thread does
it every half second on a connection of its own (PASSIVE: it never blocks a writer or a
reader, and SQLite releases the GIL while it copies), and the writers' own automatic
checkpoint is raised to a backstop that only matters when this one is not running (the CLI)
or falls behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds
BACKSTOP_PAGES = 10_000  # ~40 MB of log before a writer checkpoints it itself


class Checkpointer:
    def __init__(self, path: str, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._conn: sqlite3.Connection | None = None
        # A cancelled pass goes on in its thread; closing waits for it.
        self._using = threading.Lock()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sqlite-checkpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self._close)

    async def checkpoint(self) -> tuple[int, int]:
        """One pass: (frames in the log, frames now copied into the database file)."""
        return await asyncio.to_thread(self._checkpoint)

    def _checkpoint(self) -> tuple[int, int]:
        with self._using:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, check_same_thread=False)
            row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        _, frames, copied = row
        return frames, copied

    def _close(self) -> None:
        with self._using:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.checkpoint()
            except sqlite3.Error as exc:  # a locked or full database: the next pass retries
                log.warning("wal checkpoint failed: %s", exc)
