"""A rich progress bar for runs: samples done/total, errors, retries, tokens, cost, ETA."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .runner import RunStats


@contextmanager
def run_progress(enabled: bool = True) -> Iterator[Callable[[RunStats], None]]:
    """Yield a callback that updates the bar from RunStats. Writes to stderr; a no-op when disabled."""
    if not enabled:
        yield lambda stats: None
        return
    console = Console(file=sys.stderr)
    progress = Progress(TextColumn("samples"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("errors {task.fields[errors]} · retries {task.fields[retries]} · "
                                   "tokens {task.fields[tokens]} · {task.fields[cost]}"),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                        transient=False)
    task = progress.add_task("run", total=None, errors=0, retries=0, tokens=0, cost="$0.00")

    def update(st: RunStats) -> None:
        progress.update(task, total=st.total or None, completed=st.done, errors=st.errors, retries=st.retries,
                        tokens=st.input_tokens + st.output_tokens + st.cache_read_tokens + st.cache_write_tokens,
                        cost=st.cost_text())

    with progress:
        yield update
