"""Progress of a run: samples done/total, errors, retries, tokens, cost and ETA.

On a terminal it is a rich progress bar redrawn in place; anywhere else (CI logs, a file, a pipe) it is a plain
line every ``every`` samples or every ``interval_s`` seconds, whichever comes first, and a last line at the end:
a carriage-return bar in a CI log is one endless line, or thousands of them.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from contextlib import contextmanager
from typing import IO, Callable, Iterator

from .runner import RunStats

INTERVAL_S = 10.0
# with no sample finished for this long a line is written anyway: slow samples (the embedded model spends a
# minute on one) must not look like a hung job (CI systems stop jobs silent for ~10 minutes)
QUIET_S = 60.0


def _dur(seconds: float) -> str:
    """``75 -> '1m15s'``, ``3725 -> '1h02m'``, ``9 -> '9s'``."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def tokens(st: RunStats) -> int:
    """Every token counted so far: input, output, cache writes and cache reads."""
    return st.input_tokens + st.output_tokens + st.cache_read_tokens + st.cache_write_tokens


def eta_s(st: RunStats, elapsed_s: float) -> float | None:
    """Seconds left at the pace so far (elapsed ÷ samples done × samples left); None before the first sample
    finishes or when the total is unknown."""
    if not st.total or st.done <= 0:
        return None
    return elapsed_s / st.done * max(0, st.total - st.done)


def progress_line(st: RunStats, elapsed_s: float) -> str:
    """One line of progress, e.g. ``harness: 12/75 samples (16%) · 1 error · 3 retries · 45,210 tokens ·
    $0.0123 · 1m02s elapsed · ETA 5m25s``."""
    total = st.total or 0
    pct = f" ({st.done / total:.0%})" if total else ""
    parts = [f"harness: {st.done}/{total} samples{pct}"]
    if st.errors:
        parts.append(f"{st.errors} error{'s' if st.errors != 1 else ''}")
    if st.retries:
        parts.append(f"{st.retries} retr{'ies' if st.retries != 1 else 'y'}")
    if st.cache_hits:
        parts.append(f"{st.cache_hits} from cache")
    parts += [f"{tokens(st):,} tokens", st.cost_text(), f"{_dur(elapsed_s)} elapsed"]
    left = eta_s(st, elapsed_s)
    if st.total and st.done >= st.total:
        parts.append("done")
    elif left is not None:
        parts.append(f"ETA {_dur(left)}")
    return " · ".join(parts)


class LineProgress:
    """A progress callback for logs: writes :func:`progress_line` once the total is known, then when ``every``
    more samples are done or ``interval_s`` seconds passed since the last line and a sample finished, at least
    every :data:`QUIET_S` seconds (when called), and when the run ends. It writes only when called: the runner
    calls it on every finished sample and every retry.

    Args:
        write: called with each line (no trailing newline).
        every: samples between lines; default a tenth of the total (at least 1).
        interval_s: seconds between lines at most (while samples finish).
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(self, write: Callable[[str], None], *, every: int | None = None, interval_s: float = INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.write = write
        self.every = every
        self.interval_s = interval_s
        self.clock = clock
        self.start = clock()
        self._last_t = self.start
        self._last_done = 0
        self._final = False
        self._lock = threading.Lock()
        self.lines = 0

    def __call__(self, st: RunStats) -> None:
        now = self.clock()
        step = self.every or max(1, math.ceil((st.total or 0) / 10))
        finished = bool(st.total) and st.done >= st.total
        if finished and self._final:
            return
        with self._lock:
            if (finished or (self.lines == 0 and st.total) or st.done // step > self._last_done // step
                    or (st.done > self._last_done and now - self._last_t >= self.interval_s)
                    or now - self._last_t >= max(self.interval_s, QUIET_S)):
                self._emit(st, now)
                self._final = finished

    def _emit(self, st: RunStats, now: float) -> None:
        self.write(progress_line(st, now - self.start))
        self._last_t, self._last_done = now, st.done
        self.lines += 1

    def close(self, st: RunStats | None) -> None:
        """The last line, when the run stopped before its total (budget, fatal error) and it was not written."""
        with self._lock:
            if st is not None and not self._final and st.done != self._last_done:
                self._emit(st, self.clock())


@contextmanager
def run_progress(enabled: bool = True, *, stream: IO[str] | None = None, tty: bool | None = None,
                 every: int | None = None, interval_s: float = INTERVAL_S) -> Iterator[Callable[[RunStats], None]]:
    """Yield a callback that shows a run's progress from its :class:`~harness.runner.RunStats`.

    Args:
        enabled: False yields a no-op.
        stream: where to write (default stderr).
        tty: force the bar (True) or lines (False); default: the bar when ``stream`` is a terminal.
        every, interval_s: spacing of the lines (:class:`LineProgress`).
    """
    if not enabled:
        yield lambda stats: None
        return
    out = stream if stream is not None else sys.stderr
    is_tty = tty if tty is not None else bool(getattr(out, "isatty", lambda: False)())
    if not is_tty:
        last: list[RunStats] = []

        def write(line: str) -> None:
            print(line, file=out, flush=True)

        lines = LineProgress(write, every=every, interval_s=interval_s)
        stop = threading.Event()

        def update(st: RunStats) -> None:
            last[:] = [st]
            lines(st)

        def heartbeat() -> None:
            # between callbacks (a sample in flight for minutes) the line still comes every QUIET_S
            while not stop.wait(min(interval_s, QUIET_S)):
                if last:
                    lines(last[0])

        beat = threading.Thread(target=heartbeat, name="harness-progress", daemon=True)
        beat.start()
        try:
            yield update
        finally:
            stop.set()
            beat.join(timeout=5)
            lines.close(last[0] if last else None)
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    console = Console(file=out)
    progress = Progress(TextColumn("samples"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("errors {task.fields[errors]} · retries {task.fields[retries]} · "
                                   "tokens {task.fields[tokens]} · {task.fields[cost]}"),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                        transient=False)
    task = progress.add_task("run", total=None, errors=0, retries=0, tokens="0", cost="$0.0000")

    def update_bar(st: RunStats) -> None:
        progress.update(task, total=st.total or None, completed=st.done, errors=st.errors, retries=st.retries,
                        tokens=f"{tokens(st):,}", cost=st.cost_text())

    with progress:
        yield update_bar
