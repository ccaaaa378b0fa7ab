"""Run a coroutine to completion from synchronous code, wherever that code is called from.

``asyncio.run`` refuses to start inside a running event loop (a Jupyter notebook, an ``async`` test, a FastAPI
handler calling the harness's Python API). :func:`run_sync` then runs the coroutine on a thread of its own with
a fresh loop and waits for it, so ``execute()``, ``harness grade``'s regrading and the judge's ``grade()`` work
from both worlds. The calling thread blocks until the work is done, as any synchronous call does.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` to completion and return its result (exceptions propagate, KeyboardInterrupt
    included). ``make`` is a factory so that the coroutine is created on the loop that runs it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())  # type: ignore[arg-type]
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    t = threading.Thread(target=target, name="harness-loop", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
