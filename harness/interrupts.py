"""Ctrl-C and SIGTERM during a run: both stop it the same quick, clean way.

While :class:`InterruptGuard` is entered (on the main thread: Python delivers signals there only), SIGINT and
SIGTERM are handled by it instead of raising ``KeyboardInterrupt`` wherever the interpreter happens to be. While
the run's coroutine is going (:meth:`InterruptGuard.run`), the first signal cancels that coroutine's task from
the event loop: the runner then cancels every sample under way (a request cut this way gets no record, so a
resume asks for it again) before it closes the models' clients, and :meth:`run` returns normally with the
signal's name in :attr:`InterruptGuard.how`; the caller marks the run and raises :class:`RunInterrupted`.
Further signals while the run stops are ignored: stopping cancels tasks and waits for no request. Raising a
second ``KeyboardInterrupt`` inside asyncio's shutdown (what asyncio's own SIGINT handler does) left sample tasks
pending ("Task was destroyed but it is pending!") and, before the runner cancelled its samples, let requests
cut by the closed client be retried and recorded as connection errors for tens of seconds.

Outside :meth:`run` (before the event loop starts, after it ends) a signal raises :class:`RunInterrupted`
at once, as ``KeyboardInterrupt`` would: no request is under way then.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Any, Awaitable, Callable

__all__ = ["InterruptGuard", "RunInterrupted"]

_NAMES: dict[int, str] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class RunInterrupted(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C, or SIGTERM from CI or a container runtime): run.json says so, every
    sample recorded so far is kept. ``how`` names the signal ("Ctrl-C", "SIGTERM"); ``run_dir`` is what to pass
    to ``--resume``."""

    def __init__(self, how: str, run_dir=None):
        super().__init__(how)
        self.how = how
        self.run_dir = run_dir


class InterruptGuard:
    """Owns SIGINT and SIGTERM for the duration of a ``with`` block on the main thread (a no-op elsewhere; the
    previous handlers are restored on exit).

    Attributes:
        how: None, or the first signal's name once one arrived ("Ctrl-C" for SIGINT, "SIGTERM").
        signals: how many signals arrived (the ones after the first are ignored while the run stops).
    """

    def __init__(self) -> None:
        self.how: str | None = None
        self.signals = 0
        self._old: dict[int, Any] = {}
        self._target: tuple[asyncio.AbstractEventLoop, asyncio.Task] | None = None

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is threading.main_thread():
            for sig in _NAMES:
                self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _on_signal(self, signum: int, frame) -> None:
        self.signals += 1
        if self.how is not None:
            return                      # already stopping: a second Ctrl-C must not break the shutdown
        self.how = _NAMES.get(signum, f"signal {signum}")
        target = self._target
        if target is None:
            raise RunInterrupted(self.how)
        loop, task = target
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:            # the loop closed in between: nothing is under way any more
            raise RunInterrupted(self.how) from None

    async def run(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Await ``make()`` so that a signal cancels it: returns its result, or None once it has been cancelled by
        a signal (then :attr:`how` is set). A cancellation from anything else propagates."""
        task = asyncio.current_task()
        assert task is not None
        self._target = (asyncio.get_running_loop(), task)
        try:
            if self.how is not None:   # a signal came while the loop was starting
                return None
            return await make()
        except asyncio.CancelledError:
            if self.how is None:
                raise
            task.uncancel()
            return None
        finally:
            self._target = None
