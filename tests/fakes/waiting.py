"""Waiting in tests for something a loopback peer does, without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

WITHIN = 5.0  # seconds; loopback answers in milliseconds, so this only bounds a failure
STEP = 0.005


async def eventually(check: Callable[[], object], what: str = "condition") -> None:
    """Return as soon as `check()` is true; fail after WITHIN seconds."""
    for _ in range(int(WITHIN / STEP)):
        if check():
            return
        await asyncio.sleep(STEP)
    raise AssertionError(f"{what} not reached within {WITHIN} s")


async def eventually_async(check: Callable[[], Awaitable[object]], what: str = "condition") -> None:
    """`eventually` for a check that must await (a database read)."""
    for _ in range(int(WITHIN / STEP)):
        if await check():
            return
        await asyncio.sleep(STEP)
    raise AssertionError(f"{what} not reached within {WITHIN} s")
