"""harness.aio.run_sync, and the Python API called from inside a running event loop (notebooks, async code)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from harness.aio import run_sync
from harness.runner import execute

from .test_runner import ScriptedModel, cfg, opts, suite  # noqa: F401 - the fixture


async def _here() -> str:
    await asyncio.sleep(0)
    return threading.current_thread().name


def test_run_sync_without_a_loop_runs_here_and_inside_a_loop_on_its_own_thread():
    assert run_sync(_here) == threading.current_thread().name

    async def caller():
        return run_sync(_here)
    assert asyncio.run(caller()) == "harness-loop"


def test_run_sync_propagates_errors_from_either_path():
    async def boom():
        raise ValueError("bad")
    with pytest.raises(ValueError, match="bad"):
        run_sync(boom)

    async def caller():
        run_sync(boom)
    with pytest.raises(ValueError, match="bad"):
        asyncio.run(caller())


def test_execute_from_async_code_completes_the_run(suite, tmp_path):  # noqa: F811
    async def notebook_cell():
        return execute(cfg(), opts(suite, tmp_path), model_factory=lambda n: ScriptedModel(n))
    res = asyncio.run(notebook_cell())
    assert res.complete and len(res.records) == 5
    from harness.records import RunDir
    assert RunDir.open(res.run_dir.path).manifest.status == "complete"


def test_aexecute_runs_without_blocking_the_callers_loop(suite, tmp_path):  # noqa: F811
    from harness.runner import aexecute
    from .test_runner import ScriptedModel as Slow

    class SlowModel(Slow):
        async def generate(self, *a, **k):
            await asyncio.sleep(0.2)
            return await super().generate(*a, **k)

    async def app():
        ticks = 0
        stop = asyncio.Event()

        async def heartbeat():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)
        hb = asyncio.create_task(heartbeat())
        res = await aexecute(cfg(), opts(suite, tmp_path), model_factory=lambda n: SlowModel(n))
        stop.set()
        await hb
        return res, ticks
    res, ticks = asyncio.run(app())
    assert res.complete and len(res.records) == 5
    assert ticks >= 5      # the caller's loop went on while the samples ran (a blocking call would give 1)
