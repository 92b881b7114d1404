"""Reconnect delays: capped exponential back-off with jitter."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]


async def real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class Backoff:
    """1 s, 2 s, 4 s ... up to `cap`, each scaled by a random factor in [0.5, 1].

    The jitter keeps many replicas (or many bureaus after a platform outage) from
    reconnecting in lockstep.
    """

    def __init__(
        self,
        base: float = 1.0,
        cap: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 32)  # no overflow after a long outage
        return ceiling * (0.5 + self._rng.random() / 2)

    def reset(self) -> None:
        """After a healthy connection the next failure starts again from `base`."""
        self.attempt = 0
