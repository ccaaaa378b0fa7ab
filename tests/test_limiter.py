"""AIMD concurrency limiter."""

import asyncio

import pytest

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


def test_timeouts_halve_the_limit_like_throttling_other_errors_do_not():
    async def go():
        lim = AdaptiveLimiter(8, cooldown_s=0.0)
        assert await lim.on_error("timeout") and lim.limit == 4
        assert await lim.on_error("rate_limit") and lim.limit == 2
        assert not await lim.on_error("server") and not await lim.on_error("context_length")
        return lim.limit

    assert asyncio.run(go()) == 2


def test_acquire_returns_the_time_waited_for_a_slot():
    async def go():
        lim = AdaptiveLimiter(1)
        first = await lim.acquire()

        async def free_later():
            await asyncio.sleep(0.2)
            await lim.release()

        t = asyncio.create_task(free_later())
        second = await lim.acquire()
        await t
        return first, second

    first, second = asyncio.run(go())
    assert first < 0.05 and 0.15 < second < 2.0


class _Probed:
    """A model whose server says what ``info`` holds."""

    def __init__(self, name, info):
        from harness.models.base import ModelSpec
        self.spec = ModelSpec.parse(name)
        self.info = info

    async def probe(self):
        return self.info


@pytest.mark.parametrize("url, slots, source, configured, want", [
    ("http://127.0.0.1:8080/v1", None, None, 8, 1),            # loopback, nothing told: one at a time
    ("http://localhost:11434/v1", None, None, 8, 1),           # Ollama on this machine
    ("http://192.168.1.20:8000/v1", None, None, 8, 2),          # another machine of the network
    ("http://gpu-box:8000/v1", None, None, 8, 2),
    ("http://127.0.0.1:8080/v1", 4, "/props total_slots", 8, 4),  # the server's own word
    ("http://127.0.0.1:8080/v1", 16, "/props total_slots", 8, 8),  # never above the configured concurrency
    ("http://127.0.0.1:8080/v1", 3, "configured", 8, 3),
    ("https://api.example.com/v1", None, None, 8, 8),          # remote: the configured concurrency
])
def test_initial_limit_for_openai_compatible_servers(url, slots, source, configured, want):
    from harness.limiter import initial_limit
    from harness.models.openai_model import ServerInfo, locality
    info = ServerInfo(locality=locality(url), slots=slots, slots_source=source)
    limit, facts = asyncio.run(initial_limit(_Probed(f"openai/m@{url}", info), configured))
    assert limit == want and facts["concurrency"] == want and facts["locality"] == locality(url)
    assert facts["why"]


def test_initial_limit_embedded_and_anthropic():
    from harness.limiter import initial_limit
    from harness.models.base import ModelSpec

    class Plain:
        def __init__(self, name):
            self.spec = ModelSpec.parse(name)

    assert asyncio.run(initial_limit(Plain("local/smollm2-135m"), 8))[0] == 1
    assert asyncio.run(initial_limit(Plain("anthropic/claude-sonnet-4-6"), 8))[0] == 8
