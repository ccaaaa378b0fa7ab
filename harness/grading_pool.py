"""Grading off the event loop: the offline graders run in one worker process, where they cannot hold the GIL
that the runner's event loop needs to send requests and read answers.

Why a process and not a thread: the deterministic grader is Python and regular expressions (2–3 ms per
realistic review for its lexical stage, ~60 ms per case to compile its matchers; its semantic stage ~250 ms per
review in the embedding model). In a thread it shares the GIL with the event loop, which then waits up to the
interpreter's switch interval (5 ms) at each of its wake-ups: measured on ``bench/bench_runner.py`` (500
samples, concurrency 50, 2 cores), the last answer of a run arrived 2.2× later than in a bare SDK loop. In a
forked worker the matchers of every case of the run are compiled while the first requests are in flight, and
grading uses the other core.

The worker is forked (it inherits the graders, the cases and any test's monkeypatches, nothing is pickled but
the review text going in and the :class:`~harness.graders.base.SampleGrade` coming back). With the semantic
stage on, grading stays on one thread, as before: the embedding engine's threads do not survive a fork once this
process has embedded anything (the forked child hangs: measured), a spawned worker would run the user's
``__main__`` again, and the engine releases the GIL while it computes, which is most of that stage's time. Where
``fork`` is not available (Windows, macOS's default), a grader is not the plain deterministic grader, or a case
is unknown to the worker, grading runs on the thread too. A worker that dies (killed, out of memory) is
replaced by that thread for the rest of the run; the sample it was grading is graded again there.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor

__all__ = ["GradingPool"]

# the worker process's graders and cases (set once by _init in the worker; never used in the parent)
_WORKER: dict = {}


def _init(graders: list, cases: dict, parent: int) -> None:
    # Ctrl-C and SIGTERM reach the whole process group: the parent decides how the run ends and shuts the
    # worker down; the worker must not die first with a traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _WORKER["graders"] = graders
    _WORKER["cases"] = cases
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="harness-grade-watch").start()


def _exit_with_parent(parent: int) -> None:
    # A parent killed outright (SIGKILL, out of memory) cannot stop its worker, and the worker would live on
    # holding the parent's stdout and stderr open (whoever waits for their end would wait for ever): it ends
    # itself within 0.2 s of the parent.
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def _warm() -> None:
    # compile every case's matchers now, while the first requests are in flight (a grade of an empty review
    # compiles them and is memoised by nothing worth keeping)
    for g in _WORKER["graders"]:
        for case in _WORKER["cases"].values():
            try:
                g.grade(case, "")
            except Exception:  # noqa: BLE001 - a case that cannot compile says so when graded for real
                pass


def _grade(index: int, fingerprint: str, review: str):
    return _WORKER["graders"][index].grade(_WORKER["cases"][fingerprint], review)


def _start_method(graders: list) -> str | None:
    """``fork`` for the plain deterministic grader without an embedding model; None (the thread) otherwise: a
    grader of another kind has state of its own, and the embedding engine's threads do not survive a fork once
    this process has embedded anything (the child hangs; measured), while ``spawn`` would run the user's
    ``__main__`` again in the worker (a script without a main guard would start its run a second time)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    from .graders.rubric import DeterministicGrader
    if not graders or not all(type(g) is DeterministicGrader for g in graders):
        return None
    return None if any(getattr(g, "_embedder", None) is not None for g in graders) else "fork"


class GradingPool:
    """Runs synchronous graders' ``grade(case, review)`` off the event loop.

    Args:
        graders: the synchronous graders (no ``agrade``); their order is the index :meth:`grade` takes.
        cases: the run's cases (the worker process knows these; others are graded on the thread).
        processes: False forces the thread (tests, or a caller that needs in-process graders).

    :meth:`start` forks the worker (call it before the event loop has sent anything, so no other thread of
    ours is mid-way through something the child would inherit); :meth:`close` waits for it to finish.
    """

    def __init__(self, graders: list, cases: list, *, processes: bool = True):
        self.graders = list(graders)
        self._cases = {c.fingerprint: c for c in cases}
        self._method = _start_method(self.graders) if processes else None
        self._use_process = self._method is not None
        self._process: Executor | None = None
        self._thread: ThreadPoolExecutor | None = None
        self.mode = "process" if self._use_process else "thread"

    def start(self) -> None:
        """Fork the worker and have it compile every case's matchers (no-op in thread mode)."""
        if not self._use_process or self._process is not None:
            return
        # the child inherits unflushed output buffers, and multiprocessing flushes them when it exits
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            self._process = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context(self._method),
                                                initializer=_init, initargs=(self.graders, self._cases, os.getpid()))
            self._process.submit(_warm)
        except (OSError, RuntimeError):   # no process could be made (limits): the thread does the work
            self._fall_back()

    def _fall_back(self) -> None:
        self._use_process = False
        self.mode = "thread"
        if self._process is not None:
            self._process.shutdown(wait=False, cancel_futures=True)
            self._process = None

    def _thread_pool(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-grade")
        return self._thread

    async def grade(self, index: int, case, review: str):
        """``graders[index].grade(case, review)``, awaited without blocking the loop. Raises what the grader
        raises."""
        loop = asyncio.get_running_loop()
        if self._use_process and case.fingerprint in self._cases:
            self.start()
            if self._process is not None:
                try:
                    return await loop.run_in_executor(self._process, _grade, index, case.fingerprint, review)
                except BrokenProcessPool:
                    self._fall_back()
        return await loop.run_in_executor(self._thread_pool(), self.graders[index].grade, case, review)

    def call(self, fn, *args):
        """``fn(*args)`` in the worker process when there is one (``fn`` and ``args`` picklable: a module-level
        function, paths), else here; blocks until done. Raises what ``fn`` raises."""
        if self._process is not None:
            try:
                return self._process.submit(fn, *args).result()
            except BrokenProcessPool:
                self._fall_back()
        return fn(*args)

    def close(self, cancel: bool = False) -> None:
        """Stop the worker (and the thread) once the work given to it is done; ``cancel``: drop the work not
        started yet (an interrupted run does not wait for grades nobody will record)."""
        if self._process is not None:
            self._process.shutdown(wait=True, cancel_futures=cancel)
            self._process = None
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=cancel)
            self._thread = None
