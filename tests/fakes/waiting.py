"""Waiting in tests for something a loopback peer does, without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

WITHIN = 5.0  # seconds; loopback answers in milliseconds, so this only bounds a failure
STEP = 0.005


async def eventually(check: Callable[[], object], what: str = "condition") -> None:
    """Return as soon as `check()` is true; fail after WITHIN seconds."""
    for _ in range(int(WITHIN / STEP)):
        if check():
            return
        await asyncio.sleep(STEP)
    raise AssertionError(f"{what} not reached within {WITHIN} s")
