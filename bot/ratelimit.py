"""A strict sliding-window rate limit per key, on the injectable clock.

Platforms count messages per robot per minute ("no more than 20 in a minute"). A leaky
bucket (aiolimiter's model) lets a full burst and then a steady trickle through, which can
reach almost twice the limit inside one 60-second window, so the platform would answer
45009. This keeps the send times of the last `limit` messages per key instead.
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta

from bot.clock import Clock


class SlidingWindow:
    """At most `limit` acquisitions per key in any `period`."""

    def __init__(self, limit: int, period: timedelta, clock: Clock) -> None:
        self.limit = limit
        self.period = period
        self.clock = clock
        self._sent: dict[str, deque] = {}

    def try_acquire(self, key: str) -> float:
        """Take one slot now and return 0, or return the seconds until one frees up."""
        now = self.clock.now()
        times = self._sent.setdefault(key, deque())
        while times and now - times[0] >= self.period:
            times.popleft()
        if len(times) < self.limit:
            times.append(now)
            return 0.0
        return max((times[0] + self.period - now).total_seconds(), 0.001)
