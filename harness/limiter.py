"""Adaptive concurrency: additive increase, multiplicative decrease (AIMD, as in TCP congestion control,
Jacobson 1988) on the number of requests in flight. A 429/529 or a timeout halves the limit (at most once per
cool-down), each run of ``limit`` successes raises it by one, up to the maximum: the configured concurrency, or
for a local OpenAI-compatible server its slot count (:func:`initial_limit`)."""

from __future__ import annotations

import asyncio
import time

# A timeout is congestion too: a server that queues requests (a local one computing one at a time) answers late
# instead of answering 429, so it halves the limit like a 429/529 does.
CONGESTION_KINDS = frozenset({"rate_limit", "overloaded", "timeout"})
# requests in flight to a local server whose slot count nobody knows: one on this machine (Ollama's
# OLLAMA_NUM_PARALLEL and llama-cpp-python's single lock are not visible), two on another machine of the network
DEFAULT_LOCAL_SLOTS = {"loopback": 1, "lan": 2}


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

    async def acquire(self) -> float:
        """Wait for room under the limit and take it; returns the seconds waited (the sample's queue time)."""
        t0 = time.perf_counter()
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
        return time.perf_counter() - t0

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

    async def on_error(self, kind: str) -> bool:
        """A request failed with ``kind`` (a ModelError kind): congestion (:data:`CONGESTION_KINDS`) halves the
        limit as :meth:`on_throttle` does. Returns whether it was congestion."""
        if kind in CONGESTION_KINDS:
            await self.on_throttle()
            return True
        return False

    async def on_success(self) -> None:
        """A request succeeded: after ``limit`` successes in a row, allow one more in flight."""
        async with self._cond:
            self._successes += 1
            if self._successes >= self.limit and self.limit < self.max_limit:
                self.limit += 1
                self._successes = 0
                self._cond.notify_all()


async def initial_limit(model, configured: int) -> tuple[int, dict]:
    """The concurrency to run ``model`` at, and what to record about it in the run's manifest.

    The embedded model: 1. An OpenAI-compatible server that is local (loopback or private network): its slot
    count (configured, or told by the server: llama.cpp's ``/props`` or ``/slots``), else
    :data:`DEFAULT_LOCAL_SLOTS`, never above ``configured``; more requests than slots would wait in the server's
    queue with their deadline running. Anything else: ``configured``.
    """
    spec = model.spec
    if spec.provider == "local":
        return 1, {"concurrency": 1, "why": "embedded model: one request at a time"}
    probe = getattr(model, "probe", None)
    if probe is None:
        return configured, {"concurrency": configured, "why": "configured concurrency"}
    info = await probe()
    facts = info.as_dict()
    if info.slots:
        limit, why = min(configured, info.slots), f"the server's {info.slots} slot(s) ({info.slots_source})"
    elif info.locality in DEFAULT_LOCAL_SLOTS:
        limit = min(configured, DEFAULT_LOCAL_SLOTS[info.locality])
        why = (f"default for a {info.locality} server that does not tell its slots "
               "(set [tool.harness] server_slots or --server-slots)")
    else:
        limit, why = configured, "configured concurrency"
    if limit == configured and limit < (info.slots or DEFAULT_LOCAL_SLOTS.get(info.locality, configured)):
        why += f", capped by the configured concurrency {configured}"
    return limit, {**facts, "concurrency": limit, "why": why}
