"""Adaptive concurrency: additive increase, multiplicative decrease (AIMD, as in TCP congestion control,
Jacobson 1988) on the number of requests in flight. A 429/529 halves the limit (at most once per cool-down),
each run of ``limit`` successes raises it by one, up to the configured maximum."""

from __future__ import annotations

import asyncio
import time


class AdaptiveLimiter:
    """An asyncio semaphore whose size adapts.

    Args:
        max_limit: the configured concurrency (upper bound), ≥ 1.
        cooldown_s: minimum seconds between two decreases, so one burst of 429s halves the limit once.
    """

    def __init__(self, max_limit: int, *, cooldown_s: float = 1.0):
        if max_limit < 1:
            raise ValueError("max_limit must be >= 1")
        self.max_limit = max_limit
        self.limit = max_limit
        self.in_flight = 0
        self.min_seen = max_limit
        self._successes = 0
        self._last_decrease = -1e9
        self._cooldown = cooldown_s
        self._cond = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def release(self) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    async def on_throttle(self) -> None:
        """A 429 or 529 came back: halve the limit (not below 1), once per cool-down."""
        async with self._cond:
            now = time.monotonic()
            if now - self._last_decrease >= self._cooldown:
                self.limit = max(1, self.limit // 2)
                self.min_seen = min(self.min_seen, self.limit)
                self._last_decrease = now
                self._successes = 0

    async def on_success(self) -> None:
        """A request succeeded: after ``limit`` successes in a row, allow one more in flight."""
        async with self._cond:
            self._successes += 1
            if self._successes >= self.limit and self.limit < self.max_limit:
                self.limit += 1
                self._successes = 0
                self._cond.notify_all()
