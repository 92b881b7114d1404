"""Another connection holding SQLite's lock, as a second process would."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def holding_lock(path: str, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """Hold the database's lock (taken with `begin`) until the block ends."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        con = sqlite3.connect(path)
        con.execute(begin)
        locked.set()
        release.wait(10)
        con.rollback()
        con.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(5)
    try:
        yield
    finally:
        release.set()
        holder.join()
