"""AIMD concurrency limiter."""

import asyncio

from harness.limiter import AdaptiveLimiter


def test_halves_on_throttle_and_recovers():
    async def go():
        lim = AdaptiveLimiter(8, cooldown_s=0.0)
        await lim.on_throttle()
        assert lim.limit == 4
        await lim.on_throttle()
        await lim.on_throttle()
        await lim.on_throttle()
        assert lim.limit == 1 and lim.min_seen == 1
        for _ in range(100):
            await lim.on_success()
        assert lim.limit == 8

    asyncio.run(go())


def test_never_exceeds_limit():
    async def go():
        lim = AdaptiveLimiter(3)
        peak = 0

        async def work():
            nonlocal peak
            await lim.acquire()
            peak = max(peak, lim.in_flight)
            await asyncio.sleep(0.001)
            await lim.release()

        await asyncio.gather(*(work() for _ in range(50)))
        return peak

    assert asyncio.run(go()) == 3


def test_cooldown_limits_decreases():
    async def go():
        lim = AdaptiveLimiter(16, cooldown_s=60)
        for _ in range(5):
            await lim.on_throttle()
        return lim.limit

    assert asyncio.run(go()) == 8
