"""Progress of a run (harness/progress.py): the line format, when lines are written in a log, the bar on a tty."""

from __future__ import annotations

import io

from harness.progress import LineProgress, eta_s, progress_line, run_progress
from harness.runner import RunStats


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_progress_line_reads_done_total_tokens_cost_and_eta():
    st = RunStats(total=75, done=15, errors=1, retries=3, input_tokens=40_000, output_tokens=5_210, cost_usd=0.0123)
    line = progress_line(st, elapsed_s=62)
    assert line == ("harness: 15/75 samples (20%) · 1 error · 3 retries · 45,210 tokens · $0.0123 · 1m02s elapsed · "
                    "ETA 4m08s")
    assert eta_s(st, 62) == 62 / 15 * 60
    assert eta_s(RunStats(total=5, done=0), 10) is None
    done = progress_line(RunStats(total=3, done=3), 3725)
    assert done.endswith("1h02m elapsed · done")


def test_line_progress_writes_every_n_samples_or_every_interval_and_once_at_the_end():
    clock, lines = Clock(), []
    lp = LineProgress(lines.append, every=5, interval_s=10, clock=clock)
    st = RunStats(total=20)
    for i in range(1, 12):           # fast samples: the first line, then a line at 5 and 10 only
        st.done = i
        clock.t += 0.1
        lp(st)
    assert [ln.split()[1] for ln in lines] == ["1/20", "5/20", "10/20"]
    clock.t += 10.5                  # slow sample: the interval writes a line before the next 5
    st.done = 12
    lp(st)
    assert lines[-1].split()[1] == "12/20"
    clock.t += 30                    # no sample finished for 30 s: nothing to say yet
    lp(st)
    assert len(lines) == 4
    clock.t += 31                    # ... but after a minute of silence, a line (a slow sample is not a hang)
    lp(st)
    assert len(lines) == 5 and lines[-1].split()[1] == "12/20"
    for i in range(13, 21):
        st.done = i
        lp(st)
    assert lines[-1].split()[1] == "20/20" and lines[-1].endswith("done")
    n = len(lines)
    lp(st)
    lp.close(st)
    assert len(lines) == n, "the final line once"


def test_line_progress_default_step_is_a_tenth_and_close_writes_a_stopped_run():
    lines = []
    lp = LineProgress(lines.append, clock=Clock())
    st = RunStats(total=100)
    lp(st)                           # the run starts: a first line, before any sample finishes
    for i in range(1, 36):
        st.done = i
        lp(st)
    assert [ln.split()[1] for ln in lines] == ["0/100", "10/100", "20/100", "30/100"]
    lp.close(st)                     # stopped at 35 (budget): the last count is written
    assert lines[-1].split()[1] == "35/100"


def test_run_progress_picks_lines_for_a_log_and_a_bar_for_a_terminal():
    log = io.StringIO()
    with run_progress(True, stream=log) as cb:
        st = RunStats(total=2)
        cb(st)
        st.done = 1
        cb(st)
        st.done = 2
        cb(st)
    text = log.getvalue()
    assert text.splitlines()[-1].startswith("harness: 2/2 samples (100%)") and "\r" not in text
    term = io.StringIO()
    with run_progress(True, stream=term, tty=True) as cb:
        cb(RunStats(total=4, done=2, input_tokens=1200))
    assert "samples" in term.getvalue() and "2/4" in term.getvalue() and "1,200" in term.getvalue()
    quiet = io.StringIO()
    with run_progress(False, stream=quiet) as cb:
        cb(RunStats(total=1, done=1))
    assert quiet.getvalue() == ""


def test_a_slow_sample_still_gets_a_line_every_quiet_period(monkeypatch):
    import time

    import harness.progress as progress
    monkeypatch.setattr(progress, "QUIET_S", 0.05)
    log = io.StringIO()
    with run_progress(True, stream=log, interval_s=0.05) as cb:
        cb(RunStats(total=1))        # the run starts; its one sample takes a while
        time.sleep(0.5)
    lines = [ln for ln in log.getvalue().splitlines() if ln.startswith("harness: 0/1 samples")]
    assert len(lines) >= 3, log.getvalue()
